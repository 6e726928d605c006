"""Pictures of the backward graph, built as Graphviz DOT text and rendered with pip alone.

    from autograd import viz
    picture = viz.draw(loss, model)      # a graphviz.Digraph: .source, .render("g", format="png"), Jupyter
    text = viz.dot(loss)                 # the DOT text itself: no binary needed
    for frame in viz.frames(loss): ...   # one picture per backward step, all with one layout
    viz.animate(loss, "backprop.gif")    # the same steps as an animated GIF

A picture has one box per backward node (the VJP that backward runs, `#3 MulBackward`, numbered
in the order backward visits it, with its forward written with names: `v3 = x1·w1`) and one per
leaf, with shapes, dtypes, values and gradients: one number for scalars (`data 2 | grad −1.5`),
a grid of numbers for tensors of at most 16 elements, a norm for larger ones. Names are the ones
derivations use (`_graph_walk.Names`): parameter names from `params`, else each tensor's `name`
(leaves, named intermediates, named constants), else t1, t2, … for leaves and v1, v2, … for
results; the output is called by its name, else L. Edges point the way gradients flow and carry
the gradient's shape or value; on scalar graphs the chain rule `upstream · local → downstream`;
where broadcasting is undone the implicit sum (`sum over axes (0,) : (64, 10) → (10,)`). A
tensor used several times shows the sum of the contributions. Scopes (`features.0 (Conv2d)`,
`conv2d`) become nested clusters; `collapse` draws composites as one box each (with the layer
rule of the composite, checked against the engine's gradient) and `max_nodes` collapses the
deepest scopes first.

Values are the ones the forward computed (each node keeps its outputs until backward frees the
graph) and gradients the ones the engine's backward computes: drawing runs one backward pass with
an observer (`autograd/_capture.py`) that keeps the graph, never changes a `.grad` and runs no
tensor hook. So draw before `backward()`, or after `backward(retain_graph=True)`; after a plain
`backward()` the picture shows the structure and says the numbers were freed. A graph whose
leaves changed since it was built (an optimizer step) is refused, never drawn with recomputed
numbers. Gradients need a root with one element.

Rendering uses Graphviz's `dot` when it is on PATH, else the `dot`-compatible binary of the
`graphviz-pure` wheel; `renderer()` says which, or how to get one. Text is laid out in Helvetica,
which graphviz-pure measures and draws with its bundled metric twin (Arimo); SVG is laid out in
DejaVu Sans, the widest of the usual sans fonts and the one most Linux machines have, so a viewer
with any of them finds the text inside its box.
"""
import html
import importlib.metadata
import io
import math
import os
import pathlib
import shutil

import graphviz
import numpy as np

from . import _formula_text as ft
from ._capture import Capture
from ._graph_walk import (BACKWARD_SCOPE, Graph, Names, broadcast_axes, in_gradient_part, is_module_scope, key_of,
                          number, plural, shape_text)
from ._hints import stability_hints
from .graph import AccumulateGrad, Edge
from .layer_rules import layer_calls, verify

__all__ = ["draw", "dot", "frames", "animate", "renderer", "Drawing", "explore", "Explorer", "problems"]

SMALL = 16  # tensors with at most this many elements show their values as a grid
FONT = "Helvetica"
SVG_FONT, SVG_FAMILY = "DejaVu Sans", "DejaVu Sans,Arial,Helvetica,sans-serif"
_SHADES = ((0xf7, 0xfc, 0xf0), (0xcc, 0xeb, 0xc5), (0x7b, 0xcc, 0xc4), (0x2b, 0x8c, 0xbe))  # small → large
_CHECK_COLOURS = {"ok": "#b8e0b0", "doubtful": "#ffd59e", "wrong": "#ff8f8f", "unchecked": "#e0e0e0"}
_FILL = {"node": "#fff6dc", "leaf": "#dcebff", "box": "#ffe9c7", "gradient": "#e6ddff"}
_CLUSTER_FILLS = ("#f4f7fb", "#eaf0f7", "#e0e8f2")
_HIGHLIGHT, _CURRENT, _INVISIBLE = "#d62728", "#ff7f0e", "#ffffff00"


def _rms(g):
    return float(np.sqrt(np.mean(np.square(g))))


#: color_by's measures of a gradient g with n elements: (legend words, function)
MEASURES = {
    "grad_rms": ("RMS of the gradient per element, √(Σg²/n)", _rms),
    "grad_mean_abs": ("mean |g| per element", lambda g: float(np.mean(np.abs(g)))),
    "grad_norm": ("norm of the gradient, ‖g‖ (grows with the tensor's size)", lambda g: float(np.linalg.norm(g))),
}

_MEASURE_LABELS = {"grad_rms": "RMS grad", "grad_mean_abs": "mean |grad|", "grad_norm": "‖grad‖"}


# -- rendering -----------------------------------------------------------------------------
def _graphviz_pure_binary():
    """The `graphviz-pure` wheel's dot-compatible executable, or None when it is not installed."""
    try:
        files = importlib.metadata.distribution("graphviz-pure").files or ()
    except importlib.metadata.PackageNotFoundError:
        return shutil.which("graphviz-pure")
    for file in files:
        if file.stem == "graphviz-pure" and file.parent.name in ("bin", "Scripts"):
            path = pathlib.Path(file.locate()).resolve()
            if path.exists():
                return str(path)
    return shutil.which("graphviz-pure")


def renderer():
    """Path of the `dot` that renders pictures: Graphviz's own on PATH, else graphviz-pure's."""
    found = shutil.which("dot") or _graphviz_pure_binary()
    if found is None:
        raise RuntimeError(
            "no Graphviz renderer found: `pip install graphviz-pure` gives a dot-compatible binary "
            "without system packages (or install Graphviz: apt install graphviz / brew install graphviz). "
            "The DOT text works without one: picture.source or autograd.viz.dot(...)."
        )
    return found


def _use_renderer():
    """Point the graphviz package at `renderer()` unless its `dot` already resolves."""
    command = graphviz.backend.dot_command
    if shutil.which(str(command.DOT_BINARY)) is None:
        command.DOT_BINARY = pathlib.Path(renderer())


def _pdf_from_png(png):
    """graphviz-pure writes no PDF: wrap its PNG in one (a raster page, via Pillow)."""
    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(out, format="PDF", resolution=96)
    return out.getvalue()


def _svg_fonts(svg):
    """Let an SVG viewer without DejaVu Sans fall back to a narrower sans font, never to a serif one."""
    old, new = f'font-family="{SVG_FONT}"', f'font-family="{SVG_FAMILY}"'
    return svg.replace(old.encode(), new.encode()) if isinstance(svg, bytes) else svg.replace(old, new)


class Drawing(graphviz.Digraph):
    """A graphviz.Digraph that finds a renderer (system dot or graphviz-pure) before rendering.

    SVG is laid out in DejaVu Sans (see the module docstring); PDF through graphviz-pure is its PNG
    wrapped in a PDF page. Renderer warnings (e.g. font widths of non-ASCII glyphs) are silenced
    unless quiet=False.
    """

    def _pure_pdf(self, format):
        return (format or self.format) == "pdf" and pathlib.Path(graphviz.backend.dot_command.DOT_BINARY).name \
            .startswith("graphviz-pure")

    def _in_svg_font(self):
        copy = self.copy()
        copy.body = [line.replace(f'fontname="{FONT}"', f'fontname="{SVG_FONT}"') for line in self.body]
        return copy

    def pipe(self, format=None, *args, quiet=True, **kwargs):
        _use_renderer()
        if self._pure_pdf(format):
            return _pdf_from_png(super().pipe("png", *args, quiet=quiet, **{**kwargs, "encoding": None}))
        if (format or self.format) == "svg":
            return _svg_fonts(graphviz.Digraph.pipe(self._in_svg_font(), "svg", *args, quiet=quiet, **kwargs))
        return super().pipe(format, *args, quiet=quiet, **kwargs)

    def render(self, *args, quiet=True, format=None, **kwargs):
        _use_renderer()
        if self._pure_pdf(format):
            png = super().render(*args, quiet=quiet, format="png", **kwargs)
            pdf = os.path.splitext(png)[0] + ".pdf"
            with open(png, "rb") as source, open(pdf, "wb") as target:
                target.write(_pdf_from_png(source.read()))
            os.remove(png)
            return pdf
        if (format or self.format) == "svg":
            path = graphviz.Digraph.render(self._in_svg_font(), *args, quiet=quiet, format="svg", **kwargs)
            pathlib.Path(path).write_bytes(_svg_fonts(pathlib.Path(path).read_bytes()))
            return path
        return super().render(*args, quiet=quiet, format=format, **kwargs)


# -- public API ----------------------------------------------------------------------------
def dot(root, params=None, **options):
    """The DOT text of `draw(root, params, **options)`."""
    return _Scene(root, params, **options).dot()


def draw(root, params=None, *, show_values="auto", show_grads=True, show_dtype=True, show_saved=False, collapse=(),
         group_scopes=True, highlight=None, color_by=None, rankdir="TB", dpi=None, size=None, edge_labels=True,
         max_nodes=None, check=False, chain_rule="auto", numbering=True):
    """Picture of the backward graph that ends in `root`, as a `graphviz.Digraph`.

    params: a Module or a {name: tensor} dict naming the leaves.
    show_values: True (every tensor's data: numbers, grids, or norms of large ones), "auto" (numbers and grids of
        tensors with at most 16 elements) or False (no data, gradients as norms: a compact picture).
    show_grads: gradients of root w.r.t. every node output and leaf (as numbers like the data, else norms).
    show_dtype: the `(4, 3) float32` line of each box (False leaves it out).
    show_saved: what each node keeps for its VJP, with bytes, and the graph's total.
    collapse: scope names (`"conv2d"`, `"features.0"`, `"Conv2d"`) drawn as one box; True for every composite.
        A collapsed composite with a layer rule shows the rule, checked against the engine's gradient.
    group_scopes: draw scopes as nested clusters.
    highlight: a tensor of the graph; every path from it to the root is drawn in red.
    color_by: "grad" (= "grad_rms", the gradient's RMS per element), "grad_mean_abs" or "grad_norm": shade
        boxes from pale to dark by that measure (log scale), with a colour bar saying which.
    rankdir: "TB" (top to bottom), "LR" (left to right: wide slides), "BT" or "RL".
    dpi: pixels per inch of PNG output; size: the largest (width, height) in inches, scaled down to fit.
    edge_labels: False leaves edges unlabelled (each box still shows its output's shape): a compact picture.
    max_nodes: collapse the deepest scopes first until at most this many boxes remain.
    check: compare each node's VJP with central differences; boxes coloured by relative error.
    chain_rule: edges show `upstream · local → downstream`; "auto" does it on scalar graphs.
    numbering: number nodes in the order backward visits them.
    """
    scene = _Scene(root, params, show_values=show_values, show_grads=show_grads, show_dtype=show_dtype,
                   show_saved=show_saved, collapse=collapse, group_scopes=group_scopes, highlight=highlight,
                   color_by=color_by, rankdir=rankdir, dpi=dpi, size=size, edge_labels=edge_labels,
                   max_nodes=max_nodes, check=check, chain_rule=chain_rule, numbering=numbering)
    return Drawing(name="backward", body=scene.body())


def frames(root, params=None, **options):
    """One picture per backward step: frame k shows the graph after backward ran k nodes.

    The node that just ran is outlined in orange; nodes still waiting are grey; a gradient shows once
    it is complete, and a scalar used several times shows the contributions that arrived so far. Every
    frame holds the same text (what has not happened yet is written in transparent ink), so Graphviz
    lays every frame out alike and nothing moves between steps. Takes `draw`'s options.
    """
    scene = _Scene(root, params, **options)
    for step in range(1, len(scene.graph.nodes) + 1):
        yield Drawing(name="backward", body=scene.body(step))


def animate(root, path, params=None, *, seconds_per_step=1.2, **options):
    """Write the backward steps of `frames` as an animated GIF (Pillow) at `path`; returns the path.

    Takes `draw`'s options (e.g. dpi=, rankdir=). The last frame stays twice as long.
    """
    from PIL import Image

    pictures = [Image.open(io.BytesIO(frame.pipe(format="png"))).convert("RGB")
                for frame in frames(root, params, **options)]
    width, height = max(p.width for p in pictures), max(p.height for p in pictures)
    canvas = []
    for picture in pictures:  # one layout, so at most a pixel of rounding between frames: pad to one size
        page = Image.new("RGB", (width, height), "white")
        page.paste(picture, (0, 0))
        canvas.append(page)
    durations = [int(seconds_per_step * 1000)] * len(canvas)
    durations[-1] *= 2
    canvas[0].save(path, save_all=True, append_images=canvas[1:], duration=durations, loop=0)
    return path


# -- building the picture ------------------------------------------------------------------
class _Unit:
    """One box of the picture: a backward node, a leaf, or a collapsed scope (with its layer calls)."""

    __slots__ = ("id", "kind", "nodes", "leaf", "scope", "path", "calls")

    def __init__(self, id, kind, nodes=(), leaf=None, scope=()):
        self.id = id
        self.kind = kind
        self.nodes = list(nodes)
        self.leaf = leaf
        self.scope = scope  # the node's scope, or a box's collapsed scope prefix
        self.path = ()  # the clusters it is drawn in
        self.calls = []  # (LayerCall, its nodes) whose composite this box draws


def _matches(element, names):
    """Whether a scope element is named in `collapse`: whole, by module name, or by class name."""
    if element in names:
        return True
    if element.endswith(")") and " (" in element:
        name, cls = element[:-1].split(" (", 1)
        return name in names or cls in names
    return False


def _escape(text):
    return html.escape(str(text), quote=True)


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ink(text, visible=True):
    """Escaped text; written in transparent ink when not `visible` (it still takes its place)."""
    return _escape(text) if visible else f'<font color="{_INVISIBLE}">{_escape(text)}</font>'


def _wrapped(formula, width=20):
    """A long `a = b` on two lines, after the `=`."""
    left, _, right = formula.partition(" = ")
    if len(formula) <= width or not right:
        return _escape(formula)
    return _escape(left + " =") + "<br/>" + _escape(right)


def _bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def _ranges(steps):
    """#22–#28, #35: backward steps written as runs."""
    steps = sorted(steps)
    runs, start = [], steps[0]
    for previous, step in zip(steps, steps[1:] + [None]):
        if step != previous + 1:
            runs.append(f"#{start}" if start == previous else f"#{start}–#{previous}")
            start = step
    return ", ".join(runs)


def _grid(label, array, visible=True):
    """A small tensor's values as a table, the label in front: one row per index of the leading axes (a vector
    of more than 8 in rows of 4)."""
    array = np.asarray(array)
    across = array.size if array.size <= 8 else 4
    if array.ndim > 1:
        rows = array.reshape(-1, array.shape[-1])
    else:
        rows = [array[i:i + across] for i in range(0, array.size, across)]
    cells = []
    for i, row in enumerate(rows):
        head = f'<td align="left" valign="top" rowspan="{len(rows)}">{_ink(label, visible)}</td>' if i == 0 else ""
        cells.append("<tr>" + head + "".join(f'<td align="right">{_ink(number(v), visible)}</td>' for v in row)
                     + "</tr>")
    return '<table border="0" cellborder="0" cellspacing="0" cellpadding="1">' + "".join(cells) + "</table>"


def _shade(t):
    """The colour at t ∈ [0, 1] of the pale-to-dark scale (piecewise linear between its anchors)."""
    t = min(max(t, 0.0), 1.0) * (len(_SHADES) - 1)
    i = min(int(t), len(_SHADES) - 2)
    rgb = [round(a + (b - a) * (t - i)) for a, b in zip(_SHADES[i], _SHADES[i + 1])]
    return "#" + "".join(f"{c:02x}" for c in rgb)


class _Scene:
    """Everything a picture shows, computed once; `body(step)` writes the DOT statements."""

    def __init__(self, root, params=None, *, show_values="auto", show_grads=True, show_dtype=True, show_saved=False,
                 collapse=(), group_scopes=True, highlight=None, color_by=None, rankdir="TB", dpi=None, size=None,
                 edge_labels=True, max_nodes=None, check=False, chain_rule="auto", numbering=True):
        if show_values not in (True, False, "auto"):
            raise ValueError(f"draw: show_values must be True, False or 'auto', got {show_values!r}")
        color_by = "grad_rms" if color_by == "grad" else color_by
        if color_by is not None and color_by not in MEASURES:
            raise ValueError(f"draw: color_by must be None, 'grad' or one of {sorted(MEASURES)}, got {color_by!r}")
        if rankdir not in ("TB", "BT", "LR", "RL"):
            raise ValueError(f"draw: rankdir must be one of TB, BT, LR, RL, got {rankdir!r}")
        self.graph = graph = Graph(root)
        self.names = Names(graph, params)
        self.show_values, self.show_grads, self.show_saved = show_values, show_grads, show_saved
        self.show_dtype, self.edge_labels, self.group_scopes = show_dtype, edge_labels, group_scopes
        self.color_by, self.numbering = color_by, numbering
        self.layout = {"rankdir": rankdir, "dpi": dpi, "size": size if size is None or isinstance(size, str)
                       else ",".join(str(v) for v in size)}
        self.notes = []
        self.capture = Capture(graph, self.names)
        self.binder = ft.Binder(self.names, self.capture)
        self.has_grads = self.capture.backward()
        self._note_capture()
        self.scalar = all(math.prod(shape) == 1 for node in graph.nodes for shape, _ in node.out_meta) and all(
            leaf.size == 1 for leaf in graph.leaves)
        self.chain = self.has_grads and (chain_rule is True or (chain_rule == "auto" and self.scalar))
        self.hints = stability_hints(graph, self.capture)
        self.errors = {node: self.capture.check(node) for node in graph.nodes} if check else None
        self._make_units(collapse, max_nodes)
        self._mark_highlight(highlight)
        measures = [m for m in map(self._measure, self.units) if m] if color_by else []
        self._measure_range = (np.log10(min(measures)), np.log10(max(measures))) if measures else None

    def _note_capture(self):
        capture = self.capture
        self.notes += capture.problems()
        if not self.has_grads and self.show_grads and not capture.freed:
            self.notes.append(f"no gradients shown: the output has shape {self.graph.root.shape}, "
                              "not a single element")

    # -- units and clusters ----------------------------------------------------------------
    def _box_prefix(self, scope, names, collapse_all, depth):
        for i, element in enumerate(scope):
            if _matches(element, names) or (collapse_all and not is_module_scope(element)):
                return scope[:i + 1]
            if depth is not None and i >= depth:
                return scope[:i + 1]
        return None

    def _assign(self, names, collapse_all, depth):
        """node -> unit key: the node itself, or ("box", scope prefix, its entries' identities) when
        collapsed: one box per call of a composite, even for two calls in the same place."""
        keys = {}
        for node in self.graph.nodes:
            prefix = self._box_prefix(node.scope, names, collapse_all, depth)
            keys[node] = node if prefix is None else ("box", prefix, tuple(map(id, prefix)))
        return keys

    def _make_units(self, collapse, max_nodes):
        graph = self.graph
        collapse_all = collapse is True
        if collapse in (True, False, None):
            names = set()
        else:
            names = {collapse} if isinstance(collapse, str) else set(collapse)
        keys = self._assign(names, collapse_all, None)
        count = len(set(keys.values())) + len(graph.leaves)
        if max_nodes is not None and count > max_nodes:
            deepest = max((len(node.scope) for node in graph.nodes), default=0)
            before = count
            depth = deepest
            while depth > 0 and count > max_nodes:
                depth -= 1
                keys = self._assign(names, collapse_all, depth)
                count = len(set(keys.values())) + len(graph.leaves)
            if count <= max_nodes:
                self.notes.append(f"max_nodes={max_nodes}: scopes deeper than {plural(depth, 'level')} collapsed "
                                  f"({before} boxes → {count})")
            else:
                self.notes.append(f"max_nodes={max_nodes}: still {count} boxes after collapsing every scope "
                                  f"(from {before}); the rest of the graph has no scopes to collapse")
        self.units = []
        self.unit_of = {}  # node or a leaf's graph position -> unit
        boxes = {}
        for node in graph.nodes:
            key = keys[node]
            if key is node:
                unit = _Unit(f"n{graph.step[node]}", "node", [node], scope=node.scope)
                self.units.append(unit)
            else:
                unit = boxes.get(key)
                if unit is None:
                    unit = boxes[key] = _Unit(f"b{len(boxes) + 1}", "box", scope=key[1])
                    self.units.append(unit)
                unit.nodes.append(node)
            self.unit_of[node] = unit
        for i, leaf in enumerate(graph.leaves):
            unit = _Unit(f"l{i + 1}", "leaf", leaf=leaf)
            self.units.append(unit)
            self.unit_of[key_of(leaf)] = unit
        if boxes:
            for call, members in layer_calls(graph):
                unit = self.unit_of[call.node]
                if unit.kind == "box" and unit.scope == call.scope:
                    unit.calls.append((call, members))
        box_scopes = {unit.scope for unit in boxes.values()}
        for unit in self.units:
            unit.path = self._cluster_path(unit, box_scopes) if self.group_scopes else ()

    def _cluster_path(self, unit, box_scopes):
        if unit.kind == "node":
            return unit.scope
        if unit.kind == "box":
            return unit.scope[:-1]
        # a leaf sits in the deepest module scope shared by everything that uses it
        scopes = [self.unit_of[edge.node].scope for edge in self.graph.consumers.get(key_of(unit.leaf), ())]
        if not scopes:
            return ()
        common = scopes[0]
        for scope in scopes[1:]:
            n = 0
            while n < min(len(common), len(scope)) and common[n] == scope[n]:
                n += 1
            common = common[:n]
        for n in range(1, len(common) + 1):
            if common[:n] in box_scopes:
                common = common[:n - 1]
                break
        while common and not is_module_scope(common[-1]):
            common = common[:-1]
        return common

    def _mark_highlight(self, tensor):
        self.lit_units, self.lit_edges = set(), set()
        if tensor is None:
            return
        unit = self._unit_at(key_of(tensor)) if tensor.requires_grad else None
        if unit is None:
            raise ValueError(f"highlight: the tensor of shape {tensor.shape} is not part of this graph")
        key = key_of(tensor)
        reach = self.graph.reaching(key)
        self.lit_units = {self.unit_of[node] for node in reach}
        self.lit_units.add(unit)
        self.lit_edges = {edge for edge in self.graph.edges if self.graph.on_path(edge, key, reach)}

    def _unit_at(self, key):
        """The box drawing a graph position: the leaf's, or the one holding the node (None if absent)."""
        return self.unit_of.get(key if isinstance(key[0], AccumulateGrad) else key[0])

    # -- per-unit facts ----------------------------------------------------------------------
    def _contributions(self, key):
        """[(step of the node that sent it, gradient)] for each flow into `key`, in backward order."""
        if not self.has_grads:
            return []
        flows = self.capture.flows
        return sorted(((self.graph.step[e.node], flows[e][1]) for e in self.graph.consumers.get(key, ())
                       if e in flows), key=lambda part: part[0])

    def _measure(self, unit):
        """color_by's measure of the largest gradient a unit shows (None without gradients, and for the root,
        whose gradient is the seed 1)."""
        if not self.has_grads:
            return None
        measure = MEASURES[self.color_by][1]
        keys = [key for key in self._shown(unit) if key != self.graph.root_key]
        values = [measure(np.asarray(g, np.float64)) for g in map(self.capture.grad, keys) if g is not None]
        return max(values) if values else None

    def _shown(self, unit):
        """The graph positions whose values a unit shows: a leaf, a node's outputs, a box's outputs that
        leave it (or are the root)."""
        if unit.kind == "leaf":
            return [key_of(unit.leaf)]
        keys = [Edge(node, slot) for node in unit.nodes for slot in range(node.n_outputs)]
        if unit.kind == "node":
            return keys
        members = set(unit.nodes)
        return [key for key in keys if key == self.graph.root_key
                or any(e.node not in members for e in self.graph.consumers.get(key, ()))]

    def _check_state(self, unit):
        if self.errors is None or unit.kind == "leaf":
            return None, None
        worst, why = None, None
        for node in unit.nodes:
            error, reason = self.errors[node]
            if error is None:
                why = why or reason
            elif worst is None or error > worst:
                worst = error
        if worst is None:
            return "unchecked", why
        return ("ok" if worst < 1e-5 else "doubtful" if worst < 1e-2 else "wrong"), worst

    # -- labels --------------------------------------------------------------------------------
    def _shows_values(self, size):
        return self.show_values is True or (self.show_values == "auto" and size <= SMALL)

    def _value_rows(self, key, shape, step):
        """data / grad rows for one tensor (a leaf or a node output); gradients not yet arrived at `step`
        are written in transparent ink."""
        value = self.capture.value(key)
        size = math.prod(shape)
        data = None
        if value is not None and self._shows_values(size):
            data = ("data", value)
        grad = self.capture.grad(key) if self.show_grads and self.has_grads else None
        if grad is None:
            return [] if data is None else [self._tensor_row(*data, size, True)]
        parts = self._contributions(key)
        arrived = [g for ran, g in parts if step is None or ran <= step]
        complete = step is None or key == self.graph.root_key or len(arrived) == len(parts)
        if size == 1:
            text = self._scalar_grad(grad, parts, arrived, complete)
            if data is not None:
                return [_ink(f"data {number(np.asarray(value).reshape(()))}") + _ink(" | ", bool(arrived) or complete)
                        + text]
            return [text]
        rows = [] if data is None else [self._tensor_row(*data, size, True)]
        rows.append(self._tensor_row("grad", grad, size, complete))
        return rows + ([_ink(f"(the sum of {len(parts)} contributions)", complete)] if len(parts) > 1 else [])

    def _tensor_row(self, label, array, size, visible):
        if size == 1:
            return _ink(f"{label} {number(np.asarray(array).reshape(()))}", visible)
        if size <= SMALL and self.show_values:
            return _grid(label, array, visible)
        array = np.asarray(array, np.float64)
        if label == "grad" and self.color_by:  # the measure the colour shows
            words, measure = _MEASURE_LABELS[self.color_by], MEASURES[self.color_by][1]
            return _ink(f"{words} {number(measure(array))}", visible)
        return _ink(f"‖{label}‖ {number(np.linalg.norm(array))}", visible)

    @staticmethod
    def _scalar_grad(grad, parts, arrived, complete):
        """`grad −3 + 1 = −2` for a scalar used twice; the terms not yet arrived in transparent ink."""
        values = [float(np.asarray(g).reshape(())) for _, g in parts]
        if len(values) < 2:
            return _ink(f"grad {number(np.asarray(grad).reshape(()))}", complete)
        terms = ["grad " + number(values[0])] + [f" − {number(-v)}" if v < 0 else f" + {number(v)}" for v in values[1:]]
        return _ink("".join(terms[:len(arrived)])) + _ink("".join(terms[len(arrived):]) + f" = {number(sum(values))}",
                                                          complete)

    def _saved_row(self, node):
        if node.released:
            return "saved values freed by backward"
        if not node.saved:
            return "saves nothing"
        parts = [f"{symbol or ('input' if kind == 'input' else 'array')} {shape_text(shape)}"
                 for symbol, kind, shape in node.saved_symbols()]
        return "saves " + ", ".join(parts) + f" · {_bytes(node.saved_nbytes)}"

    def _meta_rows(self, shape, dtype, prefix=""):
        return [_escape(f"{prefix}{shape_text(shape)} {np.dtype(dtype).name}")] if self.show_dtype else []

    def _label(self, unit, step):
        state = self._frame_state(unit, step)
        check, detail = self._check_state(unit)
        title_fill = _CHECK_COLOURS[check] if check else _FILL["gradient" if self._gradient(unit) else unit.kind]
        if unit.kind == "leaf":
            title, rows = self._leaf_rows(unit, step)
        elif unit.kind == "node":
            title, rows = self._node_rows(unit, step)
        else:
            title, rows = self._box_rows(unit, step)
        if check == "unchecked":
            rows.append(_escape(f"VJP not checked: {detail}"))
        elif check:
            rows.append(_escape(f"VJP check: rel. error {detail:.1e}" + (" (wrong?)" if check == "wrong" else "")))
        for node, message in self.hints:
            if node in unit.nodes:
                rows.append(_escape("unstable: " + message.split(":")[0]))
        if self._is_root(unit):
            rows.append(_escape(f"output: {self.names.root}"))
        return self._table(title, rows, title_fill, unit, state)

    def _leaf_rows(self, unit, step):
        key = key_of(unit.leaf)
        return self.names[key], self._meta_rows(unit.leaf.shape, unit.leaf.dtype) + self._value_rows(
            key, unit.leaf.shape, step)

    def _node_rows(self, unit, step):
        node = unit.nodes[0]
        title = node.title
        if self.numbering:
            title = f"#{self.graph.step[node]} {title}"
        rows = [_escape((self.binder.of(Edge(node, 0)) + ft.EQ + ft.forward(node, self.binder)).text)]
        for slot, (shape, dtype) in enumerate(node.out_meta):
            rows += self._meta_rows(shape, dtype, f"out {slot}: " if node.n_outputs > 1 else "")
            rows += self._value_rows(Edge(node, slot), shape, step)
        if self.show_saved:
            rows.append(_escape(self._saved_row(node)))
        return title, rows

    def _box_rows(self, unit, step):
        rows = [_escape(f"steps {_ranges([self.graph.step[node] for node in unit.nodes])}")] if self.numbering else []
        ops = list(dict.fromkeys(node.name for node in reversed(unit.nodes)))
        listed = f"{plural(len(unit.nodes), 'op')}: {ops[0]}"
        for op in ops[1:]:
            if len(listed) + len(op) > 20:
                listed += ", …"
                break
            listed += f", {op}"
        rows.append(_escape(listed))
        for call, members in unit.calls:
            rows += self._rule_rows(call, members, step)
        return unit.scope[-1], rows + self._box_outputs(unit, step)

    def _rule_rows(self, call, members, step):
        """The composite's layer rule, one line per input that takes a gradient, and how it compares with
        the engine's gradient (written once the call's nodes have all run)."""
        rule = call.rule
        rows = [_escape("rule, ḡ = ∂L/∂Y:")] + [_wrapped(rule.vjps[p][0]) for p in call.inputs()]
        if self.has_grads and not self.capture.freed:
            checks = [c for c in verify(call, members, self.capture).values() if c.error is not None]
            done = step is None or max(self.graph.step[node] for node in members) <= step
            if checks:
                sign = "=" if all(c.agrees for c in checks) else "≠"
                rows.append(_ink(f"{sign} engine, Δ {number(max(c.error for c in checks), 1)}", done))
        return rows

    def _box_outputs(self, unit, step):
        rows = []
        for key in self._shown(unit):
            shape, dtype = key.node.out_meta[key.index]
            rows.append(_escape(f"→ {self.names[key]} {shape_text(shape)}"
                                + (f" {np.dtype(dtype).name}" if self.show_dtype else "")))
            rows += self._value_rows(key, shape, step)
        return rows

    def _gradient(self, unit):
        return unit.kind != "leaf" and all(in_gradient_part(node) for node in unit.nodes)

    def _is_root(self, unit):
        return self.graph.root._node in unit.nodes or unit.leaf is self.graph.root

    def _table(self, title, rows, title_fill, unit, state):
        """The box: its border width depends on the unit only (never on the step), so frames keep one layout."""
        border, colour, style = 1, "#555555", ""
        body = "#ffffff"
        if self.color_by:
            body = self._colour(self._measure(unit))
        if self._is_root(unit):
            border = 2
        if unit in self.lit_units:
            border, colour = 3, _HIGHLIGHT
        if self._gradient(unit):
            style = ' style="dashed"'
        if state == "current":
            colour, title_fill = _CURRENT, "#ffd8a8"
        elif state == "waiting":
            colour, title_fill, body = "#aaaaaa", "#eeeeee", "#f7f7f7"
        font = ' color="#888888"' if state == "waiting" else ""
        cells = [f'<tr><td bgcolor="{title_fill}"><font{font}><b>{_escape(title)}</b></font></td></tr>']
        cells += [f'<tr><td><font point-size="9"{font}>{row}</font></td></tr>' for row in rows]
        return (f'<<table border="{border}" cellborder="0" cellspacing="0" cellpadding="2" color="{colour}" '
                f'bgcolor="{body}"{style}>' + "".join(cells) + "</table>>")

    def _colour(self, value):
        if value is None or value <= 0 or not np.isfinite(value):
            return "#eeeeee"
        low, high = self._measure_range
        return _shade(0.0 if high <= low else (np.log10(value) - low) / (high - low))

    def _frame_state(self, unit, step):
        if step is None:
            return None
        if unit.kind == "leaf":
            arrived = any(self.graph.step[e.node] <= step for e in self.graph.consumers.get(key_of(unit.leaf), ()))
            return None if arrived else "waiting"
        steps = [self.graph.step[node] for node in unit.nodes]
        if step in steps:
            return "current"
        return None if max(steps) < step else "waiting"

    # -- edges ---------------------------------------------------------------------------------
    def _edge_label(self, edge):
        shape = edge.node.in_meta[edge.index][0]
        flow = self.capture.flows.get(edge) if self.has_grads else None
        if flow is None:
            return shape_text(shape)
        raw, g = flow
        if self.chain and edge.node.n_outputs == 1:
            upstream = self.capture.grad(Edge(edge.node, 0))
            local = self.capture.local(edge)
            if upstream is not None and local is not None:
                return f"{number(np.asarray(upstream).reshape(()))} · {number(np.asarray(local).reshape(()))}" \
                       f" → {number(np.asarray(g).reshape(()))}"
        if tuple(raw) != tuple(shape):
            return f"sum over axes {broadcast_axes(raw, shape)} : {shape_text(raw)} → {shape_text(shape)}"
        if np.size(g) == 1:
            return number(np.asarray(g).reshape(()))
        return shape_text(shape)

    def _edges(self, step):
        lines = []
        merged = {}
        for edge in self.graph.edges:
            source = self.unit_of[edge.node]
            target = self._unit_at(edge.key)
            if source is target:
                continue
            attributes = {"label": self._edge_label(edge)} if self.edge_labels else {}
            if edge in self.lit_edges:
                attributes.update(color=_HIGHLIGHT, penwidth="2.2", fontcolor=_HIGHLIGHT)
            elif in_gradient_part(edge.node):
                attributes.update(style="dashed", color="#7b5fc7")
            if step is not None:
                ran = self.graph.step[edge.node]
                if ran == step:
                    attributes.update(color=_CURRENT, penwidth="2.2")
                elif ran > step:  # its label keeps its place, in transparent ink
                    attributes.update(color="#bbbbbb", fontcolor=_INVISIBLE)
            if source.kind == "box" or target.kind == "box":
                pair = (source.id, target.id)
                if pair in merged:
                    merged[pair] += 1
                    continue
                merged[pair] = 1
            lines.append((source.id, target.id, attributes))
        out = []
        for source, target, attributes in lines:
            count = merged.get((source, target), 1)
            if count > 1 and self.edge_labels:
                attributes["label"] += f" (×{count})"
            text = ", ".join(f"{k}={_quote(v)}" for k, v in attributes.items())
            out.append(f"\t{source} -> {target} [{text}]\n")
        return out

    # -- the DOT text --------------------------------------------------------------------------
    def _step_note(self, step):
        node = self.graph.nodes[step - 1]
        return (f"backward step {step} of {len(self.graph.nodes)}: #{step} {node.title} "
                "sends its gradient to its inputs")

    def _notes(self):
        notes = list(self.notes)
        if self.show_saved:
            held = [node for node in self.graph.nodes if not node.released and node.saved]
            if held:
                total = sum(node.saved_nbytes for node in held)
                notes.append(f"saved for backward: {_bytes(total)} held by {len(held)} of "
                             f"{len(self.graph.nodes)} nodes")
            elif any(node.released for node in self.graph.nodes):
                notes.append("saved values were freed by backward() (pass retain_graph=True to keep them)")
        if self.errors is not None:
            notes.append("VJP check (central differences, float64): green < 1e-5 ≤ orange < 1e-2 ≤ red; "
                         "kinks and ties (relu at 0, max) can disagree")
        return notes + ["unstable: " + message for _, message in self.hints]

    def _legend(self):
        """The colour bar of color_by: pale to dark, with the measure's words and its range."""
        if not self.color_by or self._measure_range is None:
            return ""
        low, high = self._measure_range
        bar = "".join(f'<td bgcolor="{_shade(i / 11)}" width="14"> </td>' for i in range(12))
        words = MEASURES[self.color_by][0]
        return (f'<tr><td align="left"><table border="0" cellborder="0" cellspacing="0" cellpadding="2"><tr>'
                f'<td>{_escape(f"colour: {words}, log scale   {number(10 ** low)}")}</td>{bar}'
                f'<td>{_escape(number(10 ** high))}</td></tr></table></td></tr>')

    def _graph_label(self, step):
        """Notes, the step being drawn and the colour bar, as one table. The step line has a fixed width
        (the longest of all steps'), so every frame's label, and hence its layout, has one size."""
        rows = []
        if step is not None:
            width = 6 * max(len(self._step_note(k)) for k in range(1, len(self.graph.nodes) + 1))
            rows.append(f'<tr><td align="left" width="{width}" height="16" fixedsize="true">'
                        f'{_escape(self._step_note(step))}</td></tr>')
        rows += [f'<tr><td align="left">{_escape(note)}</td></tr>' for note in self._notes()]
        rows.append(self._legend())
        rows = [row for row in rows if row]
        if not rows:
            return ""
        return ('\tlabel=<<table border="0" cellborder="0" cellspacing="0" cellpadding="1">'
                + "".join(rows) + "</table>>\n")

    def body(self, step=None):
        """The DOT statements; `step` draws the state after backward ran that many nodes."""
        layout = "".join(f", {k}={_quote(v)}" for k, v in self.layout.items() if v is not None)
        ranksep = 0.2 if self.layout["rankdir"] in ("LR", "RL") else 0.35
        lines = [
            f'\tgraph [fontname="{FONT}", fontsize=11, labelloc=t, labeljust=l, nodesep=0.3, ranksep={ranksep}'
            f'{layout}]\n',
            f'\tnode [shape=plain, fontname="{FONT}", fontsize=10]\n',
            f'\tedge [fontname="{FONT}", fontsize=9, color="#555555", arrowsize=0.7]\n',
        ]
        label = self._graph_label(step)
        if label:
            lines.append(label)
        order = sorted(range(len(self.units)), key=lambda i: self.units[i].path)
        open_path = ()
        clusters = 0
        for i in order:
            unit = self.units[i]
            n = 0
            while n < min(len(open_path), len(unit.path)) and open_path[n] == unit.path[n]:
                n += 1
            for depth in range(len(open_path), n, -1):
                lines.append("\t" * depth + "}\n")
            for depth in range(n, len(unit.path)):
                clusters += 1
                element = unit.path[depth]
                fill = _FILL["gradient"] if element.startswith(BACKWARD_SCOPE) else _CLUSTER_FILLS[depth % 3]
                lines.append("\t" * (depth + 1) + f"subgraph cluster_{clusters} {{ label={_quote(element)}; "
                             f"style=\"rounded,filled\"; fillcolor=\"{fill}\"; color=\"#9aa7b8\"; fontsize=10\n")
            open_path = unit.path
            lines.append("\t" * (len(open_path) + 1) + f"{unit.id} [label={self._label(unit, step)}]\n")
        for depth in range(len(open_path), 0, -1):
            lines.append("\t" * depth + "}\n")
        return lines + self._edges(step)

    def dot(self, step=None):
        return "digraph backward {\n" + "".join(self.body(step)) + "}\n"


# the explorer page and its exercises build on this module's pictures, so they are imported last
from .explore import Explorer, explore  # noqa: E402
from . import problems  # noqa: E402
