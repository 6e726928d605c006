"""Build the teaching notebooks from their readable sources and store the executed outputs.

    .venv/bin/python notebooks/build.py            # all notebooks: parse, execute, write .ipynb
    .venv/bin/python notebooks/build.py 03 05      # only those whose names start with 03 or 05
    .venv/bin/python notebooks/build.py --check    # exit 1 if an .ipynb's cells differ from its source

Sources live in notebooks/src/NN_name.py in the "percent" format: a line `# %%` starts a code
cell, `# %% [markdown]` a markdown cell whose lines are comments (`# ` is stripped). Each
notebook is executed top to bottom in a fresh `python3` kernel with notebooks/ as its working
directory, and written next to this file with its outputs, so a code host shows the pictures.
"""
import argparse
import os
import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
KERNEL = "python3"
CELL_TIMEOUT = 120  # seconds per cell

_MARKER = "# %%"
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+>")


def parse(text):
    """Percent-format text → list of (kind, source) with kind 'code' or 'markdown'."""
    cells, kind, lines = [], None, []

    def close():
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
        if kind is not None and lines:
            cells.append((kind, "\n".join(lines)))

    for line in text.splitlines():
        if line.startswith(_MARKER):
            close()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif kind == "markdown":
            if line.strip() and not line.startswith("#"):
                raise ValueError(f"markdown cell line does not start with '#': {line!r}")
            lines.append(line[2:] if line.startswith("# ") else line[1:])
        elif kind == "code":
            lines.append(line)
        elif line.strip() and not line.startswith("#"):
            raise ValueError(f"code before the first '# %%' marker: {line!r}")
    close()
    return cells


def notebook_from_source(path):
    """A fresh nbformat v4 notebook (no outputs) with the cells of a percent-format source file."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source in parse(Path(path).read_text(encoding="utf-8")):
        make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        nb.cells.append(make(source))
    for i, cell in enumerate(nb.cells):  # stable ids keep diffs small between builds
        cell["id"] = f"cell-{i:02d}"
    return nb


def execute(nb, timeout=CELL_TIMEOUT):
    """Run every cell in a fresh kernel with notebooks/ as the working directory (raises on an error).

    The kernel does not inherit MPLBACKEND (CI sets Agg), so plots use the inline backend and are stored.
    """
    client = NotebookClient(nb, timeout=timeout, kernel_name=KERNEL, record_timing=False,
                            resources={"metadata": {"path": str(HERE)}})
    client.execute(env={k: v for k, v in os.environ.items() if k != "MPLBACKEND"})
    # `<autograd.viz.Drawing at 0x7f…>` → `<autograd.viz.Drawing>`, so a rebuild changes no bytes
    for cell in nb.cells:
        for out in cell.get("outputs", ()):
            text = out.get("data", {}).get("text/plain")
            if isinstance(text, str):
                out["data"]["text/plain"] = _ADDRESS.sub(">", text)
    return nb


def cells_match(source_path, ipynb_path):
    """True when the .ipynb has exactly the source's cells (kinds and text)."""
    built = notebook_from_source(source_path)
    stored = nbformat.read(ipynb_path, as_version=4)
    return [(c.cell_type, c.source) for c in built.cells] == [(c.cell_type, c.source) for c in stored.cells]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="prefixes of the notebooks to build (default: all)")
    parser.add_argument("--check", action="store_true", help="only compare the .ipynb cells with the sources")
    parser.add_argument("--no-execute", action="store_true", help="write the notebooks without outputs")
    args = parser.parse_args(argv)
    sources = sorted(p for p in SOURCES.glob("*.py") if not args.names or p.stem.startswith(tuple(args.names)))
    if not sources:
        parser.error(f"no source in {SOURCES} matches {args.names}")
    stale = []
    for src in sources:
        target = HERE / f"{src.stem}.ipynb"
        if args.check:
            if not target.exists() or not cells_match(src, target):
                stale.append(target.name)
            continue
        nb = notebook_from_source(src)
        if not args.no_execute:
            execute(nb)
        nbformat.write(nb, target)
        print(f"wrote {target.relative_to(HERE.parent)} ({target.stat().st_size / 1024:.0f} KiB)")
    if stale:
        print("out of date with notebooks/src (run notebooks/build.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
