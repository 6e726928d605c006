"""Formulas of the primitives table written out for one node, as plain text and LaTeX at once.

A `Piece` carries both spellings; `+` joins pieces (a plain string joins as LaTeX `\\text{…}`).
`fill` takes a primitive's forward or VJP formula and replaces its symbols (the inputs, the
output `y`, the upstream gradient `ḡ`) by names, values or shapes in one pass, so a name that
is itself a symbol is never replaced twice. With `local=True` the VJP is read at ḡ = 1: the
local derivative. LaTeX output is ASCII only; names and prose are escaped.
"""
import re

import numpy as np

from ._graph_walk import number, shape_text

_TEXT_TOKEN = re.compile(r"ḡ|(?<![A-Za-z0-9_])[A-Za-z](?![A-Za-z0-9_])")
_TEX_TOKEN = re.compile(r"\\bar\{g\}|(?<![A-Za-z\\])[A-Za-z](?![A-Za-z])")
_LOCAL_TEXT = (("ḡ·", ""), ("·ḡ", ""), ("ḡ / ", "1 / "), ("ḡ", "1"))
_LOCAL_TEX = ((r"\bar{g} \cdot ", ""), (r" \cdot \bar{g}", ""), (r"\bar{g}\, ", ""), (r"\bar{g}\,", ""),
              (r"\,\bar{g}", ""), (r"\bar{g} ", ""), (r" \bar{g}", ""), (r"\frac{\bar{g}}", r"\frac{1}"),
              (r"\bar{g}", "1"))
_ASCII = {"−": "-", "·": "*", "→": "->", "←": "<-", "‖": "||", "∂": "d", "Σ": "sum", "σ": "sigmoid",
          "›": ">", "…": "...", "≈": "~", "×": "x", "ḡ": "g", "²": "^2", "ᵀ": "^T", "√": "sqrt", "½": "1/2",
          "≤": "<=", "≥": ">=", "¬": "not ", "—": "-", "ε": "eps", "⟨": "<", "⟩": ">", "↦": "->"}
_TEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "^": r"\^{}", "#": r"\#",
                "$": r"\$", "%": r"\%", "&": r"\&", "~": r"\~{}"}


class Piece:
    """A bit of a formula written twice: as plain text and as LaTeX."""

    __slots__ = ("text", "tex")

    def __init__(self, text, tex):
        self.text, self.tex = text, tex

    def __add__(self, other):
        other = other if isinstance(other, Piece) else Piece(other, prose(other))
        return Piece(self.text + other.text, self.tex + other.tex)


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


def name(text):
    """A value's name: v3 → v_{3}, x → x, conv1.weight → \\mathrm{conv1.weight}."""
    match = re.fullmatch(r"([A-Za-z])(\d+)", text)
    if match:
        return Piece(text, f"{match.group(1)}_{{{match.group(2)}}}")
    if re.fullmatch(r"[A-Za-z]", text):
        return same(text)
    return Piece(text, r"\mathrm{" + word(text) + "}")


def num(value, wrap=False):
    """A number; negative ones in parentheses when `wrap` (inside a product or a sum)."""
    value = float(np.asarray(value).reshape(()))
    piece = Piece(number(value), number(value, minus="-"))
    return Piece(f"({piece.text})", f"({piece.tex})") if wrap and value < 0 else piece


def shape(dims):
    return Piece(shape_text(dims, "×"), shape_text(dims, r" \times ").replace("scalar", r"\text{scalar}"))


def norm(array):
    value = np.linalg.norm(np.asarray(array, np.float64))
    return Piece(f"‖·‖ {number(value)}", rf"\lVert\cdot\rVert = {number(value, minus='-')}")


def partial(top, bottom):
    """∂top/∂bottom."""
    return Piece(f"∂{top.text}/∂{bottom.text}", rf"\frac{{\partial {top.tex}}}{{\partial {bottom.tex}}}")


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


def fill(node, which, mapping, local=False, index=0):
    """A table formula of `node` with its symbols replaced: `which` is "forward" or "vjp" (of input `index`).

    `mapping` maps symbols (the formula's inputs, `y`, `ḡ`) to Pieces; unmapped ones stay.
    """
    formula = node.formula
    if which == "forward":
        text, tex = formula.text, formula.tex
    else:
        i = min(index, len(formula.vjps) - 1)  # variadic ops (concatenate, stack) have one rule for all
        text, tex = formula.vjps[i], formula.vjps_tex[i]
    if local:
        for old, new in _LOCAL_TEXT:
            text = text.replace(old, new)
        for old, new in _LOCAL_TEX:
            tex = tex.replace(old, new)
        text, tex = _unwrap(text), _unwrap(tex)
    texts = {k: v.text for k, v in mapping.items()}
    texes = {k: v.tex for k, v in mapping.items()}
    texes[r"\bar{g}"] = texes.pop("ḡ", r"\bar{g}")
    return Piece(_TEXT_TOKEN.sub(lambda m: texts.get(m.group(0), m.group(0)), text),
                 _TEX_TOKEN.sub(lambda m: "{" + texes[m.group(0)] + "}" if m.group(0) in texes else m.group(0), tex))


def rule(node, index):
    """`mul: ∂(a·b)/∂a = b`: the table entry behind a local derivative (None for user Functions)."""
    formula = node.formula
    if formula is None or len(formula.inputs) != len(node.inputs):
        return None
    symbol = formula.inputs[index]
    local = fill(node, "vjp", {}, local=True, index=index)
    derivative = rf"\frac{{\partial ({formula.tex})}}{{\partial {symbol}}} = {local.tex}"
    return Piece(f"{node.name}: ∂({formula.text})/∂{symbol} = {local.text}", prose(f"{node.name}: ") + derivative)
