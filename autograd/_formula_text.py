"""Formulas of the primitives table written out for one node, as plain text and LaTeX at once.

A `Piece` carries both spellings; `+` joins pieces (a plain string joins as LaTeX `\\text{…}`).
`fill` takes a primitive's forward or VJP formula and replaces its symbols (the inputs, the
output `y`, the upstream gradient `ḡ`) by names, values or shapes in one pass, so a name that
is itself a symbol is never replaced twice. With `local=True` the VJP is read at ḡ = 1: the
local derivative. LaTeX output is ASCII only; names and prose are escaped.

Numbers stay exact inside a piece (`num` stores the float itself) and get their digits only when
the piece is written out (`Piece.text`, `Piece.tex`, or `render(raw, digits)`), so one derivation
can be printed with 4 significant digits and exported to slides with 3.
"""
import re

import numpy as np

from ._graph_walk import number, shape_text
from .graph import Edge

_TEXT_TOKEN = re.compile(r"ḡ|(?<![A-Za-z_])[A-Za-z](?![A-Za-z0-9_])")
_TEX_TOKEN = re.compile(r"\\bar\{g\}|(?<![A-Za-z\\])[A-Za-z](?![A-Za-z])")
_LOCAL_TEXT = (("ḡ·", ""), ("·ḡ", ""), ("ḡ / ", "1 / "), ("ḡ", "1"))
_LOCAL_TEX = ((r"\bar{g}_", r"\mathbf{1}_"), (r"\bar{g} \cdot ", ""), (r" \cdot \bar{g}", ""), (r"\bar{g}\, ", ""),
              (r"\bar{g}\,", ""),
              (r"\,\bar{g}", ""), (r"\bar{g} ", ""), (r" \bar{g}", ""), (r"\frac{\bar{g}}", r"\frac{1}"),
              (r"\bar{g}", "1"))
_ASCII = {"−": "-", "·": "*", "→": "->", "←": "<-", "‖": "||", "∂": "d", "Σ": "sum", "σ": "sigmoid",
          "›": ">", "…": "...", "≈": "~", "×": "x", "ḡ": "g", "²": "^2", "ᵀ": "^T", "√": "sqrt", "½": "1/2",
          "≤": "<=", "≥": ">=", "¬": "not ", "—": "-", "ε": "eps", "⟨": "<", "⟩": ">", "↦": "->", "⊗": "(x)",
          "°": " degrees", "⋆": "*"}
_TEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "^": r"\^{}", "#": r"\#",
                "$": r"\$", "%": r"\%", "&": r"\&", "~": r"\~{}"}
_NUMBER = re.compile("\x01(w?)([^\x02]*)\x02")  # a number inside a piece: \x01[w]repr(value)\x02

DIGITS = 4  # significant digits when no precision is asked for


def render(raw, digits=DIGITS, tex=False):
    """Write out the numbers inside a piece's raw text with `digits` significant digits."""
    def write(match):
        value = float(match.group(2))
        text = tex_number(value, digits) if tex else number(value, digits)
        return f"({text})" if match.group(1) and value < 0 else text

    return _NUMBER.sub(write, raw)


def tex_number(value, digits=DIGITS):
    """A number in LaTeX: -0.005982, 1.235 \\times 10^{-5}, \\infty."""
    text = number(value, digits, minus="-")
    if text in ("inf", "-inf", "nan"):
        return {"inf": r"\infty", "-inf": r"-\infty", "nan": r"\mathrm{NaN}"}[text]
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text


class Piece:
    """A bit of a formula written twice, as plain text and as LaTeX (`raw`, `raw_tex`: numbers kept exact)."""

    __slots__ = ("raw", "raw_tex")

    def __init__(self, text, tex):
        self.raw, self.raw_tex = text, tex

    @property
    def text(self):
        return render(self.raw)

    @property
    def tex(self):
        return render(self.raw_tex, tex=True)

    def __add__(self, other):
        other = other if isinstance(other, Piece) else Piece(other, prose(other))
        return Piece(self.raw + other.raw, self.raw_tex + other.raw_tex)


def same(text):
    """A piece spelled alike in text and LaTeX (ASCII operators and spaces)."""
    return Piece(text, text)


def word(text):
    """Text made safe inside LaTeX (`\\text{…}`, `\\mathrm{…}`): ASCII, special characters escaped."""
    text = "".join(_ASCII.get(ch, ch) for ch in str(text))
    text = "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)
    return "".join(ch if ord(ch) < 128 else "?" for ch in text)


def prose(text):
    """Plain words as LaTeX text mode."""
    return r"\text{" + word(text) + "}"


EMPTY, EQ, PLUS, COMMA = same(""), same(" = "), same(" + "), same(", ")
TIMES, TO, COLON = Piece(" · ", r" \cdot "), Piece(" → ", r" \to "), Piece(" : ", r" \quad ")
APPROX = Piece("   ≈ ", r" \quad \approx ")


def name(text, index=None):
    """A value's name: v3 → v_{3}, x → x, conv1.weight → \\mathrm{conv1.weight}; `index` (0, 1) → x[0, 1]."""
    match = re.fullmatch(r"([A-Za-z])(\d+)", text)
    if match:
        piece = Piece(text, f"{match.group(1)}_{{{match.group(2)}}}")
    elif re.fullmatch(r"[A-Za-z]", text):
        piece = same(text)
    else:
        piece = Piece(text, r"\mathrm{" + word(text) + "}")
    if index is None:
        return piece
    where = ", ".join(str(i) for i in index)
    return Piece(f"{piece.raw}[{where}]", f"{{{piece.raw_tex}}}_{{{where.replace(' ', '')}}}")


def num(value, wrap=False):
    """A number, kept exact until written out; negative ones in parentheses when `wrap` (in a product or sum)."""
    token = "\x01" + ("w" if wrap else "") + repr(float(np.asarray(value).reshape(()))) + "\x02"
    return Piece(token, token)


def shape(dims):
    return Piece(shape_text(dims, "×"), shape_text(dims, r" \times ").replace("scalar", r"\text{scalar}"))


def norm(array):
    value = float(np.linalg.norm(np.asarray(array, np.float64)))
    return Piece("‖·‖ ", r"\lVert\cdot\rVert = ") + num(value)


def partial(top, bottom):
    """∂top/∂bottom."""
    return Piece(f"∂{top.raw}/∂{bottom.raw}", rf"\frac{{\partial {top.raw_tex}}}{{\partial {bottom.raw_tex}}}")


def join(pieces, separator):
    out = pieces[0]
    for piece in pieces[1:]:
        out = out + separator + piece
    return out


def _unwrap(text):
    """(1 − y²) → 1 − y², when the parentheses enclose the whole expression."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and i < len(text) - 1:
            return text
    return text[1:-1]


# A matmul with a vector operand: the table's matrix rules hold with the vector as a row or a column,
# but written with the vector's own shape one of them is an outer product, not a product.
_OUTER = {(1, 1): ("A ⊗ ḡ (outer product)", r"A \otimes \bar{g}"),  # A (k,), B (k, m): ∂B = A ḡᵀ
          (0, 2): ("ḡ ⊗ B (outer product)", r"\bar{g} \otimes B"),  # A (n, k), B (k,): ∂A = ḡ Bᵀ
          (0, 0): ("ḡ·B", r"\bar{g}\, B"), (1, 0): ("ḡ·A", r"\bar{g}\, A")}  # a dot product: ḡ is one number


def vjp_formula(node, index):
    """(text, tex) of the VJP node's formula sends to input `index` (variadic ops have one rule for all)."""
    formula = node.formula
    metas = node.in_meta if node.name == "matmul" else ()
    if len(metas) == 2 and None not in metas:
        a, b = (len(meta[0]) for meta in metas)
        case = (index, 0 if a == b == 1 else 1 if a == 1 else 2 if b == 1 else None)
        if case in _OUTER:
            return _OUTER[case]
    if node.name == "pow" and index == 0 and is_number(dict(node.constants).get(1)):
        return "ḡ·b·a^(b−1)", formula.vjps_tex[0]  # a number as the exponent: the table's note on b = 0 is moot
    i = min(index, len(formula.vjps) - 1)
    return formula.vjps[i], formula.vjps_tex[i]


def _after_digit(string, start, tex):
    """Whether the symbol at `start` follows a number (2y): a value put there needs a product sign."""
    before = string[:start].rstrip() if tex else string[:start]
    return bool(before) and before[-1].isdigit()


def fill(node, which, mapping, local=False, index=0):
    """A table formula of `node` with its symbols replaced: `which` is "forward" or "vjp" (of input `index`).

    `mapping` maps symbols (the formula's inputs, `y`, `ḡ`) to Pieces; unmapped ones stay.
    """
    formula = node.formula
    text, tex = (formula.text, formula.tex) if which == "forward" else vjp_formula(node, index)
    if local:
        for old, new in _LOCAL_TEXT:
            text = text.replace(old, new)
        for old, new in _LOCAL_TEX:
            tex = tex.replace(old, new)
        text, tex = _unwrap(text), _unwrap(tex)
    texts = {k: v.raw for k, v in mapping.items()}
    texes = {k: v.raw_tex for k, v in mapping.items()}
    texes[r"\bar{g}"] = texes.pop("ḡ", r"\bar{g}")

    def text_symbol(match):
        value = texts.get(match.group(0))
        if value is None:
            return match.group(0)
        return ("·" if _after_digit(text, match.start(), False) else "") + value

    def tex_symbol(match):
        value = texes.get(match.group(0))
        if value is None:
            return match.group(0)
        return (r"\cdot " if _after_digit(tex, match.start(), True) else "") + "{" + value + "}"

    return Piece(_TEXT_TOKEN.sub(text_symbol, text), _TEX_TOKEN.sub(tex_symbol, tex))


class Binder:
    """The formula symbols of a node bound to the names of its inputs (`_graph_walk.Names`), to the values of
    scalars (what `_capture.Capture` saw the forward compute) or to shapes."""

    def __init__(self, names, capture):
        self.names, self.capture = names, capture

    def of(self, key, element=None):
        return name(self.names[key], element)

    def inputs(self, node, values=False):
        """The formula's symbols bound to this node's inputs and output: names, or values of scalars."""
        symbols = node.formula.inputs if node.formula is not None else ()
        mapping = {}
        if len(symbols) == len(node.inputs):
            constants = dict(node.constants)
            for index, (symbol, target) in enumerate(zip(symbols, node.edges)):
                if target is None:
                    mapping[symbol] = self.constant(constants.get(index))
                else:
                    value = self.capture.value(target)
                    one = values and value is not None and np.size(value) == 1
                    mapping[symbol] = num(value, wrap=True) if one else self.of(target)
        out = self.capture.value(Edge(node, 0))
        one = values and out is not None and np.size(out) == 1
        mapping["y"] = num(out, wrap=True) if one else self.of(Edge(node, 0))
        return mapping

    def constant(self, value):
        """An input without gradient: its value if it is one number, else its tensor's name, else `const(shape)`."""
        if is_number(value):
            return num(value, wrap=True)
        called = self.names.constant(value)
        return name(called) if called else Piece(f"const{shape_text(np.shape(value), '×')}", r"\mathrm{const}")

    @staticmethod
    def shapes(node):
        """The formula's symbols bound to their shapes (numbers stay numbers)."""
        symbols = node.formula.inputs if node.formula is not None else ()
        mapping = {}
        if len(symbols) == len(node.inputs):
            constants = dict(node.constants)
            for index, (symbol, meta) in enumerate(zip(symbols, node.in_meta)):
                value = constants.get(index)
                mapping[symbol] = num(value, wrap=True) if is_number(value) else shape(
                    meta[0] if meta is not None else ())
        mapping["y"] = shape(node.out_meta[0][0])
        return mapping

    def argument(self, value):
        """A layer call's argument: the name of a graph position, or a constant as `constant` writes it."""
        return self.of(value) if isinstance(value, Edge) else self.constant(value)


def is_number(value):
    return value is not None and np.size(value) == 1 and np.asarray(value).dtype.kind in "fiub"


def forward(node, binder):
    """`v3 = v1·v2` from the table, or `cube(v1, v2)` for a user Function and variadic ops."""
    if node.formula is not None and len(node.formula.inputs) == len(node.inputs):
        return fill(node, "forward", binder.inputs(node))
    args = [binder.of(t) if t is not None else Piece("const", r"\mathrm{const}") for t in node.edges]
    return Piece(f"{node.name}(", rf"\operatorname{{{word(node.name)}}}(") + (
        join(args, COMMA) if args else EMPTY) + same(")")


def rule(node, index):
    """`mul: ∂(a·b)/∂a = b`: the table entry behind a local derivative (None for user Functions)."""
    formula = node.formula
    if formula is None or len(formula.inputs) != len(node.inputs) or "…" in formula.inputs[index]:
        return None  # a user Function, or a variadic op (concatenate, stack) whose symbol stands for all inputs
    symbol = formula.inputs[index]
    local = fill(node, "vjp", {}, local=True, index=index)
    derivative = rf"\frac{{\partial ({formula.tex})}}{{\partial {symbol}}} = {local.raw_tex}"
    return Piece(f"{node.name}: ∂({formula.text})/∂{symbol} = {local.raw}", prose(f"{node.name}: ") + derivative)
