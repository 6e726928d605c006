"""The chain rule of a live graph in words and formulas: `explain` and `trace_backward`.

    d = autograd.explain(f, x)          # every path from x to f, local derivatives, products, their sum
    print(d)                            # text; Markdown and LaTeX in Jupyter
    autograd.trace_backward(loss)       # per backward step: [ḡ from the right] · [local] = [to the left]

Every formula comes from the primitives table: a primitive's `formula` holds its forward
(`text`, `tex`) and per input its VJP (`vjps`, `vjps_tex`) in terms of the input symbols, the
output `y` and the upstream gradient `ḡ`. A local derivative is that VJP with ḡ = 1. Values are
named like a Wengert list: leaves by parameter or tensor name (else t1, t2, …), intermediate
results v1, v2, … in the order the forward made them, the output by its name (else f or L).
Numbers come from replaying the graph (`autograd/_replay.py`), so both work before and after
`backward()`; neither changes any `.grad`.
"""
import re

import numpy as np

from ._graph_walk import Graph, broadcast_axes, key_of, leaf_names, number, shape_text
from ._hints import stability_hints
from ._replay import Replay
from .engine import grad

__all__ = ["explain", "trace_backward", "Derivation", "BackwardTrace"]

# -- text and LaTeX pieces -------------------------------------------------------------------
_TEXT_TOKEN = re.compile(r"ḡ|(?<![A-Za-z0-9_])[A-Za-z](?![A-Za-z0-9_])")
_TEX_TOKEN = re.compile(r"\\bar\{g\}|(?<![A-Za-z\\])[A-Za-z](?![A-Za-z])")
_LOCAL_TEXT = (("ḡ·", ""), ("·ḡ", ""), ("ḡ / ", "1 / "), ("ḡ", "1"))
_LOCAL_TEX = ((r"\bar{g} \cdot ", ""), (r" \cdot \bar{g}", ""), (r"\bar{g}\, ", ""), (r"\bar{g}\,", ""),
              (r"\,\bar{g}", ""), (r"\bar{g} ", ""), (r" \bar{g}", ""), (r"\frac{\bar{g}}", r"\frac{1}"),
              (r"\bar{g}", "1"))
_TEX_PROSE = {"−": "-", "·": "*", "→": "->", "←": "<-", "‖": "||", "∂": "d", "Σ": "sum", "σ": "sigmoid",
              "›": ">", "…": "...", "≈": "~", "×": "x", "ḡ": "g", "²": "^2", "ᵀ": "^T", "√": "sqrt", "½": "1/2",
              "≤": "<=", "≥": ">=", "¬": "not ", "—": "-", "ε": "eps", "⟨": "<", "⟩": ">"}
_TEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "^": r"\^{}", "#": r"\#",
                "$": r"\$", "%": r"\%", "&": r"\&", "~": r"\~{}"}


class Piece:
    """A bit of a formula written twice: as plain text and as LaTeX."""

    __slots__ = ("text", "tex")

    def __init__(self, text, tex):
        self.text, self.tex = text, tex

    def __add__(self, other):
        other = other if isinstance(other, Piece) else Piece(other, _tex_prose(other))
        return Piece(self.text + other.text, self.tex + other.tex)

    def __radd__(self, other):
        return Piece(other, _tex_prose(other)) + self


def _tex_prose(text):
    """Plain words as LaTeX text mode: ASCII only, special characters escaped."""
    text = "".join(_TEX_PROSE.get(ch, ch) for ch in str(text))
    text = "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)
    return r"\text{" + "".join(ch if ord(ch) < 128 else "?" for ch in text) + "}"


def _tex_word(word):
    """A name made safe for \\mathrm{…}: ASCII, special characters escaped."""
    escaped = "".join(_TEX_SPECIAL.get(ch, ch) for ch in "".join(_TEX_PROSE.get(ch, ch) for ch in word))
    return "".join(ch if ord(ch) < 128 else "?" for ch in escaped)


def _tex_name(name):
    """v3 → v_{3}, x → x, conv1.weight → \\mathrm{conv1.weight}."""
    match = re.fullmatch(r"([A-Za-z])(\d+)", name)
    if match:
        return f"{match.group(1)}_{{{match.group(2)}}}"
    if re.fullmatch(r"[A-Za-z]", name):
        return name
    return r"\mathrm{" + _tex_word(name) + "}"


def _name(name):
    return Piece(name, _tex_name(name))


def _num(value, wrap=False):
    """A number; negative ones in parentheses when `wrap` (inside a product)."""
    value = float(np.asarray(value).reshape(()))
    piece = Piece(number(value), number(value, minus="-"))
    return Piece(f"({piece.text})", f"({piece.tex})") if wrap and value < 0 else piece


def _shape(shape):
    return Piece(shape_text(shape, "×"), shape_text(shape, r" \times ").replace("scalar", r"\text{scalar}"))


def _norm(array):
    return Piece(f"‖·‖ {number(np.linalg.norm(np.asarray(array, np.float64)))}",
                 rf"\lVert\cdot\rVert = {number(np.linalg.norm(np.asarray(array, np.float64)), minus='-')}")


def _partial(top, bottom):
    return Piece(f"∂{top.text}/∂{bottom.text}", rf"\frac{{\partial {top.tex}}}{{\partial {bottom.tex}}}")


def _fill(node, which, mapping, local=False, index=0):
    """A formula of the table with its symbols replaced: `which` is "forward" or "vjp" (of input `index`).

    `mapping` maps the formula's symbols (its inputs, `y`, and `ḡ`) to Pieces; with `local`
    the VJP is taken at ḡ = 1 (the local derivative).
    """
    formula = node.formula
    if which == "forward":
        text, tex = formula.text, formula.tex
    else:
        i = min(index, len(formula.vjps) - 1)
        text, tex = formula.vjps[i], formula.vjps_tex[i]
    if local:
        for old, new in _LOCAL_TEXT:
            text = text.replace(old, new)
        for old, new in _LOCAL_TEX:
            tex = tex.replace(old, new)
    texts = {k: v.text for k, v in mapping.items()}
    texes = {k: v.tex for k, v in mapping.items()}
    texes[r"\bar{g}"] = texes.pop("ḡ", r"\bar{g}")
    return Piece(_TEXT_TOKEN.sub(lambda m: texts.get(m.group(0), m.group(0)), text),
                 _TEX_TOKEN.sub(lambda m: "{" + texes[m.group(0)] + "}" if m.group(0) in texes else m.group(0), tex))


# -- reports -----------------------------------------------------------------------------------
class _Report:
    """Lines of a derivation: headings, formulas (text and LaTeX) and notes."""

    def __init__(self):
        self.lines = []  # (kind, Piece): kind is "head", "math" or "note"

    def _add(self, kind, piece):
        self.lines.append((kind, piece if isinstance(piece, Piece) else Piece(piece, _tex_prose(piece))))

    @property
    def text(self):
        return "\n".join(piece.text if kind == "head" else "  " + piece.text for kind, piece in self.lines)

    def __str__(self):
        return self.text

    def __repr__(self):
        return self.text

    def _repr_markdown_(self):
        out = []
        for kind, piece in self.lines:
            if kind == "head":
                out.append(f"\n**{piece.text}**\n")
            elif kind == "math":
                out.append(f"- ${piece.tex}$")
            else:
                out.append(f"- {piece.text}")
        return "\n".join(out).strip() + "\n"

    @property
    def latex(self):
        """The whole report as one LaTeX array (ASCII only)."""
        rows = []
        for kind, piece in self.lines:
            rows.append(r"\textbf{" + piece.tex[len(r"\text{"):] if kind == "head" and piece.tex.startswith(r"\text{")
                        else piece.tex)
        return "\\begin{array}{l}\n" + " \\\\\n".join(rows) + "\n\\end{array}"

    def _repr_latex_(self):
        return "$$" + self.latex + "$$"


class Derivation(_Report):
    """What `explain` found: `gradient` (autograd's), `numeric` (central differences), `paths`, `hints`."""


class BackwardTrace(_Report):
    """What `trace_backward` found: one block of lines per backward step."""


# -- naming --------------------------------------------------------------------------------------
class _Names:
    """Wengert-list names: leaves by name, node outputs v1, v2, … in forward order, the output by its name."""

    def __init__(self, graph, params, output_name, replay):
        self.graph, self.replay = graph, replay
        self.leaves = leaf_names(graph, params)
        self.nodes = {}
        for i, node in enumerate(reversed(graph.nodes)):
            self.nodes[node] = f"v{i + 1}"
        root = graph.root
        self.output = root.name or output_name
        if root._node is not None:
            self.nodes[root._node] = self.output
        else:
            self.leaves[id(root)] = self.output

    def of(self, key):
        if type(key) is tuple:
            node, slot = key
            return _name(self.nodes[node] + (f"[{slot}]" if node.n_outputs > 1 else ""))
        return _name(self.leaves[key])

    def edge_key(self, target):
        return target if type(target) is tuple else id(target)

    def inputs(self, node, values=False):
        """The formula's symbols bound to this node's inputs (names, or values of scalars) and output."""
        symbols = node.formula.inputs if node.formula is not None else ()
        mapping = {}
        if len(symbols) == len(node.next):
            constants = dict(node.constants)
            for symbol, index, target in zip(symbols, range(len(symbols)), node.next):
                if target is not None:
                    key = self.edge_key(target)
                    value = self.replay.value(key)
                    mapping[symbol] = _num(value, wrap=True) if values and value is not None and np.size(value) == 1 \
                        else self.of(key)
                else:
                    mapping[symbol] = self._constant(constants.get(index), node.in_meta[index])
        out = self.replay.value((node, 0)) if node in self.replay.values else None
        mapping["y"] = _num(out, wrap=True) if values and out is not None and np.size(out) == 1 else self.of((node, 0))
        return mapping

    @staticmethod
    def _constant(value, meta):
        if value is not None and np.size(value) == 1 and np.asarray(value).dtype.kind in "fiub":
            return _num(value, wrap=True)
        shape = meta[0] if meta is not None else np.shape(value)
        return Piece(f"const{shape_text(shape, '×')}", r"\mathrm{const}")

    def shapes(self, node):
        """The formula's symbols bound to their shapes."""
        symbols = node.formula.inputs if node.formula is not None else ()
        mapping = {}
        if len(symbols) == len(node.next):
            for symbol, meta in zip(symbols, node.in_meta):
                mapping[symbol] = _shape(meta[0] if meta is not None else ())
        mapping["y"] = _shape(node.out_meta[0][0])
        return mapping


def _forward(node, names):
    """`v3 = v1·v2` from the table, or `v3 = cube(v1, v2)` for a user Function."""
    if node.formula is not None and len(node.formula.inputs) == len(node.next):
        return _fill(node, "forward", names.inputs(node))
    args = [names.of(names.edge_key(t)) if t is not None else Piece("const", r"\mathrm{const}") for t in node.next]
    joined = args[0] if args else Piece("", "")
    for arg in args[1:]:
        joined = joined + Piece(", ", ", ") + arg
    return Piece(f"{node.name}(", rf"\operatorname{{{_tex_word(node.name)}}}(") + joined + Piece(")", ")")


def _local_rule(node, index, mapping):
    """The local derivative ∂y/∂(input) from the table's VJP at ḡ = 1, or None for user Functions."""
    if node.formula is None:
        return None
    return _fill(node, "vjp", mapping, local=True, index=index)


def _rule_note(node, index):
    """`mul: ∂(a·b)/∂a = b`, the table entry behind a local derivative."""
    formula = node.formula
    if formula is None or len(formula.inputs) != len(node.next):
        return None
    symbol = formula.inputs[index]
    local = _fill(node, "vjp", {}, local=True, index=index)
    return Piece(f"{node.name}: ∂({formula.text})/∂{symbol} = {local.text}",
                 _tex_prose(f"{node.name}: ") + rf"\frac{{\partial ({formula.tex})}}{{\partial {symbol}}} = {local.tex}")


def _join(pieces, sep_text, sep_tex):
    out = pieces[0]
    for piece in pieces[1:]:
        out = out + Piece(sep_text, sep_tex) + piece
    return out


# -- explain -------------------------------------------------------------------------------------
def _autograd_gradient(graph, replay, output, wrt, key):
    """d(output)/d(wrt) from `autograd.grad` while the graph is alive, else from the replayed graph."""
    if not any(node.released for node in graph.nodes):
        return grad(output, wrt, retain_graph=True)[0].data, False
    if type(key) is tuple:
        grads = replay.grads.get(key[0])
        return (None if grads is None else grads[key[1]]), True
    return replay.leaf_grads.get(key), True


def _central_difference(graph, key, base, eps, rng):
    """(f(x + ε) − f(x − ε)) / 2ε per element (≤ 64 elements) or along one random direction, in float64."""
    base = np.asarray(base, np.float64)

    def f(value):
        replay = Replay(graph, np.float64, {key: value}, record=False)
        out = replay.value(graph.root_key)
        if out is None:
            raise RuntimeError(next(iter(replay.failed.values()), "the graph could not be replayed"))
        return float(np.asarray(out).reshape(()))

    if base.size <= 64:
        numeric = np.zeros(base.shape)
        for index in np.ndindex(base.shape):
            step = np.zeros(base.shape)
            step[index] = eps
            numeric[index] = (f(base + step) - f(base - step)) / (2 * eps)
        return numeric, None
    direction = rng.standard_normal(base.shape)
    return (f(base + eps * direction) - f(base - eps * direction)) / (2 * eps), direction


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
    key = key_of(wrt)
    replay = Replay(graph)
    replay.backward()
    names = _Names(graph, params, "f", replay)
    report = Derivation()
    known = key in names.leaves if type(key) is not tuple else key[0] in graph.step
    out_name = names.of(graph.root_key)
    if not known:
        report.gradient = report.numeric = None
        report.paths, report.hints = [], []
        report._add("head", f"∂{out_name.text}/∂(a tensor of shape {shape_text(wrt.shape)})")
        report._add("note", "the output does not depend on this tensor: the gradient is zero "
                            "(autograd.grad raises unless allow_unused=True)")
        return report
    wrt_name = names.of(key)
    reach = graph.reaching(key)
    on_path = [edge for edge in graph.edges if graph.on_path(edge, key, reach)]
    nodes = [node for node in graph.nodes if node in reach]
    scalar = np.size(wrt.data) == 1 and all(np.prod(node.out_meta[0][0]) == 1 for node in nodes)
    report._add("head", Piece("explain ", r"\text{explain }") + _partial(out_name, wrt_name)
                + f"  ({'scalars' if scalar else 'tensors'}: {len(nodes)} steps between them)")

    report._add("head", "forward: one primitive per line")
    for node in reversed(nodes):
        line = names.of((node, 0)) + Piece(" = ", " = ") + _forward(node, names)
        value = replay.value((node, 0)) if node in replay.values else None
        if scalar and value is not None and node.formula is not None:
            line = line + Piece(" = ", " = ") + _fill(node, "forward", names.inputs(node, values=True)) \
                + Piece(" = ", " = ") + _num(value)
        elif not scalar:
            shapes = _fill(node, "forward", names.shapes(node)) if node.formula is not None else Piece("", "")
            line = line + Piece(" : ", r" \quad ") + shapes + Piece(" → ", r" \to ") + _shape(node.out_meta[0][0])
        report._add("math", line + f"   [{node.name}]")

    edge_name = {}
    for edge in on_path:
        same = [e for e in graph.out_edges[edge.node] if e.key == edge.key]
        symbols = edge.node.formula.inputs if edge.node.formula is not None else ()
        tag = f" (as {symbols[edge.index] if edge.index < len(symbols) else edge.index})" if len(same) > 1 else ""
        edge_name[edge] = _partial(names.of((edge.node, 0)), names.of(edge.key)) + tag
    if scalar:
        _scalar_backward(report, graph, replay, names, nodes, on_path, edge_name, key, max_paths)
    else:
        _tensor_backward(report, graph, replay, names, nodes, on_path, key)
    _result(report, graph, replay, output, wrt, key, out_name, wrt_name, eps)
    report.hints = [message for _, message in stability_hints(graph, replay)]
    if report.hints:
        report._add("head", "numerical stability")
        for message in report.hints:
            report._add("note", message)
    return report


def _scalar_backward(report, graph, replay, names, nodes, on_path, edge_name, key, max_paths):
    report._add("head", "local derivatives: each primitive's VJP with ḡ = 1")
    local = {}
    for edge in on_path:
        local[edge] = replay.local(edge)
        rule = _local_rule(edge.node, edge.index, names.inputs(edge.node))
        line = edge_name[edge] + Piece(" = ", " = ")
        if rule is not None:
            line = line + rule + Piece(" = ", " = ")
        line = line + (_num(local[edge]) if local[edge] is not None else Piece("?", "?"))
        note = _rule_note(edge.node, edge.index)
        report._add("math", line + (Piece("   [", r"\quad [") + note + Piece("]", "]") if note else ""))

    # every path from wrt up to the output; count them all, write out the first max_paths
    count = {}
    for node in reversed(nodes):
        count[node] = sum(1 if e.key == key else count.get(e.child, 0) for e in graph.out_edges[node] if e in local)
    top = graph.root._node
    total = count.get(top, 0)
    paths = []
    stack = [(top, [])]
    while stack and len(paths) < max_paths:
        node, trail = stack.pop()
        for edge in reversed([e for e in graph.out_edges[node] if e in local]):
            if edge.key == key:
                paths.append(trail + [edge])
            else:
                stack.append((edge.child, trail + [edge]))
    paths = paths[:max_paths]
    report._add("head", f"paths from {names.of(key).text} to {names.of(graph.root_key).text}: the chain rule multiplies "
                        f"the local derivatives along each ({total} path{'s' if total != 1 else ''})")
    report.paths = []
    products = []
    for trail in paths:
        route = [names.of(key)] + [names.of((edge.node, 0)) for edge in reversed(trail)]
        values = [local[edge] for edge in trail]
        product = float(np.prod([np.asarray(v, np.float64) for v in values])) if all(
            v is not None for v in values) else None
        line = _join(route, " → ", r" \to ") + Piece(" : ", r" : ") + _join([edge_name[e] for e in trail], " · ", r" \cdot ")
        if product is not None:
            line = line + Piece(" = ", " = ") + _join([_num(v, wrap=True) for v in values], " · ", r" \cdot ") \
                + Piece(" = ", " = ") + _num(product)
            products.append(product)
        report.paths.append(([p.text for p in route], product))
        report._add("math", line)
    if total > len(paths):
        report._add("note", f"… {total - len(paths)} more paths not written out; the sum below covers all of them")
    report._add("head", "sum over paths: contributions along different paths add up")
    if products and total == len(paths):
        report._add("math", _partial(names.of(graph.root_key), names.of(key)) + Piece(" = ", " = ")
                    + _join([_num(p, wrap=True) for p in products], " + ", " + ")
                    + Piece(" = ", " = ") + _num(sum(products)))


def _tensor_backward(report, graph, replay, names, nodes, on_path, key):
    report._add("head", "backward: one VJP per line, in the order backward runs them (shapes after the colon)")
    root = names.of(graph.root_key)
    paths_into = {}
    for edge in on_path:
        paths_into.setdefault(edge.key, []).append(edge)
    for node in nodes:
        out_key = (node, 0)
        upstream = _partial(root, names.of(out_key))
        for edge in [e for e in on_path if e.node is node]:
            target = _partial(root, names.of(edge.key))
            accumulate = len(paths_into[edge.key]) > 1
            line = target + Piece(" += " if accumulate else " = ", r" \mathrel{+}= " if accumulate else " = ")
            if node.formula is not None:
                mapping = names.inputs(node)
                mapping["ḡ"] = upstream
                shapes = names.shapes(node)
                shapes["ḡ"] = _shape(node.out_meta[0][0])
                line = line + _fill(node, "vjp", mapping, index=edge.index) + Piece(" : ", r" \quad ") \
                    + _fill(node, "vjp", shapes, index=edge.index)
            else:
                line = line + f"VJP of {node.name}(…) applied to " + upstream
            in_shape = node.in_meta[edge.index][0]
            line = line + Piece(" → ", r" \to ") + _shape(in_shape)
            flow = replay.flows.get(edge)
            if flow is not None and tuple(flow[0]) != tuple(in_shape):
                line = line + f", summed over axes {broadcast_axes(flow[0], in_shape)} (broadcasting undone)"
            report._add("math", line + f"   [{node.name}]")
    count = {}
    for node in reversed(nodes):
        count[node] = sum(1 if e.key == key else count.get(e.child, 0) for e in graph.out_edges[node] if e in on_path)
    total = count.get(graph.root._node, 0)
    report.paths = []
    report._add("note", f"{total} path{'s' if total != 1 else ''} from {names.of(key).text} to {root.text}; "
                        "where paths meet, their contributions add (+=)")


def _result(report, graph, replay, output, wrt, key, out_name, wrt_name, eps):
    report._add("head", "result")
    gradient, replayed = _autograd_gradient(graph, replay, output, wrt, key)
    report.gradient = None if gradient is None else np.asarray(gradient)
    base = replay.value(key)
    rng = np.random.default_rng(0)
    try:
        numeric, direction = _central_difference(graph, key, base, eps, rng)
    except Exception as error:  # a Function that cannot run again: say so instead of a number
        numeric, direction = None, None
        report._add("note", f"central difference unavailable: {error}")
    report.numeric = numeric
    source = "autograd (graph freed by backward, so replayed)" if replayed else "autograd"
    target = _partial(out_name, wrt_name)
    if report.gradient is None:
        report._add("note", "no gradient reached it")
        return
    if report.gradient.size == 1:
        line = target + Piece(" = ", " = ") + _num(report.gradient) + f"   {source}"
        if numeric is not None:
            line = line + Piece("   ≈ ", r" \quad \approx ") + _num(numeric) + f"   central difference (ε = {eps:g}, float64)"
        report._add("math", line)
        return
    report._add("math", target + Piece(" : ", " : ") + _shape(report.gradient.shape) + Piece(", ", ", ")
                + _norm(report.gradient) + f"   {source}")
    if numeric is None:
        return
    if direction is None:
        worst = float(np.max(np.abs(numeric - report.gradient)))
        report._add("note", f"central differences on all {numeric.size} entries (ε = {eps:g}, float64): "
                            f"max |autograd − numeric| = {worst:.2e}")
    else:
        along = float(np.sum(report.gradient * direction))
        report._add("math", Piece("along a random direction u: ⟨", r"\text{along a random direction } u: \langle ")
                    + target + Piece(", u⟩ = ", r", u \rangle = ") + _num(along)
                    + Piece("   ≈ ", r" \quad \approx ") + _num(numeric) + "   central difference")


# -- trace_backward --------------------------------------------------------------------------------
def trace_backward(loss, params=None):
    """For each node in the order backward visits it: [gradient from the right] · [local gradient]
    = [gradient to the left], with values for scalars and shapes and norms for tensors."""
    graph = Graph(loss)
    if loss.data.size != 1:
        raise ValueError(f"trace_backward: the loss must have one element, got shape {loss.shape}")
    replay = Replay(graph)
    replay.backward()
    names = _Names(graph, params, "L", replay)
    report = BackwardTrace()
    root = names.of(graph.root_key)
    report._add("head", f"backward trace of {root.text}: {len(graph.nodes)} steps in the order backward runs them; "
                        "each line is [ḡ from the right] · [local gradient] = [gradient to the left]")
    for node in graph.nodes:
        out = names.of((node, 0))
        head = Piece(f"#{graph.step[node]} {type(node).__name__}Backward   ",
                     rf"\textbf{{\#{graph.step[node]} {type(node).__name__}Backward}} \quad ")
        report._add("math", head + out + Piece(" = ", " = ") + _forward(node, names))
        grads = replay.grads.get(node)
        if grads is None or grads[0] is None:
            report._add("note", "no gradient reached this node (or it could not be replayed)")
            continue
        upstream = grads[0]
        parts = [replay.flows[e][1] for e in graph.consumers.get((node, 0), ()) if e in replay.flows]
        if len(parts) > 1:
            total = _join([_num(p, wrap=True) for p in parts], " + ", " + ") + Piece(" = ", " = ") + _num(upstream) \
                if np.size(upstream) == 1 else Piece(f"sum of {len(parts)} contributions, ",
                                                     rf"\text{{sum of {len(parts)} contributions, }}") + _norm(upstream)
            report._add("math", Piece("ḡ = ", r"\bar{g} = ") + total)
        for edge in graph.out_edges[node]:
            flow = replay.flows.get(edge)
            if flow is None:
                continue
            report._add("math", _trace_line(node, edge, names, replay, upstream, flow, root))
    report.hints = [message for _, message in stability_hints(graph, replay)]
    for message in report.hints:
        report._add("note", "unstable: " + message)
    return report


def _trace_line(node, edge, names, replay, upstream, flow, root):
    target = Piece("→ ", r"\to ") + names.of(edge.key) + Piece(": ", r": \quad ")
    raw, g = flow
    in_shape = node.in_meta[edge.index][0]
    if np.size(upstream) == 1 and np.size(g) == 1:
        local = replay.local(edge)
        rule = _local_rule(node, edge.index, names.inputs(node))
        factor = (rule + Piece(" = ", " = ") if rule is not None else Piece("", "")) + (
            _num(local) if local is not None else Piece("?", "?"))
        return target + _num(upstream, wrap=True) + Piece(" · [", r" \cdot [") + factor + Piece("] = ", "] = ") + _num(g)
    left = Piece("[ḡ ", r"[\bar{g}\ ") + _shape(np.shape(upstream)) + Piece(", ", ", ") + _norm(upstream) + Piece("]", "]")
    if node.formula is not None:
        mapping = names.inputs(node)
        rule = _fill(node, "vjp", mapping, index=edge.index)
    else:
        rule = Piece(f"VJP of {node.name}", rf"\text{{VJP of {node.name}}}")
    line = target + left + Piece(" ↦ [", r" \mapsto [") + rule + Piece("] = [", "] = [") + _shape(in_shape) \
        + Piece(", ", ", ") + _norm(g) + Piece("]", "]")
    if tuple(raw) != tuple(in_shape):
        line = line + f", summed over axes {broadcast_axes(raw, in_shape)} : {shape_text(raw, '×')} → {shape_text(in_shape, '×')}"
    return line
