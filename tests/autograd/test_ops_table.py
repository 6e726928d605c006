"""The README's tables of supported ops are generated from the code and up to date."""
import inspect
import pathlib

import numpy as np
import pytest

import autograd as ag
from autograd.ops import _table

from helpers import f64

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_readme_tables_are_the_generated_ones():
    text = README.read_text(encoding="utf-8")
    assert _table.replace_section(text, _table.readme_section()) == text, \
        "README.md's ops tables are out of date: run `python -m autograd.ops._table README.md`"


def test_every_primitive_has_a_row_of_its_own():
    table = _table.ops_table_markdown()
    for name in ag.PRIMITIVES:
        assert f"| `{name}` | primitive |" in table, name


@pytest.mark.parametrize("name", [n for n in ag.ops.__all__ if n != "PRIMITIVES"])
def test_every_op_says_what_it_computes(name):
    assert _table.summary(getattr(ag, name)), f"ag.{name} has no docstring for the README table"


@pytest.mark.parametrize("name", ag.ops.NO_GRADIENT)
def test_the_ops_listed_without_gradient_give_constants(name):
    fn = getattr(ag, name)
    required = [p for p in inspect.signature(fn).parameters.values() if p.default is inspect.Parameter.empty]
    out = fn(*[f64(np.array([1.5, -2.0]))] * len(required))
    assert not out.requires_grad and out.grad_fn is None


def test_a_summary_is_the_first_sentence_outside_parentheses():
    def f():
        """Shift values (PyTorch's roll; dims=None flattens). More text."""

    assert _table.summary(f) == "Shift values (PyTorch's roll; dims=None flattens)"
