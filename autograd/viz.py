"""Pictures of the backward graph, built as Graphviz DOT text and rendered with pip alone.

    from autograd import viz
    picture = viz.draw(loss, model)      # a graphviz.Digraph: .source, .render("g", format="png"), Jupyter
    text = viz.dot(loss)                 # the DOT text itself: no binary needed
    for frame in viz.frames(loss): ...   # one picture per backward step

A picture has one box per backward node (the VJP that backward runs, `#3 MulBackward`,
numbered in the order backward visits it, with the primitive's formula) and one per leaf
(named by `params`, else by `tensor.name`, else t1, t2, …), with shapes, dtypes, values and
gradients of small tensors (`data 2.000 | grad −3.000`) and gradient norms of large ones.
Edges point the way gradients flow and carry the gradient's shape or value; on scalar graphs
the chain rule `upstream · local → downstream`; where broadcasting is undone the implicit sum
(`sum over axes (0,) : (64, 10) → (10,)`). A tensor used several times shows the sum of the
contributions. Scopes (`features.0 (Conv2d)`, `conv2d`) become nested clusters; `collapse`
draws composites as one box each and `max_nodes` collapses the deepest scopes first.

Values are the ones the forward computed (each node keeps its outputs until backward frees
the graph) and gradients the ones the engine's backward computes: drawing runs one backward
pass with an observer (`autograd/_capture.py`) that keeps the graph, never changes a `.grad`
and runs no tensor hook. So draw before `backward()`, or after `backward(retain_graph=True)`;
after a plain `backward()` the picture shows the structure and says the numbers were freed.
A graph whose leaves changed since it was built (an optimizer step) is refused, never drawn
with recomputed numbers. Gradients need a root with one element.

Rendering uses Graphviz's `dot` when it is on PATH, else the `dot`-compatible binary of the
`graphviz-pure` wheel; `renderer()` says which, or how to get one.
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

from ._capture import Capture
from ._graph_walk import (BACKWARD_SCOPE, Graph, broadcast_axes, in_gradient_part, is_module_scope, key_of,
                          leaf_names, number, shape_text)
from ._hints import stability_hints
from .graph import AccumulateGrad

__all__ = ["draw", "dot", "frames", "renderer", "Drawing"]

SMALL = 6  # tensors with at most this many elements show their values
_PALETTE = ("#d1e5f0", "#92c5de", "#f7f7c0", "#f4a582", "#d6604d")  # small → large gradient norms
_CHECK_COLOURS = {"ok": "#b8e0b0", "doubtful": "#ffd59e", "wrong": "#ff8f8f", "unchecked": "#e0e0e0"}
_FILL = {"node": "#fff6dc", "leaf": "#dcebff", "box": "#ffe9c7", "gradient": "#e6ddff"}
_CLUSTER_FILLS = ("#f4f7fb", "#eaf0f7", "#e0e8f2")


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


class Drawing(graphviz.Digraph):
    """A graphviz.Digraph that finds a renderer (system dot or graphviz-pure) before rendering.

    Renderer warnings (e.g. font widths of non-ASCII glyphs) are silenced unless quiet=False.
    PDF through graphviz-pure is its PNG wrapped in a PDF page.
    """

    def _pure_pdf(self, format):
        return (format or self.format) == "pdf" and pathlib.Path(graphviz.backend.dot_command.DOT_BINARY).name \
            .startswith("graphviz-pure")

    def pipe(self, format=None, *args, quiet=True, **kwargs):
        _use_renderer()
        if self._pure_pdf(format):
            return _pdf_from_png(super().pipe("png", *args, quiet=quiet, **{**kwargs, "encoding": None}))
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
        return super().render(*args, quiet=quiet, format=format, **kwargs)


# -- public API ----------------------------------------------------------------------------
def dot(root, params=None, **options):
    """The DOT text of `draw(root, params, **options)`."""
    return _Scene(root, params, **options).dot()


def draw(root, params=None, *, show_values="auto", show_grads=True, show_saved=False, collapse=(),
         group_scopes=True, highlight=None, color_by=None, rankdir="TB", max_nodes=None, check=False,
         chain_rule="auto", numbering=True):
    """Picture of the backward graph that ends in `root`, as a `graphviz.Digraph`.

    params: a Module or a {name: tensor} dict naming the leaves.
    show_values: True, False or "auto" (tensors of at most 6 elements; scalars always).
    show_grads: gradients of root w.r.t. every node output and leaf (values or norms).
    show_saved: what each node keeps for its VJP, with bytes, and the graph's total.
    collapse: scope names (`"conv2d"`, `"features.0"`, `"Conv2d"`) drawn as one box; True for every composite.
    group_scopes: draw scopes as nested clusters.
    highlight: a tensor of the graph; every path from it to the root is drawn in red.
    color_by: "grad_norm" shades boxes by the norm of the gradient flowing through them (log scale).
    max_nodes: collapse the deepest scopes first until at most this many boxes remain.
    check: compare each node's VJP with central differences; boxes coloured by relative error.
    chain_rule: edges show `upstream · local → downstream`; "auto" does it on scalar graphs.
    numbering: number nodes in the order backward visits them.
    """
    scene = _Scene(root, params, show_values=show_values, show_grads=show_grads, show_saved=show_saved,
                   collapse=collapse, group_scopes=group_scopes, highlight=highlight, color_by=color_by,
                   rankdir=rankdir, max_nodes=max_nodes, check=check, chain_rule=chain_rule, numbering=numbering)
    return Drawing(name="backward", body=scene.body())


def frames(root, params=None, **options):
    """One picture per backward step: frame k shows the graph after backward ran k nodes.

    The node that just ran is outlined in orange; nodes still waiting are grey and show the
    part of their gradient that has arrived so far. Takes `draw`'s options.
    """
    scene = _Scene(root, params, **options)
    for step in range(1, len(scene.graph.nodes) + 1):
        yield Drawing(name="backward", body=scene.body(step))


# -- building the picture ------------------------------------------------------------------
class _Unit:
    """One box of the picture: a backward node, a leaf, or a collapsed scope."""

    __slots__ = ("id", "kind", "nodes", "leaf", "scope", "path")

    def __init__(self, id, kind, nodes=(), leaf=None, scope=()):
        self.id = id
        self.kind = kind
        self.nodes = list(nodes)
        self.leaf = leaf
        self.scope = scope  # the node's scope, or a box's collapsed scope prefix
        self.path = ()  # the clusters it is drawn in


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


def _bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def _signed_sum(values):
    """6.000 + 1.000 − 2.000 = 5.000"""
    terms = number(values[0])
    for v in values[1:]:
        terms += f" − {number(-v)}" if v < 0 else f" + {number(v)}"
    return f"{terms} = {number(sum(values))}"


def _array_text(array, label):
    """A small array's values, or the norm of a large one: `[1.000, −2.000]`, `‖grad‖ 3.162`."""
    array = np.asarray(array)
    if array.size == 1:
        return number(array.reshape(()))
    if array.size <= SMALL:
        return "[" + ", ".join(number(v) for v in array.ravel()) + "]"
    return f"‖{label}‖ {number(np.linalg.norm(array.astype(np.float64)))}"


class _Scene:
    """Everything a picture shows, computed once; `body(step)` writes the DOT statements."""

    def __init__(self, root, params=None, *, show_values="auto", show_grads=True, show_saved=False, collapse=(),
                 group_scopes=True, highlight=None, color_by=None, rankdir="TB", max_nodes=None, check=False,
                 chain_rule="auto", numbering=True):
        if show_values not in (True, False, "auto"):
            raise ValueError(f"draw: show_values must be True, False or 'auto', got {show_values!r}")
        if color_by not in (None, "grad_norm"):
            raise ValueError(f"draw: color_by must be None or 'grad_norm', got {color_by!r}")
        if rankdir not in ("TB", "BT", "LR", "RL"):
            raise ValueError(f"draw: rankdir must be one of TB, BT, LR, RL, got {rankdir!r}")
        self.graph = graph = Graph(root)
        self.names = leaf_names(graph, params)
        self.show_values, self.show_grads, self.show_saved = show_values, show_grads, show_saved
        self.group_scopes, self.color_by, self.rankdir, self.numbering = group_scopes, color_by, rankdir, numbering
        self.notes = []
        self.replay = Capture(graph, self.names) if (show_values or show_grads or color_by or check or chain_rule) \
            else None
        self.has_grads = self.replay is not None and self.replay.backward()
        if self.replay is not None:
            self._note_replay()
        self.scalar = all(math.prod(shape) == 1 for node in graph.nodes for shape, _ in node.out_meta) and all(
            leaf.size == 1 for leaf in graph.leaves)
        self.chain = self.has_grads and (chain_rule is True or (chain_rule == "auto" and self.scalar))
        self.hints = stability_hints(graph, self.replay)
        self.errors = {node: self.replay.check(node) for node in graph.nodes} if check else None
        self._make_units(collapse, max_nodes)
        self._mark_highlight(highlight)
        norms = [n for n in map(self._norm, self.units) if n] if color_by else []
        self._norm_range = (np.log10(min(norms)), np.log10(max(norms))) if norms else None

    def _note_replay(self):
        replay = self.replay
        self.notes += replay.problems()
        if not self.has_grads and self.show_grads and not replay.freed:
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
        """node -> unit key: the node itself, or ("box", scope prefix) when collapsed."""
        keys = {}
        for node in self.graph.nodes:
            prefix = self._box_prefix(node.scope, names, collapse_all, depth)
            keys[node] = node if prefix is None else ("box", prefix)
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
                self.notes.append(f"max_nodes={max_nodes}: scopes deeper than {depth} level(s) collapsed "
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
    def _grad_of(self, key, step=None):
        """Gradient of the root at a graph position; before `step` ran, only what arrived so far."""
        if not self.has_grads:
            return None, True
        replay = self.replay
        if step is None or key == self.graph.root_key:
            if isinstance(key[0], AccumulateGrad):
                return replay.leaf_grads.get(key), True
            grads = replay.grads.get(key[0])
            return (None if grads is None else grads[key[1]]), True
        arrived = [replay.flows[e][1] for e in self.graph.consumers.get(key, ())
                   if e in replay.flows and self.graph.step[e.node] <= step]
        complete = all(self.graph.step[e.node] <= step for e in self.graph.consumers.get(key, ()))
        return (sum(arrived[1:], arrived[0]) if arrived else None), complete

    def _contributions(self, key):
        edges = self.graph.consumers.get(key, ())
        if len(edges) < 2 or not self.has_grads:
            return None
        flows = [self.replay.flows[e][1] for e in edges if e in self.replay.flows]
        return flows if len(flows) > 1 else None

    def _norm(self, unit):
        if not self.has_grads:
            return None
        if unit.kind == "leaf":
            keys = [key_of(unit.leaf)]
        else:
            keys = [(node, slot) for node in unit.nodes for slot in range(node.n_outputs)]
        norms = []
        for key in keys:
            g, _ = self._grad_of(key)
            if g is not None:
                norms.append(float(np.linalg.norm(np.asarray(g, np.float64))))
        return max(norms) if norms else None

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
    def _value_rows(self, key, shape, step):
        """data / grad rows for one tensor (a leaf or a node output)."""
        value = self.replay.value(key) if self.replay is not None else None
        size = math.prod(shape)
        rows = []
        data = None
        if value is not None and (self.show_values is True or (self.show_values == "auto" and size <= SMALL)):
            data = _array_text(value, "data") if size > SMALL else f"data {_array_text(value, 'data')}"
        grad, complete = self._grad_of(key, step) if self.show_grads else (None, True)
        grad_text = None
        if grad is not None:
            parts = self._contributions(key) if step is None else None
            if parts is not None and size == 1:
                grad_text = "grad " + _signed_sum([float(np.asarray(p).reshape(())) for p in parts])
            else:
                label = "grad" if complete else "grad so far"
                grad_text = _array_text(grad, label) if size > SMALL else f"{label} {_array_text(grad, label)}"
                if parts is not None:
                    grad_text += f" (sum of {len(parts)})"
        if data and grad_text and size == 1 and len(data) + len(grad_text) < 40:
            rows.append(f"{data} | {grad_text}")
        else:
            rows += [text for text in (data, grad_text) if text]
        return rows

    def _saved_row(self, node):
        if node.released:
            return "saved values freed by backward"
        if not node.saved:
            return "saves nothing"
        symbols = node.formula.inputs if node.formula is not None else ()
        parts = []
        for kind, position, shape in node.saved_items():
            if kind == "input":
                name = symbols[position] if position is not None and position < len(symbols) else "input"
            else:
                name = "y" if kind == "output" else "array"
            parts.append(f"{name} {shape_text(shape)}")
        return "saves " + ", ".join(parts) + f" · {_bytes(node.saved_nbytes)}"

    def _label(self, unit, step):
        state = self._frame_state(unit, step)
        check, detail = self._check_state(unit)
        title_fill = _CHECK_COLOURS[check] if check else _FILL["gradient" if self._gradient(unit) else unit.kind]
        rows = []
        if unit.kind == "leaf":
            leaf = unit.leaf
            title = self.names[key_of(leaf)]
            rows.append(f"{shape_text(leaf.shape)} {leaf.dtype}")
            rows += self._value_rows(key_of(leaf), leaf.shape, step)
        elif unit.kind == "node":
            node = unit.nodes[0]
            title = f"{type(node).__name__}Backward"
            if self.numbering:
                title = f"#{self.graph.step[node]} {title}"
            rows.append(f"y = {node.formula.text}" if node.formula is not None else "user Function")
            for slot, (shape, dtype) in enumerate(node.out_meta):
                prefix = f"out {slot}: " if node.n_outputs > 1 else ""
                rows.append(f"{prefix}{shape_text(shape)} {np.dtype(dtype).name}")
                rows += self._value_rows((node, slot), shape, step)
            if self.show_saved:
                rows.append(self._saved_row(node))
        else:
            title = unit.scope[-1]
            if self.numbering:
                steps = [self.graph.step[node] for node in unit.nodes]
                title += f"  #{min(steps)}–#{max(steps)}"
            ops = []
            for node in reversed(unit.nodes):
                if node.name not in ops:
                    ops.append(node.name)
            rows.append(f"{len(unit.nodes)} ops: " + ", ".join(ops[:5]) + (", …" if len(ops) > 5 else ""))
            rows += self._box_outputs(unit, step)
        if check == "unchecked":
            rows.append(f"VJP not checked: {detail}")
        elif check:
            rows.append(f"VJP check: rel. error {detail:.1e}" + (" (wrong?)" if check == "wrong" else ""))
        if self.color_by == "grad_norm" and unit.kind == "box":
            norm = self._norm(unit)
            if norm is not None:
                rows.append(f"‖grad‖ up to {number(norm)}")
        for node, message in self.hints:
            if node in unit.nodes:
                rows.append("unstable: " + message.split(":")[0])
        if unit.kind != "leaf" and self.graph.root._node in unit.nodes:
            rows.append(f"output{': ' + self.graph.root.name if self.graph.root.name else ''}")
        elif unit.kind == "leaf" and unit.leaf is self.graph.root:
            rows.append("output")
        return self._table(title, rows, title_fill, unit, state)

    def _box_outputs(self, unit, step):
        members = set(unit.nodes)
        rows = []
        for node in unit.nodes:
            for slot, (shape, dtype) in enumerate(node.out_meta):
                key = (node, slot)
                leaves_box = any(e.node not in members for e in self.graph.consumers.get(key, ()))
                if leaves_box or key == self.graph.root_key:
                    rows.append(f"→ {shape_text(shape)} {np.dtype(dtype).name}")
                    rows += self._value_rows(key, shape, step)
        return rows

    def _gradient(self, unit):
        return unit.kind != "leaf" and all(in_gradient_part(node) for node in unit.nodes)

    def _table(self, title, rows, title_fill, unit, state):
        border, colour, style = 1, "#555555", ""
        body = "#ffffff"
        if self.color_by == "grad_norm":
            body = self._shade(self._norm(unit))
        if unit in self.lit_units:
            border, colour = 3, "#d62728"
        if self._gradient(unit):
            style = ' style="dashed"'
        if state == "current":
            border, colour = 3, "#ff7f0e"
        elif state == "waiting":
            colour, title_fill, body = "#aaaaaa", "#eeeeee", "#f7f7f7"
        is_root = self.graph.root._node in unit.nodes or unit.leaf is self.graph.root
        if is_root and border == 1:
            border = 2
        font = ' color="#888888"' if state == "waiting" else ""
        cells = [f'<tr><td bgcolor="{title_fill}"><font{font}><b>{_escape(title)}</b></font></td></tr>']
        cells += [f'<tr><td><font point-size="9"{font}>{_escape(row)}</font></td></tr>' for row in rows]
        return (f'<<table border="{border}" cellborder="0" cellspacing="0" cellpadding="3" color="{colour}" '
                f'bgcolor="{body}"{style}>' + "".join(cells) + "</table>>")

    def _shade(self, norm):
        if norm is None or norm <= 0 or not np.isfinite(norm):
            return "#eeeeee"
        low, high = self._norm_range
        t = 0.0 if high <= low else (np.log10(norm) - low) / (high - low)
        return _PALETTE[min(len(_PALETTE) - 1, int(t * len(_PALETTE)))]

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
    def _edge_label(self, edge, step):
        shape = edge.node.in_meta[edge.index][0]
        flow = self.replay.flows.get(edge) if self.has_grads else None
        if flow is None or (step is not None and self.graph.step[edge.node] > step):
            return shape_text(shape)
        raw, g = flow
        if self.chain and edge.node.n_outputs == 1:
            upstream, _ = self._grad_of((edge.node, 0))
            local = self.replay.local(edge)
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
            attributes = {"label": self._edge_label(edge, step)}
            if edge in self.lit_edges:
                attributes.update(color="#d62728", penwidth="2.2", fontcolor="#d62728")
            elif in_gradient_part(edge.node):
                attributes.update(style="dashed", color="#7b5fc7")
            if step is not None:
                ran = self.graph.step[edge.node]
                if ran == step:
                    attributes.update(color="#ff7f0e", penwidth="2.2")
                elif ran > step:
                    attributes.update(color="#bbbbbb", fontcolor="#999999")
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
            if count > 1:
                attributes["label"] += f" (×{count})"
            text = ", ".join(f"{k}={_quote(v)}" for k, v in attributes.items())
            out.append(f"\t{source} -> {target} [{text}]\n")
        return out

    # -- the DOT text --------------------------------------------------------------------------
    def _notes(self, step):
        notes = list(self.notes)
        if step is not None:
            node = self.graph.nodes[step - 1]
            notes.insert(0, f"backward step {step} of {len(self.graph.nodes)}: #{step} {type(node).__name__}Backward "
                            "sends its gradient to its inputs")
        if self.show_saved:
            held = [node for node in self.graph.nodes if not node.released and node.saved]
            if held:
                total = sum(node.saved_nbytes for node in held)
                notes.append(f"saved for backward: {_bytes(total)} held by {len(held)} of "
                             f"{len(self.graph.nodes)} nodes")
            elif any(node.released for node in self.graph.nodes):
                notes.append("saved values were freed by backward() (pass retain_graph=True to keep them)")
        if self.color_by == "grad_norm" and self._norm_range is not None:
            low, high = self._norm_range
            notes.append(f"colour: ‖grad‖ from {number(10 ** low)} (blue) to {number(10 ** high)} (red), log scale")
        if self.errors is not None:
            notes.append("VJP check (central differences, float64): green < 1e-5 ≤ orange < 1e-2 ≤ red; "
                         "kinks and ties (relu at 0, max) can disagree")
        notes += ["unstable: " + message for _, message in self.hints]
        return notes

    def body(self, step=None):
        """The DOT statements; `step` draws the state after backward ran that many nodes."""
        lines = [
            f"\tgraph [rankdir={self.rankdir}, fontname=Helvetica, fontsize=11, labelloc=t, labeljust=l, "
            "nodesep=0.3, ranksep=0.35]\n",
            "\tnode [shape=plain, fontname=Helvetica, fontsize=10]\n",
            "\tedge [fontname=Helvetica, fontsize=9, color=\"#555555\", arrowsize=0.7]\n",
        ]
        notes = self._notes(step)
        if notes:
            text = "".join(f"{_escape(note)}<br align=\"left\"/>" for note in notes)
            lines.append(f"\tlabel=<{text}>\n")
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
