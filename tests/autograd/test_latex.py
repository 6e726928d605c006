"""The LaTeX that explain, trace_backward and the formula tables write compiles with a real TeX engine.

CI installs one (Debian's texlive-latex-base, see .ci/run); without `pdflatex` on PATH these tests skip.
"""
import shutil
import subprocess

import numpy as np
import pytest

import autograd as ag
from autograd._formula_text import fill, rule
from autograd.explain import _local

from helpers import f64, neuron
from test_explain import affine, primitive_nodes, small_cnn

PDFLATEX = shutil.which("pdflatex")
pytestmark = pytest.mark.skipif(PDFLATEX is None, reason="no TeX engine: pdflatex is not on PATH "
                                "(Debian: apt install texlive-latex-base; CI installs it)")

PREAMBLE = r"""\documentclass{article}
\usepackage{amsmath}
\usepackage[paperwidth=60cm, paperheight=200cm, margin=1cm]{geometry}
\def\only<#1>#2{#2}% beamer's overlay command, reduced to its content (beamer is not in texlive-latex-base)
\begin{document}
"""


def compile_latex(body, tmp_path):
    """Run pdflatex on a document holding `body`; fail with the TeX error when it does not compile."""
    (tmp_path / "doc.tex").write_text(PREAMBLE + body + "\n\\end{document}\n")
    done = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    errors = [line for line in done.stdout.splitlines() if line.startswith("!") or line.startswith("l.")]
    assert done.returncode == 0, "\n".join(errors[:6])
    assert (tmp_path / "doc.pdf").stat().st_size > 0


def display(tex):
    return "\\[ " + tex + " \\]\n"


def test_every_formula_of_the_primitives_table_compiles(tmp_path):
    body = []
    names = {s: ag._formula_text.name(f"v{i}") for i, s in enumerate("abcxyABv")}
    for cls, node in primitive_nodes():
        body.append(display(cls.formula.tex))
        for i, tex in enumerate(cls.formula.vjps_tex):
            body += [display(tex), display(fill(node, "vjp", names, index=i).tex), display(_local(node, i, names).tex)]
            if rule(node, i) is not None:
                body.append(display(rule(node, i).tex))
        body.append(display(fill(node, "forward", names).tex))
    compile_latex("".join(body), tmp_path)


def test_every_layer_rule_compiles(tmp_path):
    rules = pytest.importorskip("nn.layer_rules")
    body = []
    for value in vars(rules).values():
        if isinstance(value, ag.layer_rules.LayerRule):
            body.append(display(value.forward[1]))
            body += [display(tex) for _, tex, _ in value.vjps.values()]
    compile_latex("".join(body), tmp_path)


def derivations():
    o, leaves = neuron()
    loss, W, b = affine()
    x = f64([0.5, -1.0, 2.0], name="x_1")
    tiny = f64(0.005982, name="σ")
    cnn, params = small_cnn()
    return [ag.explain(o, leaves["w1"]), ag.explain(loss, W), ag.explain(loss, b), ag.explain(loss, W, index=(1, 0)),
            ag.trace_backward(loss), ag.explain((x @ np.ones((3, 2)) * tiny).sum(), x),
            ag.explain(cnn, params["conv.weight"], params, level="layer"), ag.trace_backward(o)]


@pytest.mark.parametrize("style", ["align", "beamer"])
def test_derivations_compile_as_slides(style, tmp_path):
    body = "\n\n".join(report.to_latex(style, precision=3) for report in derivations())
    compile_latex(body, tmp_path)


def test_jupyters_latex_compiles(tmp_path):
    compile_latex("\n".join(report._repr_latex_() for report in derivations()), tmp_path)
