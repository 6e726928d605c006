"""The explorer page in a real browser: headless Chromium driven by Selenium (Debian's chromium and chromium-driver).

One browser for the module. Each page is checked to load with no console error and no request beyond its own
file; then the controls, the panels and the exercise are used as a student would, and what the page shows is
read back from the DOM and compared with the engine's numbers. Skipped, saying why, without a browser.
"""
import json
import re
import shutil
import tempfile

import numpy as np
import pytest

import autograd as ag
from autograd import viz
from autograd._graph_walk import Graph

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,900")
pytestmark = pytest.mark.skipif(CHROMIUM is None or DRIVER is None,
                                reason="no headless browser: apt-get install chromium chromium-driver (.ci/run does)")


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.TemporaryDirectory()
    options.add_argument(f"--user-data-dir={profile.name}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()
    profile.cleanup()


def open_page(driver, page, tmp_path, name="page.html"):
    """Load an Explorer's saved page; assert no console error and no request to the network (the browser's own
    chrome:// pages aside)."""
    path = tmp_path / name
    page.save(path)
    driver.get_log("browser"), driver.get_log("performance")  # forget the previous page's entries
    driver.get(path.as_uri())
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors
    requests = [json.loads(entry["message"])["message"] for entry in driver.get_log("performance")]
    urls = [m["params"]["request"]["url"] for m in requests if m["method"] == "Network.requestWillBeSent"]
    assert path.as_uri() in urls
    assert [url for url in urls if not url.startswith(("file:", "data:", "chrome:", "about:"))] == []  # the network
    return path


def click(driver, css):
    driver.find_element(By.CSS_SELECTOR, css).click()


def state(driver):
    return driver.execute_script("return Object.assign({}, document.body.dataset)")


def highlighted(driver):
    return [el.get_attribute("data-unit") for el in driver.find_elements(By.CSS_SELECTOR, "#graph g.node.current")]


def shown_number(text):
    """The last number of a slot's text: ` | grad 1 − 0.5 = 0.5` → 0.5 (the page writes − for minus)."""
    return float(re.findall(r"[−-]?\d+(?:\.\d+)?(?:e[−-]?\d+)?", text)[-1].replace("−", "-"))


@pytest.fixture
def tanh_net():
    x = ag.tensor([[1.0, -2.0, 0.5], [0.0, 1.5, -1.0]], requires_grad=True, name="x")
    w = ag.tensor([[0.5, -1.0], [2.0, 0.25], [-0.5, 1.0]], requires_grad=True, name="W")
    b = ag.tensor([0.1, -0.2], requires_grad=True, name="b")
    c = ag.tensor(0.3, requires_grad=True, name="c")
    h = (x @ w + b).tanh()
    loss = (h * h).mean() + (w * w).sum() * c  # W is used twice: its gradient is a sum
    return loss, {"x": x, "W": w, "b": b, "c": c}


def test_next_runs_forward_then_backward_in_the_engines_order(browser, tmp_path):
    problem = viz.problems.scalar_network(seed=2, exercise=None)
    page = problem.page
    open_page(browser, page, tmp_path)
    engine = [f"n{i + 1}" for i in range(len(Graph(problem.loss).nodes))]  # viz numbers boxes by backward step
    assert page.backward_units == engine
    assert state(browser)["step"] == "0" and highlighted(browser) == []
    forward = []
    for _ in engine:
        click(browser, "#next")
        forward.append(state(browser)["current"])
    assert forward == engine[::-1] and state(browser)["phase"] == "forward"
    backward = []
    for _ in engine:
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
        assert state(browser)["phase"] == "backward"
        backward += highlighted(browser)
    assert backward == engine
    click(browser, "#prev")
    assert highlighted(browser) == [engine[-2]]


def test_after_the_last_step_every_gradient_shown_is_the_tensors_grad(browser, tmp_path, tanh_net):
    loss, leaves = tanh_net
    page = viz.explore(loss)
    open_page(browser, page, tmp_path)
    click(browser, "#to-backward")
    assert not browser.find_elements(By.CSS_SELECTOR, 'text[data-kind="grad"]:not(:empty)')  # none computed yet
    click(browser, "#end")
    loss.backward()
    for name, leaf in leaves.items():
        cells = browser.find_elements(By.CSS_SELECTOR, f'text[data-kind="grad"][data-name="{name}"]')
        assert len(cells) == leaf.size
        for cell in cells:
            index = tuple(int(i) for i in cell.get_attribute("data-index").split(",")) if leaf.ndim else ()
            expected = float(leaf.grad.numpy()[index])
            assert shown_number(cell.text) == pytest.approx(expected, rel=1e-3, abs=1e-4), (name, index, cell.text)
            assert float(cell.get_attribute("data-value")) == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_edges_show_what_each_step_sends_and_fan_in_shows_the_running_sum(browser, tmp_path):
    x = ag.tensor(2.0, requires_grad=True, name="x")
    w = ag.tensor(-3.0, requires_grad=True, name="w")
    loss = (x * w).tanh() + x
    open_page(browser, viz.explore(loss), tmp_path)
    click(browser, "#to-backward")
    click(browser, "#next")  # #1 AddBackward sends 1 to v2 and to x
    current = browser.find_elements(By.CSS_SELECTOR, "g.edge.current text")
    assert sorted(t.text for t in current) == ["1 · 1 → 1", "1 · 1 → 1, Σ 1"]
    grad_x = browser.find_element(By.CSS_SELECTOR, 'text[data-kind="grad"][data-name="x"]')
    assert grad_x.text == " | grad 1 + …" and "partial" in grad_x.get_attribute("class")
    click(browser, "#end")
    assert grad_x.text == " | grad 1 − 7.367e−05 = 0.9999"


def test_clicking_a_box_shows_its_formulas_values_and_check(browser, tmp_path, tanh_net):
    loss, _ = tanh_net
    open_page(browser, viz.explore(loss), tmp_path)
    click(browser, 'g.node[data-unit="n1"]')
    panel = browser.find_element(By.ID, "panel")
    assert "AddBackward" in panel.text and "VJP (backward)" in panel.text and "relative error" in panel.text
    assert panel.find_elements(By.TAG_NAME, "math")  # the formulas, as MathML
    click(browser, 'g.node[data-unit="l1"]')
    assert "derivation (explain)" in panel.text and "paths" in panel.text


def test_layer_boxes_show_their_rule_and_expand_into_primitives(browser, tmp_path):
    import nn
    import nn.functional as F

    ag.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3))
    loss = F.cross_entropy(model(ag.randn(2, 1, 4, 4)), np.array([0, 2]))
    page = viz.explore(loss, params=model, level="layer")
    open_page(browser, page, tmp_path)
    conv = browser.find_element(By.XPATH, "//*[name()='g' and contains(@class, 'node') and .//*[text()='conv2d']]")
    conv.click()
    panel = browser.find_element(By.ID, "panel")
    assert "layer rule of conv2d" in panel.text and "agrees with the engine" in panel.text
    primitives = panel.find_elements(By.CSS_SELECTOR, ".mini g.node[data-unit]")
    assert len(primitives) >= 4
    title = primitives[-1].text.splitlines()[0]  # "#21 SharedMatmulBackward"
    primitives[-1].click()
    assert panel.text.startswith(title) and "back to the layer" in panel.text
    click(browser, "#panel a[data-open]")
    assert "layer rule of conv2d" in panel.text


def test_exercise_accepts_a_right_answer_and_refuses_a_wrong_one(browser, tmp_path):
    problem = viz.problems.softmax_ce(seed=4)
    page = problem.page
    open_page(browser, page, tmp_path)
    problem.loss.backward()
    question = page.questions[0]
    key, index = question.where
    truth = float(problem.tensors["z"].grad.numpy()[index])
    assert question.answer == pytest.approx(truth)
    cell = browser.find_element(By.CSS_SELECTOR, f'text[data-kind="grad"][data-index="{",".join(map(str, index))}"]')
    click(browser, "#end")
    assert cell.text == "?"
    click(browser, f'g.node[data-unit="{question.unit}"]')
    box = browser.find_element(By.CSS_SELECTOR, f'.question[data-q="{question.id}"]')
    answer, verdict = box.find_element(By.TAG_NAME, "input"), box.find_element(By.CLASS_NAME, "verdict")
    for attempt in (1, 2):
        answer.clear()
        answer.send_keys(f"{truth + 0.5}\n")
        assert verdict.text.startswith("✗")
        assert box.find_element(By.CLASS_NAME, "hint").text.startswith("hint")
    assert "derivation" in box.find_element(By.CLASS_NAME, "derivation").text
    answer.clear()
    answer.send_keys(f"{truth:.4f}".replace("-", "−"))
    box.find_element(By.CSS_SELECTOR, "button.check").click()
    assert verdict.text.startswith("✓ right")
    assert browser.find_element(By.ID, "score").text == f"Score: 1 of {len(page.questions)} correct"
    assert shown_number(cell.text) == pytest.approx(truth, rel=1e-3)


def test_the_default_cnn_page_opens_offline_and_steps_to_the_end(browser, tmp_path):
    from nn.cli import main

    out = tmp_path / "backprop.html"
    assert main(["explore", "--out", str(out), "--batch-size", "2"]) == 0
    browser.get_log("browser"), browser.get_log("performance")
    browser.get(out.as_uri())
    assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []
    click(browser, "#end")
    assert state(browser)["phase"] == "backward" and highlighted(browser) == [state(browser)["current"]]
    weight = browser.find_element(By.XPATH, "//*[name()='g' and contains(@class, 'node') and "
                                            ".//*[text()='features.0.weight']]")
    weight.click()
    panel = browser.find_element(By.ID, "panel").text
    assert "gradient ∂L/∂features.0.weight" in panel and "derivation (explain)" in panel
