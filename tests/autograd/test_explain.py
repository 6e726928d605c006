"""autograd.explain and autograd.trace_backward: the chain rule of a live graph, in text and LaTeX."""
import re

import numpy as np
import pytest

import autograd as ag
from autograd import PRIMITIVES
from autograd._graph_walk import number
from autograd._formula_text import Piece, fill
from autograd.explain import _local

from helpers import f64, neuron


def well_formed(tex):
    """Balanced braces (escaped ones aside), ASCII only, \\begin/\\end paired."""
    assert all(ord(ch) < 128 for ch in tex), [ch for ch in tex if ord(ch) >= 128]
    depth = 0
    for token in re.findall(r"\\.|[{}]", tex):
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
            assert depth >= 0, tex
    assert depth == 0
    assert tex.count(r"\begin{") == tex.count(r"\end{")
    return True


# -- scalars -------------------------------------------------------------------------------------
def test_path_sum_f_equals_x_times_y_plus_x():
    x, y = f64(2.0, name="x"), f64(-3.0, name="y")
    f = x * y + x
    d = ag.explain(f, x)
    assert d.gradient == pytest.approx(ag.grad(f, x, retain_graph=True)[0].item()) == pytest.approx(-2.0)
    assert d.numeric == pytest.approx(-2.0, abs=1e-7)
    assert sorted(product for _, product in d.paths) == [-3.0, 1.0]
    assert sorted(route for route, _ in d.paths) == [["x", "f"], ["x", "v1", "f"]]
    text = str(d)
    assert "v1 = x·y = 2.000·(−3.000) = −6.000" in text
    assert "∂v1/∂x = y = −3.000" in text and "mul: ∂(a·b)/∂a = b" in text
    assert "∂f/∂x = 1.000 + (−3.000) = −2.000" in text or "∂f/∂x = (−3.000) + 1.000 = −2.000" in text
    assert x.grad is None and y.grad is None


def test_micrograd_neuron_matches_autograd_and_finite_differences():
    o, leaves = neuron()
    o.name = "o"
    for leaf in (leaves["x1"], leaves["w1"], leaves["b"]):
        d = ag.explain(o, leaf)
        expected = ag.grad(o, leaf, retain_graph=True)[0].item()
        assert d.gradient == pytest.approx(expected) and d.numeric == pytest.approx(expected, abs=1e-7)
        assert sum(product for _, product in d.paths) == pytest.approx(expected)
    assert "∂o/∂v4 = 1 − o² = 0.500" in str(ag.explain(o, leaves["w1"]))


def test_a_variable_used_twice_in_one_op_gets_two_edges():
    x = f64(3.0, name="x")
    d = ag.explain(x * x, x)
    assert d.gradient == pytest.approx(6.0) and len(d.paths) == 2
    assert "(as a)" in str(d) and "(as b)" in str(d)


def test_explain_after_backward_needs_the_retained_graph_and_never_recomputes():
    x, y = f64(2.0, name="x"), f64(-3.0, name="y")
    f = x * y + x
    f.backward(retain_graph=True)
    d = ag.explain(f, x)
    assert d.gradient == pytest.approx(x.grad.item()) == -2.0
    f.backward()  # frees it
    d = ag.explain(f, x)
    assert d.gradient is None and "freed by backward()" in str(d)


def test_an_unused_tensor_has_no_derivation():
    x, z = f64(2.0, name="x"), f64(1.0, name="z")
    d = ag.explain((x * x).sum(), z)
    assert d.gradient is None and "does not depend" in str(d)


def test_the_derivative_of_a_leaf_with_respect_to_itself_is_one():
    x = f64(2.0, name="x")
    d = ag.explain(x, x)
    assert d.gradient == 1.0 and d.numeric == pytest.approx(1.0)
    assert "x is x itself" in str(d) and well_formed(d.latex)


def test_explain_needs_a_single_element_output():
    with pytest.raises(ValueError, match="one element"):
        ag.explain(f64([1.0, 2.0]) * 2, f64(1.0))


# -- tensors ---------------------------------------------------------------------------------------
def affine():
    ag.manual_seed(0)
    W = ag.randn(3, 2, requires_grad=True, dtype=np.float64)
    b = ag.randn(2, requires_grad=True, dtype=np.float64)
    X = ag.randn(4, 3, dtype=np.float64)
    W.name, b.name, X.name = "W", "b", "X"
    return ((X @ W + b).tanh() ** 2).sum(), W, b


def test_tensor_derivation_writes_vjps_with_shapes():
    loss, W, b = affine()
    d = ag.explain(loss, W)
    assert np.allclose(d.gradient, ag.grad(loss, W, retain_graph=True)[0].data)
    assert np.max(np.abs(d.numeric - d.gradient)) < 1e-6
    text = str(d)
    assert "∂f/∂W = Xᵀ·∂f/∂v1 : (4×3)ᵀ·(4×2) → (3×2)   [matmul]" in text
    assert "∂f/∂v2 = ∂f/∂v3·(1 − v3²) : (4×2)·(1 − (4×2)²) → (4×2)" in text
    assert "max |autograd − numeric|" in text


def test_broadcast_steps_say_the_gradient_is_summed():
    loss, W, b = affine()
    d = ag.explain(loss, b)
    assert np.max(np.abs(d.numeric - d.gradient)) < 1e-6
    assert "∂f/∂b = ∂f/∂v2 : (4×2) → (2,), summed over axes (0,)" in str(d)


def test_large_tensors_use_a_directional_difference():
    ag.manual_seed(1)
    W = ag.randn(10, 10, requires_grad=True, dtype=np.float64)
    loss = (W.tanh() * W).sum()
    d = ag.explain(loss, W)
    direction = np.random.default_rng(0).standard_normal((10, 10))
    assert d.numeric == pytest.approx(float(np.sum(d.gradient * direction)), rel=1e-6)
    assert "along a random direction" in str(d)


def test_explain_with_respect_to_an_intermediate_tensor():
    x = f64([0.5, -1.0, 2.0], name="x")
    h = x.exp()
    loss = (h * h).sum() + h.sum()
    d = ag.explain(loss, h)
    assert np.allclose(d.gradient, ag.grad(loss, h, retain_graph=True)[0].data)
    assert np.allclose(d.numeric, d.gradient, atol=1e-6)
    assert "+=" in str(d)


# -- trace_backward ------------------------------------------------------------------------------
def test_trace_has_one_block_per_backward_step_with_the_slide_formula():
    x1, w1, b = f64(2.0, name="x1"), f64(-3.0, name="w1"), f64(5.5, name="b")
    o = (x1 * w1 + b).tanh()
    trace = ag.trace_backward(o)
    heads = [piece.text for kind, piece in trace.lines if kind == "head"][1:]
    assert [h.split()[1] for h in heads] == ["TanhBackward", "AddBackward", "MulBackward"]
    text = str(trace)
    assert "→ x1: " in text and "· [w1 = −3.000] = " in text
    grad_w1 = ag.grad(o, w1, retain_graph=True)[0].item()
    assert f"· [x1 = 2.000] = {number(grad_w1)}" in text


def test_trace_shows_shapes_norms_and_accumulation_for_tensors():
    x = ag.randn(4, 3, requires_grad=True)
    h = x.relu()
    loss = (h * 2 + h).sum()
    text = str(ag.trace_backward(loss))
    assert "‖·‖" in text and "(4×3)" in text and "sum of 2 contributions" in text


def test_trace_and_explain_flag_unstable_compositions():
    x = ag.randn(5, requires_grad=True)
    loss = x.sigmoid().log().sum()
    assert "binary_cross_entropy_with_logits" in str(ag.trace_backward(loss))
    assert "binary_cross_entropy_with_logits" in str(ag.explain(loss, x))


# -- LaTeX and Markdown ----------------------------------------------------------------------------
def test_latex_and_markdown_are_well_formed():
    loss, W, b = affine()
    x, y = f64(2.0, name="x_1"), f64(-3.0, name="σ")
    w = ag.randn(2, 2, requires_grad=True)
    reports = [ag.explain(loss, W), ag.explain(loss, b), ag.explain(x * y + x, x), ag.trace_backward(loss),
               ag.explain((w @ w).sum(), w, {"conv1.weight_{1}": w}), ag.trace_backward((x * y).exp())]
    for report in reports:
        latex = report._repr_latex_()
        assert latex.startswith("$$\\begin{array}{l}") and latex.endswith("\\end{array}$$")
        assert well_formed(latex)
        markdown = report._repr_markdown_()
        assert markdown.count("$") % 2 == 0 and "**" in markdown
        for line in markdown.splitlines():
            if line.startswith("- $"):
                assert well_formed(line[3:-1])


def test_every_formula_of_the_table_substitutes_into_well_formed_latex():
    names = {s: Piece(f"v{i}", f"v_{{{i}}}") for i, s in enumerate("abcxyABv")}
    names["ḡ"] = Piece("∂L/∂y", r"\frac{\partial L}{\partial y}")
    for cls in PRIMITIVES.values():
        node = cls.__new__(cls)
        node._next = (None,) * len(cls.formula.inputs)
        for i in range(len(cls.formula.vjps)):
            for piece in (fill(node, "forward", names), fill(node, "vjp", names, index=i), _local(node, i, names)):
                assert well_formed(piece.tex), (cls.name, piece.tex)
