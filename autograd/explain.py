"""The chain rule of a live graph in words and formulas: `explain` and `trace_backward`.

    d = autograd.explain(f, x)        # every path from x to f, local derivatives, products, their sum
    print(d)                          # text; Markdown and LaTeX in Jupyter
    autograd.trace_backward(loss)     # per backward step: [ḡ from the right] · [local] = [to the left]

Every formula comes from the primitives table: a primitive's `formula` holds its forward
(`text`, `tex`) and per input its VJP (`vjps`, `vjps_tex`) in terms of the input symbols, the
output `y` and the upstream gradient `ḡ`. A local derivative is that VJP with ḡ = 1. Values are
named like a Wengert list: leaves by parameter or tensor name (else t1, t2, …), intermediate
results v1, v2, … in the order the forward made them, the output by its name (else f or L).
Numbers are the ones the forward computed and the engine's backward computes (`_capture.py`):
call them before `backward()` (or after `backward(retain_graph=True)`); neither changes any
`.grad`, and both refuse a graph whose leaves changed since it was built.
"""
import numpy as np

from . import _formula_text as ft
from ._formula_text import APPROX, COLON, COMMA, EMPTY, EQ, PLUS, TIMES, TO, Piece, same
from ._graph_walk import Graph, broadcast_axes, key_of, leaf_names, shape_text
from ._hints import stability_hints
from ._capture import Capture, forward_again
from .graph import AccumulateGrad

__all__ = ["explain", "trace_backward", "Derivation", "BackwardTrace"]


class _Report:
    """Lines of a derivation: headings, formulas (text and LaTeX) and notes."""

    def __init__(self):
        self.lines = []  # (kind, Piece): kind is "head", "math" or "note"
        self.hints = []

    def _add(self, kind, piece):
        self.lines.append((kind, piece if isinstance(piece, Piece) else Piece(piece, ft.prose(piece))))

    @property
    def text(self):
        return "\n".join(piece.text if kind == "head" else "  " + piece.text for kind, piece in self.lines)

    def __str__(self):
        return self.text

    __repr__ = __str__

    def _repr_markdown_(self):
        out = []
        for kind, piece in self.lines:
            if kind == "head":
                out.append(f"\n**{piece.text}**\n")
            else:
                out.append(f"- ${piece.tex}$" if kind == "math" else f"- {piece.text}")
        return "\n".join(out).strip() + "\n"

    @property
    def latex(self):
        """The whole report as one LaTeX array (ASCII only)."""
        rows = []
        for kind, piece in self.lines:
            bold = kind == "head" and piece.tex.startswith(r"\text{")
            rows.append(r"\textbf{" + piece.tex[len(r"\text{"):] if bold else piece.tex)
        return "\\begin{array}{l}\n" + " \\\\\n".join(rows) + "\n\\end{array}"

    def _repr_latex_(self):
        return "$$" + self.latex + "$$"


class Derivation(_Report):
    """What `explain` found: `gradient` (autograd's), `numeric` (central differences), `paths` and `hints`."""

    gradient = numeric = None
    paths = ()


class BackwardTrace(_Report):
    """What `trace_backward` found: a heading per backward step, a line per gradient it sends."""


# -- naming --------------------------------------------------------------------------------------
class _Names:
    """Wengert-list names: leaves by name, node outputs v1, v2, … in forward order, the output by its name."""

    def __init__(self, graph, params, output_name, replay):
        self.replay = replay
        self.leaves = leaf_names(graph, params)
        self.nodes = {node: f"v{i + 1}" for i, node in enumerate(reversed(graph.nodes))}
        root = graph.root
        self.output = root.name or output_name
        if root._node is not None:
            self.nodes[root._node] = self.output
        else:
            self.leaves[graph.root_key] = self.output

    def of(self, key):
        """The name of a graph position (a leaf's, or a node output's)."""
        node, slot = key
        if isinstance(node, AccumulateGrad):
            return ft.name(self.leaves[key])
        return ft.name(self.nodes[node] + (f"[{slot}]" if node.n_outputs > 1 else ""))

    def _bound(self, node, index, target, values):
        if target is None:
            return self._constant(node, dict(node.constants).get(index), node.in_meta[index])
        key = target
        value = self.replay.value(key)
        return ft.num(value, wrap=True) if values and value is not None and np.size(value) == 1 else self.of(key)

    def inputs(self, node, values=False):
        """The formula's symbols bound to this node's inputs and output: names, or values of scalars."""
        symbols = node.formula.inputs if node.formula is not None else ()
        mapping = {}
        if len(symbols) == len(node.inputs):
            for index, (symbol, target) in enumerate(zip(symbols, node.edges)):
                mapping[symbol] = self._bound(node, index, target, values)
        out = self.replay.value((node, 0)) if self.replay.has_value(node) else None
        one = values and out is not None and np.size(out) == 1
        mapping["y"] = ft.num(out, wrap=True) if one else self.of((node, 0))
        return mapping

    @staticmethod
    def _constant(node, value, meta):
        """An input without gradient: its value if it is one number, else its name (when a saved
        tensor still tells it) or `const` with its shape."""
        if _is_number(value):
            return ft.num(value, wrap=True)
        for item in node.saved or ():
            if getattr(item, "data", None) is value and getattr(item, "name", None):
                return ft.name(item.name)
        dims = meta[0] if meta is not None else np.shape(value)
        return Piece(f"const{shape_text(dims, '×')}", r"\mathrm{const}")

    @staticmethod
    def shapes(node):
        """The formula's symbols bound to their shapes (numbers stay numbers)."""
        symbols = node.formula.inputs if node.formula is not None else ()
        mapping = {}
        if len(symbols) == len(node.inputs):
            constants = dict(node.constants)
            for index, (symbol, meta) in enumerate(zip(symbols, node.in_meta)):
                value = constants.get(index)
                mapping[symbol] = ft.num(value, wrap=True) if _is_number(value) else ft.shape(
                    meta[0] if meta is not None else ())
        mapping["y"] = ft.shape(node.out_meta[0][0])
        return mapping


def _is_number(value):
    return value is not None and np.size(value) == 1 and np.asarray(value).dtype.kind in "fiub"


def _forward(node, names):
    """`v3 = v1·v2` from the table, or `cube(v1, v2)` for a user Function and variadic ops."""
    if node.formula is not None and len(node.formula.inputs) == len(node.inputs):
        return ft.fill(node, "forward", names.inputs(node))
    args = [names.of(t) if t is not None else Piece("const", r"\mathrm{const}") for t in node.edges]
    return Piece(f"{node.name}(", rf"\operatorname{{{ft.word(node.name)}}}(") + (
        ft.join(args, COMMA) if args else EMPTY) + same(")")


def _local(node, index, mapping):
    """The local derivative ∂y/∂(input) from the table's VJP at ḡ = 1, or None for user Functions."""
    return None if node.formula is None else ft.fill(node, "vjp", mapping, local=True, index=index)


def _count_paths(graph, nodes, edges, key):
    """How many paths lead from `key` up to each node, through `edges` only."""
    count = {}
    for node in reversed(nodes):
        count[node] = sum(1 if e.key == key else count.get(e.child, 0) for e in graph.out_edges[node] if e in edges)
    return count


# -- explain -------------------------------------------------------------------------------------
def explain(output, wrt, params=None, *, max_paths=12, eps=1e-6):
    """Derive d(output)/d(wrt) with the chain rule on the recorded graph.

    Lists the forward steps between them, the local derivative on every edge (symbolic, from
    the primitives table, and numeric for scalars), every path with the product along it, the
    sum over paths, and the result next to autograd's gradient and a central difference. For
    tensors, one VJP line per step with its shapes instead of numbers. `params` (a Module or a
    {name: tensor} dict) names the leaves; at most `max_paths` paths are written out.
    """
    graph = Graph(output)
    if output.data.size != 1:
        raise ValueError(f"explain: the output must have one element, got shape {output.shape}; reduce it "
                         "first (e.g. .sum()) or explain one element of it")
    if not wrt.requires_grad:
        raise ValueError(f"explain: the tensor of shape {wrt.shape} does not require grad, so it is not part "
                         "of any backward graph (an index like W[0, 1] makes a new tensor outside the graph)")
    key = key_of(wrt)
    names = leaf_names(graph, params)
    replay = Capture(graph, names)
    replay.backward()
    names = _Names(graph, params, "f", replay)
    report = Derivation()
    out_name = names.of(graph.root_key)
    if key not in names.leaves and key[0] not in graph.step:
        report._add("head", f"∂{out_name.text}/∂(a tensor of shape {shape_text(wrt.shape)})")
        report._add("note", "the output does not depend on this tensor: the gradient is zero "
                            "(autograd.grad raises unless allow_unused=True)")
        return report
    wrt_name = names.of(key)
    reach = graph.reaching(key)
    on_path = {edge: None for edge in graph.edges if graph.on_path(edge, key, reach)}
    nodes = [node for node in graph.nodes if node in reach]
    scalar = np.size(wrt.data) == 1 and all(np.prod(node.out_meta[0][0]) == 1 for node in nodes)
    report._add("head", Piece("explain ", r"\text{explain }") + ft.partial(out_name, wrt_name)
                + f"  ({'scalars' if scalar else 'tensors'}: {len(nodes)} steps between them)")
    for problem in replay.problems():
        report._add("note", problem)
    if graph.root._node is None:  # the output is the leaf wrt itself: no step between them
        report._add("note", f"{out_name.text} is {wrt_name.text} itself, so the derivative is 1")
    else:
        _forward_section(report, graph, replay, names, nodes, reach, scalar)
        if scalar:
            _scalar_backward(report, graph, replay, names, nodes, on_path, key, max_paths)
        else:
            _tensor_backward(report, graph, replay, names, nodes, on_path, key)
    _result(report, graph, replay, output, wrt, key, ft.partial(out_name, wrt_name), eps)
    report.hints = [message for _, message in stability_hints(graph, replay)]
    if report.hints:
        report._add("head", "numerical stability")
        for message in report.hints:
            report._add("note", message)
    return report


def _forward_section(report, graph, replay, names, nodes, reach, scalar):
    """The Wengert list of the steps on the paths (and of the values they read)."""
    report._add("head", "forward: one primitive per line")
    feeding = {e.child for node in nodes for e in graph.out_edges[node] if e.child is not None}
    for node in reversed([n for n in graph.nodes if n in reach or n in feeding]):
        line = names.of((node, 0)) + EQ + _forward(node, names)
        value = replay.value((node, 0)) if replay.has_value(node) else None
        if scalar and value is not None and node.formula is not None:
            line = line + EQ + ft.fill(node, "forward", names.inputs(node, values=True)) + EQ + ft.num(value)
        elif not scalar:
            shapes = ft.fill(node, "forward", names.shapes(node)) if node.formula is not None else EMPTY
            line = line + COLON + shapes + TO + ft.shape(node.out_meta[0][0])
        report._add("math", line + f"   [{node.name}]")


def _edge_names(graph, names, on_path):
    """∂v2/∂v1 per edge, with `(as a)` where one node reads the same value twice (x·x)."""
    out = {}
    for edge in on_path:
        out[edge] = ft.partial(names.of((edge.node, 0)), names.of(edge.key))
        if sum(e.key == edge.key for e in graph.out_edges[edge.node]) > 1:
            symbols = edge.node.formula.inputs if edge.node.formula is not None else ()
            out[edge] = out[edge] + f" (as {symbols[edge.index] if edge.index < len(symbols) else edge.index})"
    return out


def _scalar_backward(report, graph, replay, names, nodes, on_path, key, max_paths):
    report._add("head", "local derivatives: each primitive's VJP with ḡ = 1")
    edge_name = _edge_names(graph, names, on_path)
    local = {edge: replay.local(edge) for edge in on_path}
    for edge in on_path:
        rule = _local(edge.node, edge.index, names.inputs(edge.node))
        line = edge_name[edge] + EQ + (rule + EQ if rule is not None else EMPTY)
        line = line + (ft.num(local[edge]) if local[edge] is not None else same("?"))
        note = ft.rule(edge.node, edge.index)
        report._add("math", line + (Piece("   [", r"\quad [") + note + same("]") if note else EMPTY))

    # every path from wrt up to the output: count them all, write out the first max_paths
    top = graph.root._node
    total = _count_paths(graph, nodes, on_path, key).get(top, 0)
    paths, stack = [], [(top, [])]
    while stack and len(paths) < max_paths:
        node, trail = stack.pop()
        for edge in reversed([e for e in graph.out_edges[node] if e in on_path]):
            if edge.key == key:
                paths.append(trail + [edge])
            else:
                stack.append((edge.child, trail + [edge]))
    paths = paths[:max_paths]
    out, wrt = names.of(graph.root_key), names.of(key)
    report._add("head", f"paths from {wrt.text} to {out.text}: the chain rule multiplies the local "
                        f"derivatives along each ({total} path{'s' if total != 1 else ''})")
    report.paths = []
    products = []
    for trail in paths:
        route = [wrt] + [names.of((edge.node, 0)) for edge in reversed(trail)]
        values = [local[edge] for edge in trail]
        line = ft.join(route, TO) + same(" : ") + ft.join([edge_name[e] for e in trail], TIMES)
        product = None
        if all(v is not None for v in values):
            product = float(np.prod([np.asarray(v, np.float64) for v in values]))
            line = line + EQ + ft.join([ft.num(v, wrap=True) for v in values], TIMES) + EQ + ft.num(product)
            products.append(product)
        report.paths.append(([p.text for p in route], product))
        report._add("math", line)
    if total > len(paths):
        report._add("note", f"… {total - len(paths)} more paths not written out; the result below covers all")
    if products and total == len(products):
        report._add("head", "sum over paths: contributions along different paths add up")
        report._add("math", ft.partial(out, wrt) + EQ + ft.join([ft.num(p, wrap=True) for p in products], PLUS)
                    + EQ + ft.num(sum(products)))


def _tensor_backward(report, graph, replay, names, nodes, on_path, key):
    report._add("head", "backward: one VJP per line, in the order backward runs them (shapes after the colon)")
    root = names.of(graph.root_key)
    into = {}
    for edge in on_path:
        into[edge.key] = into.get(edge.key, 0) + 1
    for node in nodes:
        upstream = ft.partial(root, names.of((node, 0)))
        for edge in graph.out_edges[node]:
            if edge not in on_path:
                continue
            accumulate = into[edge.key] > 1
            line = ft.partial(root, names.of(edge.key)) + (
                Piece(" += ", r" \mathrel{+}= ") if accumulate else EQ)
            if node.formula is not None:
                mapping, shapes = names.inputs(node), names.shapes(node)
                mapping["ḡ"], shapes["ḡ"] = upstream, ft.shape(node.out_meta[0][0])
                line = line + ft.fill(node, "vjp", mapping, index=edge.index) + COLON \
                    + ft.fill(node, "vjp", shapes, index=edge.index)
            else:
                line = line + f"VJP of {node.name}(…) applied to " + upstream
            in_shape = node.in_meta[edge.index][0]
            line = line + TO + ft.shape(in_shape)
            flow = replay.flows.get(edge)
            if flow is not None and tuple(flow[0]) != tuple(in_shape):
                line = line + f", summed over axes {broadcast_axes(flow[0], in_shape)} (broadcasting undone)"
            report._add("math", line + f"   [{node.name}]")
    total = _count_paths(graph, nodes, on_path, key).get(graph.root._node, 0)
    report.paths = []
    report._add("note", f"{total} path{'s' if total != 1 else ''} from {names.of(key).text} to {root.text}; "
                        "where paths meet, their contributions add (+=)")


def _autograd_gradient(replay, key):
    """d(output)/d(wrt) as the engine's backward computed it (None when the graph was freed)."""
    if isinstance(key[0], AccumulateGrad):
        return replay.leaf_grads.get(key)
    grads = replay.grads.get(key[0])
    return None if grads is None else grads[key[1]]


def _central_difference(graph, key, base, eps):
    """(f(x + ε) − f(x − ε)) / 2ε per element (≤ 64 elements) or along one random direction, in float64.

    Returns (numeric, direction); direction is None when every element was perturbed.
    """
    base = np.asarray(base, np.float64)

    def f(value):
        return forward_again(graph, key, value)

    if base.size <= 64:
        numeric = np.zeros(base.shape)
        for index in np.ndindex(base.shape):
            step = np.zeros(base.shape)
            step[index] = eps
            numeric[index] = (f(base + step) - f(base - step)) / (2 * eps)
        return numeric, None
    direction = np.random.default_rng(0).standard_normal(base.shape)
    return (f(base + eps * direction) - f(base - eps * direction)) / (2 * eps), direction


def _result(report, graph, replay, output, wrt, key, target, eps):
    report._add("head", "result")
    gradient = _autograd_gradient(replay, key)
    report.gradient = None if gradient is None else np.asarray(gradient)
    base = replay.value(key)
    try:
        report.numeric, direction = (None, None) if base is None else _central_difference(graph, key, base, eps)
    except Exception as error:  # a Function that cannot run again: say so instead of a number
        report.numeric = direction = None
        report._add("note", f"central difference unavailable: {error}")
    source = "autograd"
    numeric = report.numeric
    if report.gradient is None:
        report._add("note", "no gradient reached it")
    elif report.gradient.size == 1:
        line = target + EQ + ft.num(report.gradient) + f"   {source}"
        if numeric is not None:
            line = line + APPROX + ft.num(numeric) + f"   central difference (ε = {eps:g}, float64)"
        report._add("math", line)
    else:
        report._add("math", target + same(" : ") + ft.shape(report.gradient.shape) + COMMA
                    + ft.norm(report.gradient) + f"   {source}")
        if numeric is not None and direction is None:
            worst = float(np.max(np.abs(numeric - report.gradient)))
            report._add("note", f"central differences on all {numeric.size} entries (ε = {eps:g}, float64): "
                                f"max |autograd − numeric| = {worst:.2e}")
        elif numeric is not None:
            along = float(np.sum(report.gradient * direction))
            intro = Piece("along a random direction u: ⟨", r"\text{along a random direction } u: \langle ")
            report._add("math", intro + target + Piece(", u⟩ = ", r", u \rangle = ") + ft.num(along)
                        + APPROX + ft.num(numeric) + "   central difference")


# -- trace_backward --------------------------------------------------------------------------------
def trace_backward(loss, params=None):
    """For each node in the order backward visits it: [gradient from the right] · [local gradient]
    = [gradient to the left], with values for scalars and shapes and norms for tensors."""
    graph = Graph(loss)
    if loss.data.size != 1:
        raise ValueError(f"trace_backward: the loss must have one element, got shape {loss.shape}")
    replay = Capture(graph, leaf_names(graph, params))
    replay.backward()
    names = _Names(graph, params, "L", replay)
    report = BackwardTrace()
    root = names.of(graph.root_key).text
    report._add("head", f"backward trace of {root}: {len(graph.nodes)} steps in the order backward runs them; "
                        "each line is [ḡ from the right] · [local gradient] = [gradient to the left]")
    report._add("note", f"backward starts from ∂{root}/∂{root} = 1")
    for problem in replay.problems():
        report._add("note", problem)
    for node in graph.nodes:
        title = f"#{graph.step[node]} {type(node).__name__}Backward"
        head = Piece(title + "   ", rf"\textbf{{{ft.word(title)}}} \quad ")
        report._add("head", head + names.of((node, 0)) + EQ + _forward(node, names))
        grads = replay.grads.get(node)
        if grads is None or grads[0] is None:
            report._add("note", "no gradient reached this node (or it could not be replayed)")
            continue
        upstream = grads[0]
        parts = [replay.flows[e][1] for e in graph.consumers.get((node, 0), ()) if e in replay.flows]
        if len(parts) > 1:
            if np.size(upstream) == 1:
                total = ft.join([ft.num(p, wrap=True) for p in parts], PLUS) + EQ + ft.num(upstream)
            else:
                total = EMPTY + f"sum of {len(parts)} contributions, " + ft.norm(upstream)
            report._add("math", Piece("ḡ = ", r"\bar{g} = ") + total)
        for edge in graph.out_edges[node]:
            if edge in replay.flows:
                report._add("math", _trace_line(node, edge, names, replay, upstream, replay.flows[edge]))
    report.hints = [message for _, message in stability_hints(graph, replay)]
    for message in report.hints:
        report._add("note", "unstable: " + message)
    return report


def _trace_line(node, edge, names, replay, upstream, flow):
    """`→ x: ḡ · [local] = gradient` for scalars; shapes, norms and the VJP rule for tensors."""
    target = Piece("→ ", r"\to ") + names.of(edge.key) + Piece(": ", r": \quad ")
    raw, g = flow
    in_shape = node.in_meta[edge.index][0]
    if np.size(upstream) == 1 and np.size(g) == 1:
        value = replay.local(edge)
        rule = _local(node, edge.index, names.inputs(node))
        factor = (rule + EQ if rule is not None else EMPTY) + (ft.num(value) if value is not None else same("?"))
        return target + ft.num(upstream, wrap=True) + Piece(" · [", r" \cdot [") + factor + same("] = ") + ft.num(g)
    left = Piece("[ḡ ", r"[\bar{g}\ ") + ft.shape(np.shape(upstream)) + COMMA + ft.norm(upstream) + same("]")
    if node.formula is not None:
        rule = ft.fill(node, "vjp", names.inputs(node), index=edge.index)
    else:
        rule = EMPTY + f"VJP of {node.name}"
    line = target + left + Piece(" ↦ [", r" \mapsto [") + rule + same("] = [") + ft.shape(in_shape) + COMMA \
        + ft.norm(g) + same("]")
    if tuple(raw) != tuple(in_shape):
        axes = broadcast_axes(raw, in_shape)
        line = line + f", summed over axes {axes} : {shape_text(raw, '×')} → {shape_text(in_shape, '×')}"
    return line
