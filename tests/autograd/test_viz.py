"""autograd.viz: the DOT text of backward graphs, and rendering it with pip alone."""
import re
import shutil
import subprocess
import time

import graphviz
import pytest

import autograd as ag
from autograd import viz
from autograd._graph_walk import Graph
from autograd.grad_mode import scope

from helpers import f64, neuron

NODE = re.compile(r"^\s*([nlb]\d+) \[label=<(.*)>\]$", re.M)
EDGE = re.compile(r"^\s*([nlb]\d+) -> ([nlb]\d+) \[(.*)\]$", re.M)


def nodes(source):
    return dict(NODE.findall(source))


def edges(source):
    return EDGE.findall(source)


class Cube(ag.Function):
    """x³ with a deliberately wrong VJP (2x² instead of 3x²)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * 2 * x ** 2


# -- structure -----------------------------------------------------------------------------------
def test_one_dot_node_per_backward_node_and_leaf_one_edge_per_graph_edge():
    o, leaves = neuron()
    source = viz.dot(o)
    graph = Graph(o)
    assert len(nodes(source)) == len(graph.nodes) + len(graph.leaves) == 10
    assert len(edges(source)) == len(graph.edges) == sum(e is not None for n in graph.nodes for e in n.next)


def test_draw_returns_a_digraph_whose_source_is_the_dot_text():
    o, _ = neuron()
    picture = viz.draw(o)
    assert isinstance(picture, graphviz.Digraph)
    assert picture.source == viz.dot(o)


def test_scalar_nodes_show_data_and_grad_like_micrograd():
    o, _ = neuron()
    source = viz.dot(o)
    assert "TanhBackward" in source and "MulBackward" in source and "y = a·b" in source
    labels = list(nodes(source).values())
    x1 = next(label for label in labels if "<b>x1</b>" in label)
    w1 = next(label for label in labels if "<b>w1</b>" in label)
    assert "data 2.000 | grad −1.500" in x1 and "scalar float64" in x1
    assert "data −3.000 | grad 1.000" in w1


def test_grads_match_backward_and_no_grad_is_touched():
    o, leaves = neuron()
    viz.dot(o)
    assert all(x.grad is None for x in leaves.values())
    o.backward(retain_graph=True)
    source = viz.dot(o)  # a retained graph still holds the forward's values
    assert all(f"<b>{name}</b>" in source for name in leaves)
    label = next(v for v in nodes(source).values() if "<b>x1</b>" in v)
    assert f"grad {leaves['x1'].grad.item():.3f}".replace("-", "−") in label


def test_after_a_plain_backward_the_picture_shows_structure_and_says_the_numbers_were_freed():
    o, leaves = neuron()
    o.backward()
    source = viz.dot(o)
    assert all(f"<b>{name}</b>" in source for name in leaves)
    assert "freed by backward()" in source and "grad −1.500" not in source


def test_chain_rule_edges_show_upstream_times_local_gives_downstream():
    o, _ = neuron()
    labels = [attrs for _, _, attrs in edges(viz.dot(o))]
    assert any('label="0.500 · −3.000 → −1.500"' in a for a in labels)  # x1·w1 → x1
    assert any('label="1.000 · 0.500 → 0.500"' in a for a in labels)  # tanh: 1 − o² = 0.5


def test_a_tensor_used_twice_shows_the_sum_of_its_contributions():
    x, y = f64(2.0, name="x"), f64(-3.0, name="y")
    f = x * y + x
    label = next(v for v in nodes(viz.dot(f)).values() if "<b>x</b>" in v)
    assert re.search(r"grad (1\.000 − 3\.000|−3\.000 \+ 1\.000) = −2\.000", label)


def test_broadcast_edges_show_the_implicit_sum():
    a = ag.randn(4, 3, requires_grad=True)
    b = ag.randn(3, requires_grad=True)
    loss = (a + b).sum()
    assert 'label="sum over axes (0,) : (4, 3) → (3,)"' in viz.dot(loss)


def test_edges_carry_the_gradient_shape_for_tensors():
    w = ag.randn(3, 5, requires_grad=True)
    loss = (ag.randn(8, 3) @ w).relu().sum()
    labels = [attrs for _, _, attrs in edges(viz.dot(loss))]
    assert any('label="(8, 5)"' in a for a in labels) and any('label="(3, 5)"' in a for a in labels)


def test_leaves_are_named_by_params_dict_or_tensor_name():
    w = ag.randn(2, 2, requires_grad=True)
    v = ag.randn(2, requires_grad=True)
    v.name = "velocity"
    source = viz.dot((w @ v).sum(), {"layer.weight": w})
    assert "<b>layer.weight</b>" in source and "<b>velocity</b>" in source


def test_auto_shows_values_of_small_tensors_and_norms_of_large_ones():
    small = ag.tensor([1.0, -2.0], requires_grad=True)
    large = ag.ones(10, requires_grad=True)
    source = viz.dot((small * 3).sum() + large.sum(), show_values="auto")
    assert "data [1.000, −2.000]" in source and "grad [3.000, 3.000]" in source
    assert "‖grad‖ 3.162" in source and "‖data‖" not in source
    assert "data [" not in viz.dot((small * 3).sum(), show_values=False)


# -- scopes and collapsing ----------------------------------------------------------------------
def scoped_graph():
    x = ag.randn(2, 3, requires_grad=True)
    w = ag.randn(3, 3, requires_grad=True)
    with scope("block (Block)"):
        with scope("affine"):
            h = (x @ w).tanh()
        y = h * 2
    return (y ** 2).sum(), {"x": x, "block.w": w}


def test_scopes_become_nested_clusters():
    loss, params = scoped_graph()
    source = viz.dot(loss, params)
    assert source.count("subgraph cluster_") == 2
    outer = source.index('label="block (Block)"')
    inner = source.index('label="affine"')
    assert outer < inner < source.index("TanhBackward")
    assert "subgraph cluster_" not in viz.dot(loss, group_scopes=False)


def test_collapsed_composites_really_collapse():
    loss, params = scoped_graph()
    source = viz.dot(loss, params, collapse=("affine",))
    assert "TanhBackward" not in source and "MatMulBackward" not in source
    box = [label for name, label in nodes(source).items() if name.startswith("b")]
    assert len(box) == 1 and "<b>affine" in box[0] and "2 ops: matmul, tanh" in box[0]
    assert len(nodes(viz.dot(loss, params, collapse=True))) == len(nodes(source))  # composites, not modules
    everything = viz.dot(loss, params, collapse=("Block",))  # by class name
    assert "MulBackward" not in everything and "<b>block (Block)" in everything


def test_max_nodes_collapses_the_deepest_scopes_first_and_says_so():
    loss, params = scoped_graph()
    full = len(nodes(viz.dot(loss, params)))
    source = viz.dot(loss, params, max_nodes=full - 1)
    assert len(nodes(source)) <= full - 1
    assert "affine" in source and "TanhBackward" not in source and "MulBackward" in source  # only the inner scope
    assert "max_nodes=" in source and "collapsed" in source
    assert "still" in viz.dot(loss, params, max_nodes=2)


def test_lenet5_collapsed_reads_as_layers_and_expands_to_primitives():
    nn = pytest.importorskip("nn")
    F = pytest.importorskip("nn.functional")
    ag.manual_seed(0)
    model = nn.models.LeNet5()
    loss = F.cross_entropy(model(ag.randn(2, 1, 28, 28)), ag.tensor([3, 7]))
    graph = Graph(loss)
    expanded = viz.dot(loss, model)
    assert len(nodes(expanded)) == len(graph.nodes) + len(graph.leaves)
    assert "UnfoldBackward" in expanded and 'label="features.0 (Conv2d)"' in expanded
    assert "<b>features.0.weight</b>" in expanded and "<b>classifier.4.bias</b>" in expanded
    collapsed = viz.dot(loss, model, collapse=True)
    assert "UnfoldBackward" not in collapsed and "MatMulBackward" not in collapsed
    assert collapsed.count("<b>conv2d") == 2 and collapsed.count("<b>linear") == 3
    assert collapsed.count("<b>max_pool2d") == 2 and "<b>cross_entropy" in collapsed
    assert len(nodes(collapsed)) < len(nodes(expanded)) / 2


# -- highlight, colour, check ---------------------------------------------------------------------
def test_highlight_marks_every_path_from_the_tensor_to_the_root():
    a, b = f64(2.0, name="a"), f64(3.0, name="b")
    e = (a * b + b).tanh()
    source = viz.dot(e, highlight=a)
    red = {name for name, label in nodes(source).items() if 'color="#d62728"' in label}
    leaf_a = next(name for name, label in nodes(source).items() if "<b>a</b>" in label)
    assert red == {"n1", "n2", "n3", leaf_a}
    red_edges = {(s, d) for s, d, attrs in edges(source) if "#d62728" in attrs}
    assert red_edges == {("n1", "n2"), ("n2", "n3"), ("n3", leaf_a)}
    with pytest.raises(ValueError, match="not part of this graph"):
        viz.dot(e, highlight=f64(1.0))


def test_color_by_grad_norm_shades_large_gradients_red_and_small_ones_blue():
    big, small = ag.ones(3, requires_grad=True), ag.ones(3, requires_grad=True)
    big.name, small.name = "big", "small"
    loss = (big * 1e3).sum() + (small * 1e-3).sum()
    source = viz.dot(loss, color_by="grad_norm")
    labels = {label.split("<b>")[1].split("</b>")[0]: label for label in nodes(source).values()}
    assert 'bgcolor="#d6604d"' in labels["big"] and 'bgcolor="#d1e5f0"' in labels["small"]


def test_check_flags_a_wrong_user_function_vjp_in_red():
    x = f64(1.5, name="x")
    loss = (Cube.apply(x) * x).sum()
    source = viz.dot(loss, check=True)
    by_title = {re.search(r"<b>(.*?)</b>", label).group(1): label for label in nodes(source).values()}
    assert "#ff8f8f" in by_title["#3 CubeBackward"] and "wrong?" in by_title["#3 CubeBackward"]
    assert "#b8e0b0" in by_title["#2 MulBackward"] and "#b8e0b0" in by_title["#1 SumBackward"]


def test_show_saved_lists_what_each_node_keeps_and_the_total():
    x = ag.randn(4, 3, requires_grad=True)
    loss = (x * x).exp().sum()
    source = viz.dot(loss, show_saved=True)
    assert "saves a (4, 3), b (4, 3) · 96 B" in source and "saves y (4, 3) · 48 B" in source
    assert "saved for backward: 144 B held by 2 of 3 nodes" in source
    loss.backward()
    assert "saved values were freed by backward()" in viz.dot(loss, show_saved=True)


def test_create_graph_gradient_part_is_drawn_apart():
    x = f64(1.5, name="x")
    g, = ag.grad(x ** 3, x, create_graph=True)
    source = viz.dot(g * x)
    assert 'label="backward of pow"' in source
    dashed = [label for label in nodes(source).values() if 'style="dashed"' in label]
    assert len(dashed) == 2 and not any("#1 MulBackward" in label for label in dashed)


# -- order and frames -------------------------------------------------------------------------
def test_nodes_are_numbered_in_the_order_backward_visits_them():
    o, _ = neuron()
    order = []
    graph = Graph(o)
    for node in graph.nodes:
        node.register_prehook(0, lambda g, node=node: order.append(node))
    o.backward()
    assert order == graph.nodes
    titles = re.findall(r"<b>#(\d+) (\w+)Backward</b>", viz.dot(o))
    assert [int(i) for i, _ in titles] == list(range(1, 6))


def test_frames_yield_one_picture_per_backward_step():
    o, _ = neuron()
    pictures = list(viz.frames(o))
    assert len(pictures) == len(Graph(o).nodes) == 5
    assert all(isinstance(p, viz.Drawing) for p in pictures)
    third = pictures[2].source
    assert "backward step 3 of 5" in third
    current = [name for name, label in nodes(third).items() if 'color="#ff7f0e"' in label]
    assert current == ["n3"]
    assert "grad so far" not in pictures[-1].source


def test_a_10000_node_graph_draws_quickly():
    x = ag.tensor(0.5, requires_grad=True)
    h = x
    for i in range(10_000):
        h = h * 1.0001 if i % 2 else h + 0.001
    start = time.perf_counter()
    source = viz.dot(h)
    assert time.perf_counter() - start < 20
    assert len(nodes(source)) == 10_001 and len(edges(source)) == 10_000
    bare = viz.dot(h, max_nodes=100, show_grads=False, show_values=False, chain_rule=False)
    assert len(nodes(bare)) == 10_001 and "still 10001 boxes" in bare  # no scopes to collapse: it says so


# -- hints and honesty ----------------------------------------------------------------------------
def test_unstable_compositions_are_flagged_with_the_stable_op():
    x = ag.randn(2, 5, requires_grad=True)
    e = x.exp()
    assert "log_softmax" in viz.dot((e / e.sum(axis=-1, keepdims=True)).log().sum())
    assert "binary_cross_entropy_with_logits" in viz.dot(x.sigmoid().log().sum())
    big = ag.tensor([85.0, 1.0], requires_grad=True)  # float32 overflows beyond 88.7
    assert "exp of values up to 85" in viz.dot(big.exp().sum())


@pytest.mark.parametrize("draw", [lambda y, x: viz.dot(y), lambda y, x: next(viz.frames(y)),
                                  lambda y, x: ag.explain(y, x), lambda y, x: ag.trace_backward(y)])
def test_a_graph_whose_leaves_changed_since_it_was_built_is_refused(draw):
    x = f64(2.0, name="x")
    y = (x * x).sum()
    with ag.no_grad():  # what an optimizer's step does
        x.sub_(0.5)
    with pytest.raises(RuntimeError, match=r"x changed since this graph was built \(optimizer.step\?"):
        draw(y, x)


def test_non_scalar_roots_draw_shapes_without_gradients():
    source = viz.dot(ag.randn(3, 2, requires_grad=True) * 2)
    assert "no gradients shown" in source and "grad" not in source.split("no gradients shown")[1]


def test_roots_without_a_graph_are_refused():
    with pytest.raises(ValueError, match="does not require grad"):
        viz.dot(ag.ones(3))


# -- rendering ------------------------------------------------------------------------------------
def test_renders_svg_and_png_without_system_graphviz():
    o, _ = neuron()
    picture = viz.draw(o)
    assert b"<svg" in picture.pipe(format="svg")
    assert picture.pipe(format="png").startswith(b"\x89PNG")
    if shutil.which("dot") is None:
        assert viz.renderer() == viz._graphviz_pure_binary()


def test_renders_pdf_with_either_renderer(tmp_path):
    o, _ = neuron()
    picture = viz.draw(o)
    assert picture.pipe(format="pdf").startswith(b"%PDF")
    path = picture.render(tmp_path / "neuron", format="pdf")
    assert path.endswith(".pdf") and open(path, "rb").read(4) == b"%PDF"


def test_graphviz_pure_binary_renders_the_dot_text_directly():
    binary = viz._graphviz_pure_binary()
    assert binary is not None, "graphviz-pure is a dependency: pip install graphviz-pure"
    o, _ = neuron()
    done = subprocess.run([binary, "-Tsvg"], input=viz.dot(o, check=True).encode(), capture_output=True, timeout=60)
    assert done.returncode == 0 and b"TanhBackward" in done.stdout


def test_render_writes_a_file(tmp_path):
    o, _ = neuron()
    path = viz.draw(o).render(tmp_path / "neuron", format="png")
    assert open(path, "rb").read(4) == b"\x89PNG"


def test_without_any_renderer_the_error_says_how_to_get_one(monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    monkeypatch.setattr(viz, "_graphviz_pure_binary", lambda: None)
    with pytest.raises(RuntimeError, match="pip install graphviz-pure"):
        viz.renderer()
    o, _ = neuron()
    assert "TanhBackward" in viz.draw(o).source  # the DOT text still works
