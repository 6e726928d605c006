"""The chain rule of a live graph in words and formulas: `explain` and `trace_backward`.

    d = autograd.explain(L, W)                   # every path from W to L, local derivatives, their products
    d = autograd.explain(L, W, index=(0, 1))     # ∂L/∂W[0, 1] as a sum over the elements W[0, 1] touches
    d = autograd.explain(L, W, level="layer")    # one step per layer, in the form lectures state it
    print(d); d.to_latex("align")                # text; LaTeX for slides (also Markdown and LaTeX in Jupyter)
    autograd.trace_backward(L)                   # per backward step: [ḡ from the right] · [local] = [to the left]

Every primitive formula comes from the primitives table: a primitive's `formula` holds its forward
(`text`, `tex`) and per input its VJP (`vjps`, `vjps_tex`) in terms of the input symbols, the output
`y` and the upstream gradient `ḡ`. A local derivative is that VJP with ḡ = 1. Layer-level steps use the
composites' layer rules (`nn/layer_rules.py`), each checked against the engine's gradient.

Names are the ones pictures use (`_graph_walk.Names`): leaves and named tensors by name, other
intermediate results v1, v2, … in the order the forward made them, the output by its name, else L.
Numbers are the ones the forward computed and the engine's backward computes (`_capture.py`): call
these before `backward()` (or after `backward(retain_graph=True)`); neither changes any `.grad`, and
both refuse a graph whose leaves changed since it was built.
"""
import numpy as np

from . import _formula_text as ft
from ._capture import Capture, forward_again
from ._formula_text import APPROX, COLON, COMMA, EMPTY, EQ, PLUS, TIMES, TO, Piece, same
from ._graph_walk import Graph, Names, broadcast_axes, number, plural, shape_text
from ._hints import stability_hints
from .graph import Edge, position
from .layer_rules import layer_calls, verify

__all__ = ["explain", "trace_backward", "Derivation", "BackwardTrace"]

LEVELS = ("primitive", "layer")
TERMS = 16  # per-element derivations write out at most this many terms
ELEMENTS = 4096  # and look at outputs of at most this many elements


class _Report:
    """Lines of a derivation: headings, formulas (text and LaTeX) and notes; numbers with `precision` digits."""

    def __init__(self, precision=ft.DIGITS):
        self.lines = []  # (kind, Piece): kind is "head", "math" or "note"
        self.hints = []
        self.precision = precision

    def _add(self, kind, piece):
        self.lines.append((kind, piece if isinstance(piece, Piece) else Piece(piece, ft.prose(piece))))

    def _tex(self, piece, precision=None):
        return ft.render(piece.raw_tex, precision or self.precision, tex=True)

    @property
    def text(self):
        return "\n".join(("" if kind == "head" else "  ") + ft.render(piece.raw, self.precision)
                         for kind, piece in self.lines)

    def __str__(self):
        return self.text

    __repr__ = __str__

    def _repr_markdown_(self):
        out = []
        for kind, piece in self.lines:
            if kind == "head":
                out.append(f"\n**{ft.render(piece.raw, self.precision)}**\n")
            else:
                out.append(f"- ${self._tex(piece)}$" if kind == "math" else f"- {ft.render(piece.raw, self.precision)}")
        return "\n".join(out).strip() + "\n"

    @property
    def latex(self):
        """The whole report as one LaTeX array (ASCII only), as Jupyter shows it."""
        rows = []
        for kind, piece in self.lines:
            tex = self._tex(piece)
            rows.append(r"\textbf{" + tex[len(r"\text{"):] if kind == "head" and tex.startswith(r"\text{") else tex)
        return "\\begin{array}{l}\n" + " \\\\\n".join(rows) + "\n\\end{array}"

    def _repr_latex_(self):
        return "$$" + self.latex + "$$"

    def to_latex(self, style="align", precision=None):
        """The report as LaTeX for slides (amsmath, ASCII only); numbers with `precision` significant digits.

        style="align": one `align*` block, a line per formula aligned at its first `=`, headings and notes as
        `\\intertext`. style="beamer": one `\\only<k>` overlay per formula (with its heading and notes), for a
        frame that steps through the derivation.
        """
        if style == "align":
            return self._align(precision)
        if style == "beamer":
            return self._beamer(precision)
        raise ValueError(f"to_latex: style must be 'align' or 'beamer', got {style!r}")

    def _align(self, precision):
        rows = []
        for kind, piece in self.lines:
            tex = self._tex(piece, precision)
            if kind == "math":
                rows.append(_aligned_at_equals(tex) + r" \\")
            else:
                rows.append(r"\intertext{" + (r"\bfseries " if kind == "head" else "") + f"${tex}$" + "}")
        return "\\begin{align*}\n" + "\n".join(rows) + "\n\\end{align*}"

    def _beamer(self, precision):
        """Each formula with the heading above it and the notes that follow it, as overlay k."""
        blocks, heading, pending = [], "", []
        for kind, piece in self.lines:
            tex = f"${self._tex(piece, precision)}$"
            if kind == "head":
                heading, pending = tex, []
            elif kind == "note":
                (blocks[-1][2] if blocks and not pending and blocks[-1][0] == heading else pending).append(tex)
            else:
                blocks.append((heading, pending + [rf"\[ {self._tex(piece, precision)} \]"], []))
                pending = []
        if not blocks:
            blocks.append((heading, pending, []))
        out = []
        for k, (head, body, notes) in enumerate(blocks, 1):
            parts = [r"{\bfseries " + head + "}"] if head else []
            out.append(f"\\only<{k}>{{%\n" + "\n".join(parts + body + notes) + "\n}")
        return "\n".join(out)


def _aligned_at_equals(tex):
    """`a = b = c` → `a &= b = c`: the alignment point before the first = outside braces."""
    depth = 0
    for i, ch in enumerate(tex):
        depth += (ch == "{") - (ch == "}")
        if depth == 0 and tex.startswith(" = ", i):
            return tex[:i] + " &= " + tex[i + 3:]
    return "&" + tex


class Derivation(_Report):
    """What `explain` found: `gradient` (autograd's), `numeric` (central differences), `paths`, `checks` (layer
    rules against the engine: (layer, input, relative error)) and `hints`."""

    gradient = numeric = None
    paths = checks = ()


class BackwardTrace(_Report):
    """What `trace_backward` found: a heading per backward step, a line per gradient it sends."""


def _local(node, index, mapping):
    """The local derivative ∂y/∂(input) from the table's VJP at ḡ = 1, or None for user Functions."""
    return None if node.formula is None else ft.fill(node, "vjp", mapping, local=True, index=index)


def _count_paths(graph, nodes, edges, key):
    """How many paths lead from `key` up to each node, through `edges` only."""
    count = {}
    for node in reversed(nodes):
        count[node] = sum(1 if e.key == key else count.get(e.child, 0) for e in graph.out_edges[node] if e in edges)
    return count


def _observe(root, params, one_element):
    """The graph behind `root`, its names, and what its forward and one observed backward computed.
    `one_element`: the error message for a root with more than one element."""
    graph = Graph(root)
    if root.data.size != 1:
        raise ValueError(f"{one_element}, got shape {root.shape}")
    names = Names(graph, params)
    capture = Capture(graph, names)
    capture.backward()
    return graph, names, capture


def _element(tensor, index):
    """`index` as a tuple of non-negative ints inside `tensor`'s shape (None stays None)."""
    if index is None:
        return None
    index = (index,) if isinstance(index, (int, np.integer)) else tuple(index)
    shape = tensor.shape
    if len(index) != len(shape) or not all(isinstance(i, (int, np.integer)) and -n <= i < n
                                           for i, n in zip(index, shape)):
        raise IndexError(f"explain: index {index} does not pick one element of a tensor of shape {shape}")
    return tuple(int(i) % n for i, n in zip(index, shape))


# -- explain -----------------------------------------------------------------------------------------
def explain(output, wrt, params=None, *, index=None, level="primitive", max_paths=12, eps=1e-6,
            precision=ft.DIGITS):
    """Derive d(output)/d(wrt) with the chain rule on the recorded graph.

    Lists the forward steps between them, the local derivative on every edge (symbolic, from the
    primitives table, and numeric for scalars), every path with the product along it, the sum over
    paths, and the result next to autograd's gradient and a central difference. For tensors, one VJP
    line per step with its shapes instead of numbers.

    index: one element of `wrt`, e.g. (0, 1): ∂output/∂wrt[0, 1] written as the sum, over the elements
    of the next results that it touches, of ∂output/∂(that element) · ∂(that element)/∂wrt[0, 1].
    level: "primitive" (every primitive) or "layer" (each composite with a layer rule — conv2d, linear,
    cross_entropy, pooling, … — as one step in lecture form, its rule checked against the engine).
    params: a Module or {name: tensor} naming the leaves; max_paths: paths written out for scalars;
    precision: significant digits of the numbers.
    """
    if level not in LEVELS:
        raise ValueError(f"explain: level must be one of {LEVELS}, got {level!r}")
    if not wrt.requires_grad:
        raise ValueError(f"explain: the tensor of shape {wrt.shape} does not require grad, so it is not part "
                         "of any backward graph (an index like W[0, 1] makes a new tensor outside the graph: "
                         "pass index=(0, 1) instead)")
    element = _element(wrt, index)
    graph, names, capture = _observe(output, params, "explain: the output must have one element (reduce it first, "
                                                     "e.g. .sum(), or explain one element of it)")
    binder = ft.Binder(names, capture)
    report = Derivation(precision)
    key = position(wrt)
    out = ft.name(names.root)
    if key not in names:
        report._add("head", f"∂{out.text}/∂(a tensor of shape {shape_text(wrt.shape)})")
        report._add("note", "the output does not depend on this tensor: the gradient is zero "
                            "(autograd.grad raises unless allow_unused=True)")
        return report
    target = ft.partial(out, binder.of(key, element))
    reach = graph.reaching(key)
    on_path = {edge: None for edge in graph.edges if graph.on_path(edge, key, reach)}
    nodes = [node for node in graph.nodes if node in reach]
    scalar = level == "primitive" and np.size(wrt.data) == 1 and all(
        np.prod(node.out_meta[0][0]) == 1 for node in nodes)
    layers = _Layers(graph, key) if level == "layer" else None
    steps = len(nodes) if layers is None else len(layers.units(nodes))
    kind = "scalars" if scalar else "tensors" if layers is None else "layers"
    report._add("head", Piece("explain ", r"\text{explain }") + target
                + f"  ({kind}: {plural(steps, 'step')} between them)")
    for problem in capture.problems():
        report._add("note", problem)
    if graph.root._node is None:  # the output is the leaf wrt itself: no step between them
        report._add("note", f"{out.text} is {binder.of(key).text} itself, so the derivative is 1")
    elif layers is not None:
        layers.forward(report, binder, reach)
        layers.backward(report, binder, capture, reach, on_path, key)
    else:
        _forward_section(report, graph, binder, nodes, reach, scalar)
        if scalar:
            _scalar_backward(report, graph, capture, binder, nodes, on_path, key, max_paths)
        else:
            _tensor_backward(report, graph, capture, binder, nodes, on_path, key)
    if element is not None and graph.root._node is not None:
        _element_section(report, graph, capture, binder, key, element)
    _result(report, graph, capture, key, element, target, eps)
    report.hints = [message for _, message in stability_hints(graph, capture)]
    if report.hints:
        report._add("head", "numerical stability")
        for message in report.hints:
            report._add("note", message)
    return report


def _forward_section(report, graph, binder, nodes, reach, scalar):
    """The Wengert list of the steps on the paths (and of the values they read)."""
    report._add("head", "forward: one primitive per line")
    feeding = {e.child for node in nodes for e in graph.out_edges[node] if e.child is not None}
    for node in reversed([n for n in graph.nodes if n in reach or n in feeding]):
        report._add("math", _forward_line(node, binder, scalar))


def _forward_line(node, binder, scalar):
    """`v3 = v1·v2` with the values of scalars (`= 2·(−3) = −6`) or the shapes of tensors."""
    line = binder.of(Edge(node, 0)) + EQ + ft.forward(node, binder)
    value = binder.capture.value(Edge(node, 0))
    if scalar and value is not None and node.formula is not None:
        line = line + EQ + ft.fill(node, "forward", binder.inputs(node, values=True)) + EQ + ft.num(value)
    elif not scalar:
        shapes = ft.fill(node, "forward", binder.shapes(node)) if node.formula is not None else EMPTY
        line = line + COLON + shapes + TO + ft.shape(node.out_meta[0][0])
    return line + f"   [{node.name}]"


def _as_which(graph, edge):
    """` (as a)` where the edge's node reads the same value twice (x·x), else nothing."""
    if sum(e.key == edge.key for e in graph.out_edges[edge.node]) < 2:
        return EMPTY
    symbols = edge.node.formula.inputs if edge.node.formula is not None else ()
    return EMPTY + f" (as {symbols[edge.index] if edge.index < len(symbols) else edge.index})"


def _edge_names(graph, binder, on_path):
    """∂v2/∂v1 per edge, with `(as a)` where one node reads the same value twice (x·x)."""
    return {edge: ft.partial(binder.of(Edge(edge.node, 0)), binder.of(edge.key)) + _as_which(graph, edge)
            for edge in on_path}


def _scalar_backward(report, graph, capture, binder, nodes, on_path, key, max_paths):
    report._add("head", "local derivatives: each primitive's VJP with ḡ = 1")
    edge_name = _edge_names(graph, binder, on_path)
    local = {edge: capture.local(edge) for edge in on_path}
    for edge in on_path:
        rule = _local(edge.node, edge.index, binder.inputs(edge.node))
        value = ft.num(local[edge]) if local[edge] is not None else same("?")
        line = edge_name[edge] + EQ + (rule + EQ if rule is not None and rule.text != value.text else EMPTY) + value
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
    out, wrt = binder.of(graph.root_key), binder.of(key)
    report._add("head", f"paths from {wrt.text} to {out.text}: the chain rule multiplies the local "
                        f"derivatives along each ({plural(total, 'path')})")
    report.paths = []
    products = []
    for trail in paths:
        route = [wrt] + [binder.of(Edge(edge.node, 0)) for edge in reversed(trail)]
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


class _Accumulation:
    """`=` for the first gradient a backward listing sends to a tensor, `+=` for every later one."""

    def __init__(self):
        self.seen = set()

    def sign(self, key):
        first = key not in self.seen
        self.seen.add(key)
        return EQ if first else Piece(" += ", r" \mathrel{+}= ")


def _vjp_line(node, edge, binder, capture, root, sign):
    """∂L/∂x = (the node's VJP with names) : (the same with shapes) → input shape [, broadcasting undone]."""
    upstream = ft.partial(root, binder.of(Edge(node, 0)))
    line = ft.partial(root, binder.of(edge.key)) + sign
    if node.formula is not None:
        mapping, shapes = binder.inputs(node), binder.shapes(node)
        mapping["ḡ"], shapes["ḡ"] = upstream, ft.shape(node.out_meta[0][0])
        line = line + ft.fill(node, "vjp", mapping, index=edge.index) + COLON \
            + ft.fill(node, "vjp", shapes, index=edge.index)
    else:
        line = line + f"VJP of {node.name}(…) applied to " + upstream
    in_shape = node.in_meta[edge.index][0]
    line = line + TO + ft.shape(in_shape)
    flow = capture.flows.get(edge)
    if flow is not None and tuple(flow[0]) != tuple(in_shape):
        line = line + f", summed over axes {broadcast_axes(flow[0], in_shape)} (broadcasting undone)"
    return line + f"   [{node.name}]"


def _tensor_backward(report, graph, capture, binder, nodes, on_path, key):
    report._add("head", "backward: one VJP per line, in the order backward runs them (shapes after the colon)")
    root = binder.of(graph.root_key)
    accumulation = _Accumulation()
    for node in nodes:
        for edge in graph.out_edges[node]:
            if edge in on_path:
                report._add("math", _vjp_line(node, edge, binder, capture, root, accumulation.sign(edge.key)))
    _paths_note(report, graph, binder, nodes, on_path, key)


def _paths_note(report, graph, binder, nodes, on_path, key):
    total = _count_paths(graph, nodes, on_path, key).get(graph.root._node, 0)
    report.paths = []
    meet = "; where paths meet, their contributions add (+=)" if total > 1 else ""
    report._add("note", f"{plural(total, 'path')} from {binder.of(key).text} to {binder.of(graph.root_key).text}{meet}")


# -- layer level -----------------------------------------------------------------------------------------
class _Layers:
    """The graph seen as steps: each outermost composite call with a layer rule is one step, every other
    node is its own. A call that `key` lies inside (not its output) is left as primitives."""

    def __init__(self, graph, key):
        self.graph = graph
        self.calls = [(call, nodes) for call, nodes in layer_calls(graph)
                      if not (key.node in nodes and key != call.output)]
        self.call_of = {node: (call, nodes) for call, nodes in self.calls for node in nodes}

    def units(self, nodes):
        """Nodes and calls among `nodes`, once each, in `nodes`' order."""
        seen, out = set(), []
        for node in nodes:
            unit = self.call_of.get(node, (node, None))
            if id(unit[0]) not in seen:
                seen.add(id(unit[0]))
                out.append(unit)
        return out

    def forward(self, report, binder, reach):
        report._add("head", "forward: one layer (or primitive outside a layer) per line")
        graph = self.graph
        feeding = {e.child for node in reach for e in graph.out_edges[node] if e.child is not None}
        for unit, members in reversed(self.units([n for n in graph.nodes if n in reach or n in feeding])):
            if members is None:
                report._add("math", _forward_line(unit, binder, False))
            else:
                report._add("math", self._call_line(unit, binder))

    @staticmethod
    def _call_line(call, binder):
        """`v3 = conv2d(x, W, b) : Y = corr(X, W) + b with X = x (…), …; stride 1`."""
        rule = call.rule
        given = [(p, v) for p, v in call.args.items() if p in rule.symbols and v is not None]
        line = binder.of(call.output) + EQ + Piece(f"{rule.name}(", rf"\operatorname{{{ft.word(rule.name)}}}(") \
            + ft.join([binder.argument(v) for _, v in given], COMMA) + same(")") + COLON \
            + Piece(rule.forward[0], rule.forward[1]) + Piece(" with ", r"\ \text{with}\ ")
        bindings = [Piece(rule.symbols[p], ft.word(rule.symbols[p]) if rule.symbols[p].isascii() else
                          _GREEK[rule.symbols[p]]) + EQ + binder.argument(v)
                    + f" {shape_text(np.shape(v) if not isinstance(v, Edge) else _shape_at(v), '×')}"
                    for p, v in given]
        line = line + ft.join(bindings, COMMA)
        options = [f"{k} {call.args[k]}" for k in rule.options if k in call.args]
        return line + (f"; {', '.join(options)}" if options else "") + f"   [{rule.name}]"

    def backward(self, report, binder, capture, reach, on_path, key):
        report._add("head", "backward: one layer rule (or primitive VJP) per line, in the order backward runs them")
        graph = self.graph
        root = binder.of(graph.root_key)
        accumulation = _Accumulation()
        report.checks = []
        for unit, members in self.units([n for n in graph.nodes if n in reach]):
            if members is None:
                for edge in graph.out_edges[unit]:
                    if edge in on_path:
                        report._add("math", _vjp_line(unit, edge, binder, capture, root, accumulation.sign(edge.key)))
                continue
            checks = verify(unit, members, capture)
            for p, target in unit.inputs().items():
                if target == key or target.node in reach:
                    self._rule_lines(report, unit, p, target, checks[p], binder, root, accumulation, len(members))
        _paths_note(report, graph, binder, [n for n in graph.nodes if n in reach], on_path, key)

    @staticmethod
    def _rule_lines(report, call, p, target, check, binder, root, accumulation, size):
        """`∂L/∂W = corr(X, ḡ)   (ḡ = ∂L/∂v3) → (16×1×3×3)   [conv2d]` and the rule's check."""
        rule = call.rule
        text, tex, gloss = rule.vjps[p]
        symbol = rule.symbols[p]
        tex_symbol = symbol if symbol.isascii() else _GREEK[symbol]
        named = ft.partial(root, binder.of(target)) + accumulation.sign(target)
        formula = Piece(text.split(" = ", 1)[1], tex.split(" = ", 1)[1])
        line = named + formula + Piece("   (", r"\quad (") \
            + Piece(f"∂L/∂{symbol}", rf"\partial L / \partial {tex_symbol}") \
            + Piece(", ḡ = ", r",\ \bar{g} = ") + ft.partial(root, binder.of(call.output)) + same(")") \
            + TO + ft.shape(_shape_at(target)) + f"   [{rule.name}]"
        report._add("math", line)
        if check.error is None:
            report._add("note", f"{gloss}; rule not compared with the engine: {check.why}")
            return
        report.checks.append((rule.name, p, check.error))
        verdict = "agrees with the engine's chain rule through {} to {}" if check.agrees else \
            "DIFFERS from the engine's chain rule through {} by {}"
        report._add("note", f"{gloss}; the rule {verdict.format(plural(size, 'primitive'), number(check.error, 2))} "
                            "(max relative difference)")


_GREEK = {"γ": r"\gamma", "β": r"\beta"}


def _shape_at(key):
    """The shape of the tensor at a graph position."""
    return key.node.out_meta[key.index][0]


# -- one element -----------------------------------------------------------------------------------------
def _element_section(report, graph, capture, binder, key, element):
    """∂L/∂w[i] = Σ_k ∂L/∂y[k] · ∂y[k]/∂w[i], over the elements y[k] of the results that read w[i]."""
    wrt = binder.of(key, element)
    root = binder.of(graph.root_key)
    y = Piece("y", "y")
    report._add("head", Piece("one element: ", r"\text{one element: }") + ft.partial(root, wrt)
                + Piece(" = Σ_y ", r" = \sum_y ") + ft.partial(root, y) + TIMES + ft.partial(y, wrt)
                + f" over the elements y that {wrt.text} touches")
    if capture.freed:
        report._add("note", "not available: the graph's values were freed by backward()")
        return
    terms = []
    for node, flows in _consumers(graph, key).items():
        if node.n_outputs != 1 or np.prod(node.out_meta[0][0]) > ELEMENTS:
            what = "several outputs" if node.n_outputs != 1 else "too many elements"
            report._add("note", f"{node.name} makes {what}: its terms are not written out")
            continue
        partials = sum(capture.partials(flow, element) for flow in flows)
        upstream = capture.grad(Edge(node, 0))
        for k in zip(*np.nonzero(partials)):
            terms.append((node, tuple(int(i) for i in k), 0.0 if upstream is None else
                          float(np.asarray(upstream)[k]), float(partials[k])))
    for node, k, g, local in terms[:TERMS]:
        y = binder.of(Edge(node, 0), k if k else None)
        report._add("math", ft.partial(root, y) + TIMES + ft.partial(y, wrt) + EQ + ft.num(g, wrap=True) + TIMES
                    + ft.num(local, wrap=True) + EQ + ft.num(g * local))
    values = [g * local for _, _, g, local in terms]
    if len(terms) > TERMS:
        rest = f"… {len(terms) - TERMS} more terms, together "
        report._add("note", Piece(rest, ft.prose(rest)) + ft.num(sum(values[TERMS:])))
    shown = [ft.num(v, wrap=True) for v in values[:TERMS]] + (
        [Piece("…", r"\dots")] if len(terms) > TERMS else [])
    report._add("math", ft.partial(root, wrt) + EQ + (ft.join(shown, PLUS) + EQ if len(shown) > 1 else EMPTY)
                + ft.num(sum(values)) + f"   ({plural(len(terms), 'term')})")


def _consumers(graph, key):
    """{node: its flows that read `key`}, for the nodes that use the tensor at `key` directly."""
    out = {}
    for flow in graph.consumers.get(key, ()):
        out.setdefault(flow.node, []).append(flow)
    return out


# -- the result ------------------------------------------------------------------------------------------
def _central_difference(graph, key, base, eps, element):
    """(f(x + ε) − f(x − ε)) / 2ε per element (≤ 64 elements, or only `element`) or along one random
    direction, in float64. Returns (numeric, direction); direction is None when elements were perturbed."""
    base = np.asarray(base, np.float64)

    def f(value):
        return forward_again(graph, key, value)

    if element is not None or base.size <= 64:
        numeric = np.zeros(base.shape)
        for index in [element] if element is not None else np.ndindex(base.shape):
            step = np.zeros(base.shape)
            step[index] = eps
            numeric[index] = (f(base + step) - f(base - step)) / (2 * eps)
        return (numeric[element] if element is not None else numeric), None
    direction = np.random.default_rng(0).standard_normal(base.shape)
    return (f(base + eps * direction) - f(base - eps * direction)) / (2 * eps), direction


def _result(report, graph, capture, key, element, target, eps):
    report._add("head", "result")
    gradient = capture.grad(key)
    if gradient is not None and element is not None:
        gradient = np.asarray(gradient)[element]
    report.gradient = None if gradient is None else np.asarray(gradient)
    base = capture.value(key)
    try:
        report.numeric, direction = (None, None) if base is None else _central_difference(graph, key, base, eps,
                                                                                          element)
    except Exception as error:  # a Function that cannot run again: say so instead of a number
        report.numeric = direction = None
        report._add("note", f"central difference unavailable: {error}")
    numeric = report.numeric
    if report.gradient is None:
        report._add("note", "no gradient reached it")
    elif report.gradient.size == 1:
        line = target + EQ + ft.num(report.gradient) + "   autograd"
        if numeric is not None:
            line = line + APPROX + ft.num(numeric) + f"   central difference (ε = {eps:g}, float64)"
        report._add("math", line)
    else:
        report._add("math", target + same(" : ") + ft.shape(report.gradient.shape) + COMMA
                    + ft.norm(report.gradient) + "   autograd")
        if numeric is not None and direction is None:
            worst = float(np.max(np.abs(numeric - report.gradient)))
            report._add("note", f"central differences on all {numeric.size} entries (ε = {eps:g}, float64): "
                                f"max |autograd − numeric| = {worst:.2e}")
        elif numeric is not None:
            along = float(np.sum(report.gradient * direction))
            intro = Piece("along a random direction u: ⟨", r"\text{along a random direction } u: \langle ")
            report._add("math", intro + target + Piece(", u⟩ = ", r", u \rangle = ") + ft.num(along)
                        + APPROX + ft.num(numeric) + "   central difference")


# -- trace_backward ----------------------------------------------------------------------------------------
def trace_backward(loss, params=None, *, precision=ft.DIGITS):
    """For each node in the order backward visits it: [gradient from the right] · [local gradient]
    = [gradient to the left], with values for scalars and shapes and norms for tensors."""
    graph, names, capture = _observe(loss, params, "trace_backward: the loss must have one element")
    binder = ft.Binder(names, capture)
    report = BackwardTrace(precision)
    root = names.root
    report._add("head", f"backward trace of {root}: {plural(len(graph.nodes), 'step')} in the order backward runs "
                        "them; each line is [ḡ from the right] · [local gradient] = [gradient to the left]")
    report._add("note", f"backward starts from ∂{root}/∂{root} = 1")
    for problem in capture.problems():
        report._add("note", problem)
    for node in graph.nodes:
        title = f"#{graph.step[node]} {node.title}"
        head = Piece(title + "   ", rf"\textbf{{{ft.word(title)}}} \quad ")
        report._add("head", head + binder.of(Edge(node, 0)) + EQ + ft.forward(node, binder))
        grads = capture.grads.get(node)
        if grads is None or grads[0] is None:
            report._add("note", "no gradient reached this node (or it could not be replayed)")
            continue
        upstream = grads[0]
        parts = [capture.flows[e][1] for e in graph.consumers.get(Edge(node, 0), ()) if e in capture.flows]
        if len(parts) > 1:
            if np.size(upstream) == 1:
                total = ft.join([ft.num(p, wrap=True) for p in parts], PLUS) + EQ + ft.num(upstream)
            else:
                total = EMPTY + f"sum of {len(parts)} contributions, " + ft.norm(upstream)
            report._add("math", Piece("ḡ = ", r"\bar{g} = ") + total)
        for edge in graph.out_edges[node]:
            if edge in capture.flows:
                report._add("math", _trace_line(node, edge, binder, capture, upstream, capture.flows[edge])
                            + _as_which(graph, edge))
    report.hints = [message for _, message in stability_hints(graph, capture)]
    for message in report.hints:
        report._add("note", "unstable: " + message)
    return report


def _trace_line(node, edge, binder, capture, upstream, flow):
    """`→ x: ḡ · [local] = gradient` for scalars; shapes, norms and the VJP rule for tensors."""
    target = Piece("→ ", r"\to ") + binder.of(edge.key) + Piece(": ", r": \quad ")
    raw, g = flow
    in_shape = node.in_meta[edge.index][0]
    if np.size(upstream) == 1 and np.size(g) == 1:
        value = capture.local(edge)
        rule = _local(node, edge.index, binder.inputs(node))
        factor = (rule + EQ if rule is not None else EMPTY) + (ft.num(value) if value is not None else same("?"))
        return target + ft.num(upstream, wrap=True) + Piece(" · [", r" \cdot [") + factor + same("] = ") + ft.num(g)
    left = Piece("[ḡ ", r"[\bar{g}\ ") + ft.shape(np.shape(upstream)) + COMMA + ft.norm(upstream) + same("]")
    if node.formula is not None:
        rule = ft.fill(node, "vjp", binder.inputs(node), index=edge.index)
    else:
        rule = EMPTY + f"VJP of {node.name}"
    line = target + left + Piece(" ↦ [", r" \mapsto [") + rule + same("] = [") + ft.shape(in_shape) + COMMA \
        + ft.norm(g) + same("]")
    if tuple(raw) != tuple(in_shape):
        axes = broadcast_axes(raw, in_shape)
        line = line + f", summed over axes {axes} : {shape_text(raw, '×')} → {shape_text(in_shape, '×')}"
    return line
