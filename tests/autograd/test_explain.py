"""autograd.explain and autograd.trace_backward: the chain rule of a live graph, in text and LaTeX."""
import re

import numpy as np
import pytest

import autograd as ag
from autograd import PRIMITIVES
from autograd._formula_text import Piece, fill
from autograd._graph_walk import number
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
    assert sorted(route for route, _ in d.paths) == [["x", "L"], ["x", "v1", "L"]]
    text = str(d)
    assert "v1 = x·y = 2·(−3) = −6" in text
    assert "∂v1/∂x = y = −3" in text and "mul: ∂(a·b)/∂a = b" in text
    assert "∂L/∂x = 1 + (−3) = −2" in text or "∂L/∂x = (−3) + 1 = −2" in text
    assert x.grad is None and y.grad is None


def test_micrograd_neuron_matches_autograd_and_finite_differences():
    o, leaves = neuron()
    o.name = "o"
    for leaf in (leaves["x1"], leaves["w1"], leaves["b"]):
        d = ag.explain(o, leaf)
        expected = ag.grad(o, leaf, retain_graph=True)[0].item()
        assert d.gradient == pytest.approx(expected) and d.numeric == pytest.approx(expected, abs=1e-7)
        assert sum(product for _, product in d.paths) == pytest.approx(expected)
    assert "∂o/∂v4 = 1 − o² = 0.5" in str(ag.explain(o, leaves["w1"]))


def test_sqrt_writes_its_rule_with_the_output_named_not_a_literal_y():
    """Finding: "∂v5/∂v4 = 1 / (2y) = 1.667" while the LaTeX was right."""
    x = f64(0.3, name="x")
    d = ag.explain((x * x).sqrt(), x)
    assert "∂L/∂v1 = 1 / (2·L) = 1.667" in str(d)
    assert r"\frac{1}{2 \cdot {L}}" in d.to_latex()


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
    assert "∂L/∂W = Xᵀ·∂L/∂v1 : (4×3)ᵀ·(4×2) → (3×2)   [matmul]" in text
    assert "∂L/∂v2 = ∂L/∂v3·(1 − v3²) : (4×2)·(1 − (4×2)²) → (4×2)" in text
    assert "v4 = v3^2 " in text and "2.000" not in text  # exponents are numbers, not 3 fixed decimals
    assert "max |autograd − numeric|" in text and "(tensors: 5 steps between them)" in text


def test_broadcast_steps_say_the_gradient_is_summed():
    loss, W, b = affine()
    d = ag.explain(loss, b)
    assert np.max(np.abs(d.numeric - d.gradient)) < 1e-6
    assert "∂L/∂b = ∂L/∂v2 : (4×2) → (2,), summed over axes (0,)" in str(d)


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


def test_a_tensor_reached_twice_gets_one_assignment_then_accumulations():
    """Finding: for (h*h).sum() the line "∂L/∂v3 += ∂L/∂v4·v3" appeared twice, the first already with +=."""
    h = f64([1.0, -2.0, 0.5], name="h")
    lines = [line.strip() for line in str(ag.explain((h * h).sum(), h)).splitlines()
             if line.strip().startswith("∂L/∂h")]
    assert lines[0].startswith("∂L/∂h = ∂L/∂v1·h") and lines[1].startswith("∂L/∂h += ∂L/∂v1·h")


def test_one_step_is_singular():
    x = f64([1.0, 2.0], name="x")
    text = str(ag.explain(x.sum(), x))
    assert "1 step between them" in text and "1 path from x" in text and "1 steps" not in text


def test_a_vector_times_a_matrix_sends_the_matrix_an_outer_product():
    """Finding: "∂L/∂v1 = const(3,)ᵀ·∂L/∂v2 : (3,)ᵀ·(2,) → (3×2)" is not a valid product."""
    x = ag.tensor(np.array([1.0, 2.0, 3.0]), name="x")
    W = f64(np.ones((3, 2)), name="W")
    d = ag.explain((x @ W).tanh().sum(), W)
    assert "∂L/∂W = x ⊗ ∂L/∂v1 (outer product) : (3,) ⊗ (2,) (outer product) → (3×2)" in str(d)
    assert r"{x} \otimes" in d.to_latex()
    v = f64(np.ones(3), name="v")
    assert "ḡ ⊗" not in str(ag.explain((W.mT @ v).sum(), v))  # a matrix times a vector: Wᵀ·ḡ stays


# -- names -----------------------------------------------------------------------------------------
def test_named_intermediates_and_constants_appear_in_derivations_and_traces():
    """Finding: a name set on an intermediate, or on a constant, showed as v1, v2 or const(4,)."""
    h = f64([1.0, -2.0, 3.0, 0.5], name="h")
    g = ag.tensor([1.0, 2.0, 3.0, 4.0], name="g")
    a1 = h * g
    a1.name = "a1"
    loss = (a1 * a1).sum()
    for text in (str(ag.explain(loss, h)), str(ag.trace_backward(loss))):
        assert "a1 = h·g" in text and "const" not in text and "v1 = a1·a1" in text


def test_the_output_is_called_by_its_name_else_l_in_explain_and_trace():
    """Finding: explain called the output f while trace_backward called it L."""
    x = f64(2.0, name="x")
    y = x * x
    assert "∂L/∂x" in str(ag.explain(y, x)) and "backward trace of L" in str(ag.trace_backward(y))
    y.name = "energy"
    assert "∂energy/∂x" in str(ag.explain(y, x)) and "backward trace of energy" in str(ag.trace_backward(y))


def test_linear_shows_its_input_by_name():
    """Finding: F.linear(x, W, b) showed const(3,)·v1."""
    F = pytest.importorskip("nn.functional")
    x = ag.tensor(np.ones((2, 3)), name="x")
    W = f64(np.ones((4, 3)), name="W")
    b = f64(np.zeros(4), name="b")
    text = str(ag.explain(F.linear(x, W, b).sum(), W))
    assert "v2 = x·v1" in text and "const" not in text


# -- one element -----------------------------------------------------------------------------------
def test_an_indexed_tensor_is_refused_with_a_pointer_to_index():
    """Finding: explain(L, W[0, 1]) — the index makes a new tensor outside the graph."""
    loss, W, _ = affine()
    with ag.no_grad():
        element = W[0, 1]
    with pytest.raises(ValueError, match=r"pass index=\(0, 1\) instead"):
        ag.explain(loss, element)


def value(text):
    """A number as explain writes it: (−0.5412) → -0.5412."""
    return float(text.strip("()").replace("−", "-"))


def test_one_element_is_the_sum_over_the_elements_it_touches_with_numbers():
    loss, W, _ = affine()
    d = ag.explain(loss, W, index=(0, 1))
    full = ag.grad(loss, W, retain_graph=True)[0].data
    assert d.gradient == pytest.approx(full[0, 1]) and d.numeric == pytest.approx(full[0, 1], abs=1e-7)
    text = str(d)
    terms = re.findall(r"∂L/∂v1\[(\d), 1\] · ∂v1\[\1, 1\]/∂W\[0, 1\] = (\S+) · (\S+) = (\S+)", text)
    assert [int(n) for n, *_ in terms] == [0, 1, 2, 3]  # W[0, 1] reaches column 1 of every row of X·W
    for _, upstream, local, product in terms:
        assert value(upstream) * value(local) == pytest.approx(value(product), rel=1e-3)
    assert "(4 terms)" in text
    with pytest.raises(IndexError, match="does not pick one element"):
        ag.explain(loss, W, index=(3, 0))


def test_one_element_of_a_tensor_used_twice_adds_both_uses():
    x = f64([1.0, -2.0, 3.0], name="x")
    d = ag.explain((x * x * x).sum(), x, index=1)
    assert d.gradient == pytest.approx(3 * 4.0) and d.numeric == pytest.approx(12.0, abs=1e-6)


# -- layer level -----------------------------------------------------------------------------------
def small_cnn():
    nn = pytest.importorskip("nn")
    F = pytest.importorskip("nn.functional")
    ag.manual_seed(3)
    conv = nn.Conv2d(1, 2, 3, padding=1)
    fc = nn.Linear(2 * 2 * 2, 3)
    for p in (*conv.parameters(), *fc.parameters()):
        p.data = p.data.astype(np.float64)
    x = ag.tensor(np.random.default_rng(0).standard_normal((2, 1, 4, 4)), name="x")
    h = F.max_pool2d(F.conv2d(x, conv.weight, conv.bias, padding=1).relu(), 2)
    loss = F.cross_entropy(F.linear(h.flatten(1), fc.weight, fc.bias), np.array([0, 2]))
    return loss, {"conv.weight": conv.weight, "conv.bias": conv.bias, "fc.weight": fc.weight, "fc.bias": fc.bias}


def test_layer_level_uses_each_composites_rule_checked_against_the_engine():
    loss, params = small_cnn()
    d = ag.explain(loss, params["conv.weight"], params, level="layer")
    text = str(d)
    assert "(layers: 6 steps between them)" in text  # cross_entropy, linear, reshape, max_pool2d, relu, conv2d
    assert "∂L/∂conv.weight = corr(X, ḡ)" in text and "∂L/∂X = (p − t)/N" not in text
    assert "= (p − t)/N" in text and "= ḡ routed to the arg-max" in text and "= ḡ·W" in text
    assert "the input cross-correlated with ḡ" in text
    assert {name for name, _, _ in d.checks} == {"cross_entropy", "linear", "max_pool2d", "conv2d"}
    assert all(error < 1e-9 for _, _, error in d.checks)  # float64: the rules are the engine's numbers
    assert np.allclose(d.gradient, ag.grad(loss, params["conv.weight"], retain_graph=True)[0].data)
    assert well_formed(d.to_latex()) and r"X \star \bar{g}" in d.to_latex()


def test_layer_level_inside_a_composite_falls_back_to_its_primitives():
    F = pytest.importorskip("nn.functional")
    x = f64(np.random.default_rng(0).standard_normal((3, 4)), name="x")
    loss = F.cross_entropy(x, np.array([0, 1, 3]))
    d = ag.explain(loss, x, level="layer")
    assert "= (p − t)/N" in str(d)
    with pytest.raises(ValueError, match="level"):
        ag.explain(loss, x, level="module")


# -- trace_backward ------------------------------------------------------------------------------
def test_trace_has_one_block_per_backward_step_with_the_slide_formula():
    x1, w1, b = f64(2.0, name="x1"), f64(-3.0, name="w1"), f64(5.5, name="b")
    o = (x1 * w1 + b).tanh()
    trace = ag.trace_backward(o)
    heads = [piece.text for kind, piece in trace.lines if kind == "head"][1:]
    assert [h.split()[1] for h in heads] == ["TanhBackward", "AddBackward", "MulBackward"]
    text = str(trace)
    assert "→ x1: " in text and "· [w1 = −3] = " in text
    grad_w1 = ag.grad(o, w1, retain_graph=True)[0].item()
    assert f"· [x1 = 2] = {number(grad_w1)}" in text


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


# -- numbers, LaTeX and Markdown ---------------------------------------------------------------------
def test_numbers_have_four_significant_digits_and_precision_changes_them():
    """Finding: 0.005982 printed as 0.006 (3 fixed decimals)."""
    assert [number(v) for v in (0.005982, 2.0, -1.5, 1 / 3, 12345.6, 1.23456e-5, 0.0)] == \
           ["0.005982", "2", "−1.5", "0.3333", "12346", "1.235e−05", "0"]
    x = f64(0.005982, name="x")
    d = ag.explain(x * 1.0, x)
    assert "0.005982" in str(d) and "0.006 " not in str(d)
    assert "0.00598" in d.to_latex(precision=3) and "0.005982" not in d.to_latex(precision=3)
    assert "0.00598" in str(ag.explain(x * 1.0, x, precision=3))


def test_to_latex_align_is_one_line_per_step_and_beamer_one_overlay_per_step():
    loss, W, b = affine()
    d = ag.explain(loss, W)
    align = d.to_latex("align")
    assert align.startswith("\\begin{align*}") and align.endswith("\\end{align*}") and "array" not in align
    math_lines = [piece for kind, piece in d.lines if kind == "math"]
    assert align.count("&= ") + align.count("\n&") == len(math_lines) and align.count(r"\intertext{") > 3
    beamer = d.to_latex("beamer")
    assert [int(k) for k in re.findall(r"\\only<(\d+)>", beamer)] == list(range(1, len(math_lines) + 1))
    for tex in (align, beamer):
        assert well_formed(tex)
    with pytest.raises(ValueError, match="style"):
        d.to_latex("slides")


def test_latex_and_markdown_are_well_formed():
    loss, W, b = affine()
    x, y = f64(2.0, name="x_1"), f64(-3.0, name="σ")
    w = ag.randn(2, 2, requires_grad=True)
    reports = [ag.explain(loss, W), ag.explain(loss, b), ag.explain(x * y + x, x), ag.trace_backward(loss),
               ag.explain((w @ w).sum(), w, {"conv1.weight_{1}": w}), ag.trace_backward((x * y).exp()),
               ag.explain(loss, W, index=(2, 0))]
    for report in reports:
        latex = report._repr_latex_()
        assert latex.startswith("$$\\begin{array}{l}") and latex.endswith("\\end{array}$$")
        assert well_formed(latex)
        markdown = report._repr_markdown_()
        assert markdown.count("$") % 2 == 0 and "**" in markdown
        for line in markdown.splitlines():
            if line.startswith("- $"):
                assert well_formed(line[3:-1])


def primitive_nodes():
    """A bare node of every primitive, with scalar inputs: enough to fill in its formulas."""
    for cls in PRIMITIVES.values():
        node = cls.__new__(cls)
        node.inputs = (None,) * len(cls.formula.inputs)
        node.in_meta = ((((), np.float64),) * len(cls.formula.inputs))
        node.constants = ()
        yield cls, node


def test_every_formula_of_the_table_substitutes_into_well_formed_latex():
    names = {s: Piece(f"v{i}", f"v_{{{i}}}") for i, s in enumerate("abcxyABv")}
    names["ḡ"] = Piece("∂L/∂y", r"\frac{\partial L}{\partial y}")
    for cls, node in primitive_nodes():
        for i in range(len(cls.formula.vjps)):
            for piece in (fill(node, "forward", names), fill(node, "vjp", names, index=i), _local(node, i, names)):
                assert well_formed(piece.tex), (cls.name, piece.tex)
