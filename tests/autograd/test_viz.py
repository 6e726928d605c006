"""autograd.viz: the DOT text of backward graphs, and rendering it with pip alone."""
import io
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET

import graphviz
import numpy as np
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


def titled(source):
    """{box title: its label}."""
    return {re.search(r"<b>(.*?)</b>", label).group(1): label for label in nodes(source).values()}


def cells(label):
    """The visible text of a label's rows (tags dropped, one row per line)."""
    return re.sub(r"<[^>]+>", " ", label.replace("</tr>", "\n"))


def ones(*shape, name):
    """A named float32 leaf of ones."""
    return ag.tensor(np.ones(shape, np.float32), requires_grad=True, name=name)


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
    boxes = titled(viz.dot(o))
    assert "TanhBackward" in "".join(boxes) and "MulBackward" in "".join(boxes)
    assert "data 2 | grad −1.5" in boxes["x1"] and "scalar float64" in boxes["x1"]
    assert "data −3 | grad 1" in boxes["w1"]
    assert "data 0.7071 | grad 1" in boxes["#1 TanhBackward"]  # the root's gradient is the seed, 1


def test_grads_match_backward_and_no_grad_is_touched():
    o, leaves = neuron()
    viz.dot(o)
    assert all(x.grad is None for x in leaves.values())
    o.backward(retain_graph=True)
    boxes = titled(viz.dot(o))  # a retained graph still holds the forward's values
    assert set(leaves) <= set(boxes)
    assert f"grad {leaves['x1'].grad.item():.4g}".replace("-", "−") in boxes["x1"]


def test_after_a_plain_backward_the_picture_shows_structure_and_says_the_numbers_were_freed():
    o, leaves = neuron()
    o.backward()
    source = viz.dot(o)
    assert set(leaves) <= set(titled(source))
    assert "freed by backward()" in source and "grad −1.5" not in source


def test_chain_rule_edges_show_upstream_times_local_gives_downstream():
    o, _ = neuron()
    labels = [attrs for _, _, attrs in edges(viz.dot(o))]
    assert any('label="0.5 · −3 → −1.5"' in a for a in labels)  # x1·w1 → x1
    assert any('label="1 · 0.5 → 0.5"' in a for a in labels)  # tanh: 1 − o² = 0.5


def test_a_tensor_used_twice_shows_the_sum_of_its_contributions_in_backward_order():
    x, y = f64(2.0, name="x"), f64(-3.0, name="y")
    f = x * y + x
    assert "grad 1 − 3 = −2" in titled(viz.dot(f))["x"]  # the add runs first and sends 1


def test_broadcast_edges_show_the_implicit_sum():
    a = ag.randn(4, 3, requires_grad=True)
    b = ag.randn(3, requires_grad=True)
    loss = (a + b).sum()
    assert 'label="sum over axes (0,) : (4, 3) → (3,)"' in viz.dot(loss)


def test_edges_carry_the_gradient_shape_for_tensors_unless_asked_not_to():
    w = ag.randn(3, 5, requires_grad=True)
    loss = (ag.randn(8, 3) @ w).relu().sum()
    labels = [attrs for _, _, attrs in edges(viz.dot(loss))]
    assert any('label="(8, 5)"' in a for a in labels) and any('label="(3, 5)"' in a for a in labels)
    assert "label=" not in "".join(attrs for _, _, attrs in edges(viz.dot(loss, edge_labels=False)))


def test_small_tensors_show_value_grids_and_large_ones_norms():
    small = ag.tensor([[1.0, -2.0, 0.5], [3.0, 0.25, 4.0]], requires_grad=True, name="small")
    large = ones(20, name="large")
    boxes = titled(viz.dot((small * 3).sum() + large.sum()))
    grid = cells(boxes["small"])
    assert re.search(r"data\s+1\s+−2\s+0.5\s*\n\s*3\s+0.25\s+4", grid)  # the (2, 3) layout, row by row
    assert re.search(r"grad\s+3\s+3\s+3\s*\n\s*3\s+3\s+3", grid)
    assert "‖grad‖ 4.472" in boxes["large"] and "data" not in boxes["large"]
    compact = titled(viz.dot((small * 3).sum(), show_values=False))["small"]
    assert "data" not in compact and "‖grad‖ 7.348" in compact


def test_show_dtype_false_drops_the_dtype_line():
    o, _ = neuron()
    assert "scalar float64" in viz.dot(o) and "float64" not in viz.dot(o, show_dtype=False)


def test_layout_options_reach_the_dot_text():
    o, _ = neuron()
    source = viz.dot(o, rankdir="LR", dpi=150, size=(16, 9))
    assert 'rankdir="LR"' in source and 'dpi="150"' in source and 'size="16,9"' in source
    with pytest.raises(ValueError, match="rankdir"):
        viz.dot(o, rankdir="sideways")


# -- names ---------------------------------------------------------------------------------------
def test_named_intermediates_constants_and_the_output_are_called_by_their_names():
    h = f64([1.0, -2.0, 3.0, 0.5], name="h")
    g = ag.tensor([1.0, 2.0, 3.0, 4.0], name="g")
    a1 = h * g
    a1.name = "a1"
    boxes = titled(viz.dot(a1.sum()))
    assert "a1 = h·g" in boxes["#2 MulBackward"]  # not v1, not const(4,)
    assert "L = Σ a1" in boxes["#1 SumBackward"] and "output: L" in boxes["#1 SumBackward"]
    total = a1.sum()
    total.name = "total"
    assert "total = Σ a1" in viz.dot(total) and "output: total" in viz.dot(total)


def test_linear_names_its_input_and_parameters():
    F = pytest.importorskip("nn.functional")
    x = ag.tensor(np.ones((2, 3)), name="x")
    W = f64(np.ones((4, 3)), name="W")
    b = f64(np.zeros(4), name="b")
    source = viz.dot(F.linear(x, W, b).sum())
    assert "= x·v" in source and "const" not in source


def test_leaves_are_named_by_params_dict_or_tensor_name():
    w = ag.randn(2, 2, requires_grad=True)
    v = ag.randn(2, requires_grad=True)
    v.name = "velocity"
    boxes = titled(viz.dot((w @ v).sum(), {"layer.weight": w}))
    assert "layer.weight" in boxes and "velocity" in boxes


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
    assert len(box) == 1 and "<b>affine</b>" in box[0] and "2 ops: matmul, tanh" in box[0]
    assert len(nodes(viz.dot(loss, params, collapse=True))) == len(nodes(source))  # composites, not modules
    everything = viz.dot(loss, params, collapse=("Block",))  # by class name
    assert "MulBackward" not in everything and "<b>block (Block)</b>" in everything


def test_max_nodes_collapses_the_deepest_scopes_first_and_says_so():
    loss, params = scoped_graph()
    full = len(nodes(viz.dot(loss, params)))
    source = viz.dot(loss, params, max_nodes=full - 1)
    assert len(nodes(source)) <= full - 1
    assert "affine" in source and "TanhBackward" not in source and "MulBackward" in source  # only the inner scope
    assert "max_nodes=" in source and "collapsed" in source
    assert "still" in viz.dot(loss, params, max_nodes=2)


def lenet_loss():
    nn = pytest.importorskip("nn")
    F = pytest.importorskip("nn.functional")
    ag.manual_seed(0)
    model = nn.models.LeNet5()
    x = ag.randn(2, 1, 28, 28)
    return F.cross_entropy(model(x), ag.tensor([3, 7])), model, x


def test_lenet5_collapsed_reads_as_layers_and_expands_to_primitives():
    loss, model, _ = lenet_loss()
    graph = Graph(loss)
    expanded = viz.dot(loss, model)
    assert len(nodes(expanded)) == len(graph.nodes) + len(graph.leaves)
    assert "UnfoldBackward" in expanded and 'label="features.0 (Conv2d)"' in expanded
    assert "<b>features.0.weight</b>" in expanded and "<b>classifier.4.bias</b>" in expanded
    collapsed = viz.dot(loss, model, collapse=True)
    assert "UnfoldBackward" not in collapsed and "MatMulBackward" not in collapsed
    assert collapsed.count("<b>conv2d</b>") == 2 and collapsed.count("<b>linear</b>") == 3
    assert collapsed.count("<b>max_pool2d</b>") == 2 and "<b>cross_entropy</b>" in collapsed
    assert len(nodes(collapsed)) < len(nodes(expanded)) / 2


def test_collapsed_boxes_list_exactly_their_own_backward_steps():
    """Finding: a box read "conv2d #22–#35" while #29 belonged to a ReLU box drawn apart."""
    loss, model, _ = lenet_loss()
    graph = Graph(loss)
    source = viz.dot(loss, model, collapse=True)
    claimed = []
    for label in nodes(source).values():
        box = re.search(r"steps ([#\d–, ]+)<", label)
        if box:
            for run in box.group(1).split(", "):
                first, _, last = run.partition("–")
                claimed += range(int(first[1:]), int((last or first)[1:]) + 1)
        else:
            claimed += [int(n) for n in re.findall(r"<b>#(\d+) \w+Backward</b>", label)]
    assert sorted(claimed) == list(range(1, len(graph.nodes) + 1))  # each step in exactly one box
    assert viz._ranges([17]) == "#17" and viz._ranges([35, 22, 23, 24]) == "#22–#24, #35"


def test_collapsed_composites_show_their_layer_rule_checked_against_the_engine():
    loss, model, _ = lenet_loss()
    boxes = [cells(label) for label in nodes(viz.dot(loss, model, collapse=True)).values()]
    conv = [box for box in boxes if "conv2d" in box]
    assert all("∂L/∂W = corr(X, ḡ)" in box for box in conv)
    assert sum("conv_full(ḡ, rot180 W)" in box for box in conv) == 1  # the first conv's input needs no gradient
    assert any("∂L/∂X = (p − t)/N" in box for box in boxes)
    for box in boxes:
        for error in re.findall(r"= engine, Δ (\S+)", box):
            assert float(error.replace("−", "-")) < 1e-4  # float32


def test_digits_cnn_collapsed_left_to_right_fits_a_16_9_slide_at_100_dpi():
    nn = pytest.importorskip("nn")
    F = pytest.importorskip("nn.functional")
    from PIL import Image

    ag.manual_seed(0)
    model = nn.models.DigitsCNN()
    loss = F.cross_entropy(model(ag.randn(8, 1, 8, 8)), ag.tensor(np.arange(8)))
    picture = viz.draw(loss, model, collapse=True, rankdir="LR", dpi=100, show_values=False, show_dtype=False,
                       edge_labels=False, group_scopes=False)
    width, height = Image.open(io.BytesIO(picture.pipe(format="png"))).size
    assert width <= 1920 and height <= 1080, (width, height)


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


def shade_of(label):
    return re.search(r'<table border="\d+"[^>]*bgcolor="(#[0-9a-f]{6})"', label).group(1)


def test_color_by_grad_shades_per_element_rms_on_a_continuous_pale_to_dark_scale():
    big, small = ones(3, name="big"), ones(3, name="small")
    mid = ones(3, name="mid")
    loss = (big * 1e3).sum() + (small * 1e-3).sum() + mid.sum()
    boxes = titled(viz.dot(loss, color_by="grad"))
    assert shade_of(boxes["big"]) == "#2b8cbe" and shade_of(boxes["small"]) == "#f7fcf0"
    assert shade_of(boxes["mid"]) not in ("#2b8cbe", "#f7fcf0")  # in between: not five fixed steps
    assert "#d62728" not in "".join(boxes.values())  # red means "highlighted" only
    legend = viz.dot(loss, color_by="grad")
    assert "RMS of the gradient per element" in legend and "log scale" in legend


def test_rms_makes_a_large_weight_and_a_small_bias_comparable():
    weight = ones(64, 512, name="weight")
    bias = ones(16, name="bias")
    loss = (weight * 0.01).sum() + (bias * 0.01).sum()  # the same gradient, 0.01, on every element
    rms = titled(viz.dot(loss, color_by="grad"))
    assert shade_of(rms["weight"]) == shade_of(rms["bias"])
    norm = titled(viz.dot(loss, color_by="grad_norm"))
    assert shade_of(norm["weight"]) != shade_of(norm["bias"])
    assert "mean |g|" in viz.dot(loss, color_by="grad_mean_abs")
    with pytest.raises(ValueError, match="color_by"):
        viz.dot(loss, color_by="size")


def test_check_flags_a_wrong_user_function_vjp_in_red():
    x = f64(1.5, name="x")
    loss = (Cube.apply(x) * x).sum()
    by_title = titled(viz.dot(loss, check=True))
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


# -- order, frames, animation ---------------------------------------------------------------------
def test_nodes_are_numbered_in_the_order_backward_visits_them():
    o, _ = neuron()
    order = []
    graph = Graph(o)
    for node in graph.nodes:
        node.register_prehook(0, lambda g, node=node: order.append(node))
    o.backward(retain_graph=True)
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
    assert viz._INVISIBLE not in pictures[-1].source.split("</table>>\n", 1)[1]  # the last frame hides nothing


def test_frames_show_the_gradient_that_has_arrived_so_far():
    x, y = f64(3.0, name="x"), f64(0.5, name="y")
    f = x * y + x
    first, second = (titled(frame.source)["x"] for frame in viz.frames(f))
    visible = re.sub(f'<font color="{viz._INVISIBLE}">.*?</font>', "", first)
    assert "grad 1" in visible and "1.5" not in visible.split("grad")[1]  # only the add's 1 has arrived
    assert "grad 1 + 0.5 = 1.5" in second


def node_positions(picture):
    """{node id: (x, y, width, height)} as the renderer lays the picture out."""
    plain = subprocess.run([viz.renderer(), "-Tplain"], input=picture.source.encode(), capture_output=True,
                           timeout=60, check=True).stdout.decode()
    return {parts[1]: tuple(parts[2:6]) for parts in map(str.split, plain.splitlines()) if parts[0] == "node"}


def test_frames_keep_one_layout_so_nothing_moves_between_steps():
    x, y = f64(3.0, name="x"), f64(0.5, name="y")
    f = (x * y + x).tanh() * y
    layouts = [node_positions(frame) for frame in viz.frames(f)]
    assert len(layouts) == 4 and all(layout == layouts[0] for layout in layouts)


def test_animate_writes_a_gif_with_one_frame_per_step(tmp_path):
    from PIL import Image

    o, _ = neuron()
    path = viz.animate(o, tmp_path / "backprop.gif", dpi=40)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 5


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
                                  lambda y, x: ag.explain(y, x), lambda y, x: ag.trace_backward(y)],
                         ids=["draw", "frames", "explain", "trace"])
def test_a_graph_whose_leaves_changed_since_it_was_built_is_refused(draw):
    x = f64(2.0, name="x")
    y = (x * x).sum()
    with ag.no_grad():  # what an optimizer's step does
        x.sub_(0.5)
    with pytest.raises(RuntimeError, match=r"^x changed since this graph was built \(optimizer.step\?"):
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


def test_svg_boxes_fit_their_text_in_the_font_a_linux_viewer_has():
    """Finding: labels overflowed their boxes where Helvetica is not installed (most Linux machines)."""
    from PIL import ImageFont

    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 10)
    except OSError:
        pytest.skip("DejaVu Sans is not installed here (Debian: fonts-dejavu-core)")
    o, _ = neuron()
    svg = viz.draw(o).pipe(format="svg")
    assert b'font-family="DejaVu Sans,Arial,Helvetica,sans-serif"' in svg
    ns = {"svg": "http://www.w3.org/2000/svg"}
    checked = 0
    for group in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}g"):
        if group.get("class") != "node":
            continue
        xs = [float(p.split(",")[0]) for poly in group.findall(".//svg:polygon", ns)
              for p in poly.get("points").split()]
        for text in group.findall(".//svg:text", ns):
            size = float(text.get("font-size"))
            width = ImageFont.truetype("DejaVuSans.ttf", size).getlength(text.text or "")
            assert width <= max(xs) - min(xs) + 0.5, (text.text, width, max(xs) - min(xs))
            checked += 1
    assert checked > 20


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


def test_render_writes_png_and_svg_files(tmp_path):
    o, _ = neuron()
    path = viz.draw(o).render(tmp_path / "neuron", format="png")
    assert open(path, "rb").read(4) == b"\x89PNG"
    svg = viz.draw(o).render(tmp_path / "neuron", format="svg")
    assert b"DejaVu Sans,Arial" in open(svg, "rb").read()


def test_without_any_renderer_the_error_says_how_to_get_one(monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    monkeypatch.setattr(viz, "_graphviz_pure_binary", lambda: None)
    with pytest.raises(RuntimeError, match="pip install graphviz-pure"):
        viz.renderer()
    o, _ = neuron()
    assert "TanhBackward" in viz.draw(o).source  # the DOT text still works


def test_two_calls_of_one_composite_in_one_scope_are_two_boxes():
    import nn.functional as F

    x = ag.randn(1, 1, 6, 6)
    w1, w2 = ag.randn(2, 1, 3, 3, requires_grad=True), ag.randn(1, 2, 3, 3, requires_grad=True)
    source = viz.dot(F.conv2d(F.relu(F.conv2d(x, w1)), w2).sum(), collapse=True)
    boxes = [name for name, label in nodes(source).items() if "<b>conv2d" in label]
    assert len(boxes) == 2
    relu = next(name for name, label in nodes(source).items() if "ReluBackward" in label)
    pairs = {(a, b) for a, b, _ in edges(source)}
    assert (boxes[1], relu) in pairs or (boxes[0], relu) in pairs
    assert not ({(boxes[0], relu), (relu, boxes[0])} <= pairs), "no cycle conv2d → relu → conv2d"
