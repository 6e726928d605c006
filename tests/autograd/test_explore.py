"""viz.explore and viz.problems without a browser: what the page holds (tests/test_explore_browser.py uses it)."""
import base64
import hashlib
import json
import re

import numpy as np
import pytest

import autograd as ag
from autograd import viz
from autograd._graph_walk import Graph


def page_data(page):
    """The JSON the page's script reads."""
    text = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', page.html, re.S).group(1)
    return json.loads(text.replace("<\\/", "</"))


def unseal(text, seed):
    key = hashlib.sha256(f"chainrule explore {seed}".encode()).digest()
    return bytes(b ^ key[i % len(key)] for i, b in enumerate(base64.b64decode(text))).decode()


def neuron():
    x = ag.tensor(2.0, requires_grad=True, name="x")
    w = ag.tensor(-3.0, requires_grad=True, name="w")
    return (x * w).tanh() + x, x, w


def test_the_page_is_one_file_that_needs_no_network():
    loss, _, _ = neuron()
    html = viz.explore(loss).html
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") == 1
    assert "default-src 'none'" in html  # the page's Content-Security-Policy: nothing but itself and data: images
    links = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)', html)
    assert all(link.startswith(("data:", "#")) for link in links), links
    assert not re.search(r"<link|@import|<iframe|fetch\(|XMLHttpRequest", html)


def test_steps_run_forward_then_backward_in_the_engines_order():
    loss, _, _ = neuron()
    page = viz.explore(loss)
    steps = page_data(page)["steps"]
    engine = [f"n{i + 1}" for i in range(len(Graph(loss).nodes))]
    assert page.backward_units == engine
    assert [unit for phase, unit, _ in steps if phase == "forward"] == engine[::-1]
    assert [unit for phase, unit, _ in steps if phase == "backward"] == engine
    assert steps[0][:2] == ["start", None]


def test_slots_hold_the_captured_numbers_and_leave_grad_alone():
    loss, x, w = neuron()
    page = viz.explore(loss)
    assert x.grad is None and w.grad is None  # exploring runs an observed backward that touches no .grad
    slots = page_data(page)["slots"]
    assert len(slots) == len(re.findall(r'data-slot="', page.html))
    grads = {slot["name"]: float(slot["value"]) for slot in slots if slot.get("kind") == "grad"}
    loss.backward()
    assert grads["x"] == pytest.approx(float(x.grad.numpy())) and grads["w"] == pytest.approx(float(w.grad.numpy()))
    (x_slot,) = [slot for slot in slots if slot.get("kind") == "grad" and slot["name"] == "x"]
    assert [text for _, text, _ in x_slot["states"]] == [" | grad 1 + …", " | grad 1 − 7.367e−05 = 0.9999"]


def test_a_freed_graph_or_a_tensor_loss_is_refused_with_a_reason():
    loss, _, _ = neuron()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        viz.explore(loss)
    with pytest.raises(ValueError, match="one element"):
        viz.explore(ag.tensor([1.0, 2.0], requires_grad=True) * 2)
    loss, _, _ = neuron()
    with pytest.raises(ValueError, match="level"):
        viz.explore(loss, level="module")
    with pytest.raises(ValueError, match="exercise"):
        viz.explore(loss, exercise="shapes")


def test_exercise_answers_are_the_engines_numbers_and_sealed():
    problem = viz.problems.scalar_network(seed=5)
    page = problem.page
    data = page_data(page)
    problem.loss.backward()
    leaves = {name: t for name, t in problem.tensors.items() if t.requires_grad and t.grad_fn is None}
    asked = {q.prompt.text: q for q in page.questions}
    assert len(asked) == len(page.questions) > len(leaves)  # every gradient: leaves and intermediates
    for name, leaf in leaves.items():
        question = asked[f"∂L/∂{name}"]
        assert question.answer == float(leaf.grad.numpy()) == round(question.answer)  # integers
        assert float(unseal(data["questions"][question.id]["answer"], 5)) == question.answer
    masked = [slot for slot in data["slots"] if "q" in slot]
    assert masked and all(slot["mask"].endswith("?") for slot in masked)
    assert all(unseal(state[1], 5) for slot in masked for state in slot["states"])


@pytest.mark.parametrize("exercise", ["grads", "locals", "values"])
def test_each_exercise_kind_asks_questions_with_hints_and_derivations(exercise):
    loss, _, _ = neuron()
    page = viz.explore(loss, exercise=exercise, questions=2, seed=1)
    assert len(page.questions) == 2
    data = page_data(page)
    for question in data["questions"]:
        assert unseal(data["blobs"][question["hint"]], 1) and unseal(data["blobs"][question["derivation"]], 1)
        assert f"data-q='{question['id']}'" in data["panels"][question["unit"]]  # its answer box


def test_problems_have_short_answers():
    for make in (viz.problems.scalar_network, viz.problems.conv2d_by_hand, viz.problems.maxpool_routing,
                 viz.problems.softmax_ce, viz.problems.mean_subtraction):
        for seed in (0, 1):
            questions = make(seed=seed).page.questions
            assert questions, make.__name__
            for q in questions:
                assert q.answer * 16 == pytest.approx(round(q.answer * 16), abs=1e-6), (make.__name__, q.answer)


def test_conv2d_by_hand_is_the_lectures_example():
    problem = viz.problems.conv2d_by_hand(seed=0, stride=2, padding=1)
    assert problem.tensors["x"].shape == (1, 3, 5, 5) and problem.tensors["w"].shape == (2, 3, 3, 3)
    assert problem.tensors["out"].shape == (1, 2, 3, 3)
    assert all(q.kind == "values" for q in problem.page.questions)
    w_questions = viz.problems.conv2d_by_hand(seed=0, exercise="grads").page.questions
    assert {q.prompt.text.split("[")[0] for q in w_questions} <= {"∂L/∂w", "∂L/∂b"}


def test_maxpool_routing_sends_each_windows_gradient_to_its_largest_entry():
    problem = viz.problems.maxpool_routing(seed=3)
    problem.loss.backward()
    x, g = problem.tensors["x"].numpy()[0, 0], problem.tensors["G"].numpy()[0, 0]
    grad = problem.tensors["x"].grad.numpy()[0, 0]
    for i in range(2):
        for j in range(2):
            window = x[2 * i:2 * i + 2, 2 * j:2 * j + 2]
            routed = np.zeros((2, 2))
            routed[np.unravel_index(np.argmax(window), (2, 2))] = g[i, j]
            assert np.array_equal(grad[2 * i:2 * i + 2, 2 * j:2 * j + 2], routed)
    assert len(problem.page.questions) == 16


def test_chainrule_explore_writes_a_small_page_of_the_first_step(tmp_path, capsys):
    from nn.cli import main

    out = tmp_path / "backprop.html"
    assert main(["explore", "--out", str(out)]) == 0
    size = out.stat().st_size
    assert size <= 1_000_000, f"the layer-level page of DigitsCNN is {size / 1e6:.2f} MB"
    html = out.read_text(encoding="utf-8")
    assert "conv2d" in html and "cross_entropy" in html and "layer rule of linear" in html
    assert "wrote" in capsys.readouterr().out


def test_the_expanded_cnn_page_stays_under_3_mb():
    import nn
    import nn.functional as F
    from nn.data import load_digits

    x, y = load_digits("train")
    ag.manual_seed(0)
    model = nn.models.DigitsCNN()
    loss = F.cross_entropy(model(ag.tensor(x[:8])), y[:8])
    assert len(viz.explore(loss, params=model).html.encode()) <= 3_000_000
