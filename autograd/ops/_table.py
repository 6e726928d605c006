"""The README's tables of supported ops, generated from the code (a test fails when the README is out of date).

    python -m autograd.ops._table README.md    # rewrite the tables between their markers in README.md

A row per public function of `autograd.ops` (and of `nn.functional`): a primitive shows its forward and VJP
formulas from the primitives table, a composite (or a function without gradient, `ops.NO_GRADIENT`) the first
sentence of its docstring.
"""
import sys

from .. import ops

BEGIN, END = "<!-- ops-table -->", "<!-- /ops-table -->"


def _cell(text):
    """Text made safe inside a Markdown table cell."""
    return text.replace("|", r"\|").replace("\n", " ")


def summary(fn):
    """The first sentence of fn's docstring, on one line: up to the first '.' or ';' outside parentheses."""
    text = " ".join((fn.__doc__ or "").strip().split("\n\n")[0].split()) + " "
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch in "([") - (ch in ")]")
        if depth == 0 and ch in ".;" and text[i + 1] == " ":
            return text[:i]
    return text.strip()


def ops_table_markdown(module=ops):
    """One Markdown table: a row per function in `module.__all__` (name, kind, forward, gradient), then one per
    primitive that has no function of its name there (used inside composites)."""
    rows = ["| op | kind | forward | gradient (VJP) |", "|---|---|---|---|"]
    names = [name for name in module.__all__ if callable(getattr(module, name))]
    for name in names + sorted(set(ops.PRIMITIVES) - set(names)):
        primitive = ops.PRIMITIVES.get(name)
        if name in ops.NO_GRADIENT:
            rows.append(f"| `{name}` | no gradient | {_cell(summary(getattr(module, name)))} | — |")
        elif primitive is None:
            rows.append(f"| `{name}` | composite | {_cell(summary(getattr(module, name)))} | chain rule |")
        else:
            f = primitive.formula
            vjps = "; ".join(f"{symbol}: {vjp}" for symbol, vjp in zip(f.inputs, f.vjps))
            rows.append(f"| `{name}` | primitive | {_cell(f.text)} | {_cell(vjps)} |")
    return "\n".join(rows) + "\n"


def readme_section():
    """Everything between the README's markers: the autograd table and the nn.functional table."""
    import nn.functional as F  # nn builds on autograd: imported only to write the README

    functional = ["| function | what it computes |", "|---|---|"]
    functional += [f"| `F.{name}` | {_cell(summary(getattr(F, name)))} |" for name in F.__all__]
    return ("\n`autograd` (as `ag.*`, most also as Tensor methods): ḡ is the upstream gradient; a composite's "
            "gradient follows by the chain rule through the primitives it calls.\n\n" + ops_table_markdown()
            + "\n`nn.functional` (as `F.*`): composites only.\n\n" + "\n".join(functional) + "\n")


def replace_section(text, section):
    """text with the part between BEGIN and END replaced by section."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + section + text[end:]


if __name__ == "__main__":
    path = sys.argv[1]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(replace_section(text, readme_section()))
