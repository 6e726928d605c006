"""The primitives table is complete: every primitive has a gradcheck case and a formula per input.

Each case runs `ag.gradcheck` and `ag.gradgradcheck` in float64 on small random
shapes, including broadcasting, 0-d tensors and size-1 axes. Adding a primitive to `ag.PRIMITIVES`
without a case here fails `test_every_primitive_has_a_gradcheck_case`.
"""
import numpy as np
import pytest

import autograd as ag

from helpers import f64, graph_nodes


def T(*shape, low=-2.0, high=2.0):
    """Spec of a float64 input that requires grad, uniform in [low, high)."""
    return shape, low, high


def P(*shape):
    """Spec of a positive input (for log, sqrt, div denominators, pow bases)."""
    return T(*shape, low=0.5, high=2.0)


def U(*shape):
    """Spec of an input inside (−1, 1), away from its ends (for asin, acos, log1p)."""
    return T(*shape, low=-0.8, high=0.8)


def case(fn, *specs, **gradcheck_kwargs):
    return fn, specs, gradcheck_kwargs


def make_inputs(specs, seed):
    """The float64 leaves of a case, drawn reproducibly."""
    rng = np.random.default_rng(seed)
    return [f64(rng.uniform(low, high, shape)) for shape, low, high in specs]


MASK = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])

CASES = {
    "add": [case(ag.add, T(3, 4), T(3, 4)), case(ag.add, T(3, 1), T(1, 4)), case(ag.add, T(), T(2, 3)),
            case(ag.add, T(2, 1, 3), T(3)), case(lambda x: x + 2.5, T(2, 3)), case(lambda x: 2.5 + x, T(2))],
    "sub": [case(ag.sub, T(3, 4), T(4)), case(ag.sub, T(1, 3), T(2, 1)), case(lambda x: 1.0 - x, T()),
            case(lambda x: x - x, T(2))],
    "mul": [case(ag.mul, T(3, 4), T(3, 4)), case(ag.mul, T(2, 1, 3), T(4, 1)), case(ag.mul, T(), T()),
            case(lambda x: x * x, T(3)), case(lambda x: 3 * x, T(2, 2))],
    "div": [case(ag.div, T(3, 4), P(3, 4)), case(ag.div, T(3, 1), P(1, 4)), case(ag.div, T(), P(2)),
            case(lambda x: 1.0 / x, P(2, 3))],
    "neg": [case(ag.neg, T(2, 3)), case(lambda x: -x, T())],
    "pow": [case(ag.pow, P(3, 4), T(3, 4)), case(ag.pow, P(2, 3), T(3)), case(ag.pow, P(), T(2, 1)),
            case(lambda x: x ** 2, T(2, 3)), case(lambda x: x ** 3, T(4)), case(lambda x: x ** 0.5, P(3)),
            case(lambda x: x ** -1.5, P(2, 2)), case(lambda x: 2.0 ** x, T(3))],
    "exp": [case(ag.exp, T(2, 3)), case(ag.exp, T())],
    "log": [case(ag.log, P(2, 3)), case(ag.log, P())],
    "sqrt": [case(ag.sqrt, P(2, 3)), case(ag.sqrt, P(1))],
    "abs": [case(ag.abs, T(3, 4)), case(ag.abs, T())],
    "tanh": [case(ag.tanh, T(3, 4)), case(ag.tanh, T())],
    "sigmoid": [case(ag.sigmoid, T(3, 4), ), case(ag.sigmoid, T(low=-8, high=8))],
    "relu": [case(ag.relu, T(3, 4)), case(ag.relu, T())],
    "maximum": [case(ag.maximum, T(3, 4), T(3, 4)), case(ag.maximum, T(3, 1), T(4)),
                case(lambda x: ag.maximum(x, 0.3), T(2, 3))],
    "minimum": [case(ag.minimum, T(3, 4), T(3, 4)), case(ag.minimum, T(), T(2, 2)),
                case(lambda x: ag.minimum(0.3, x), T(5))],
    "where": [case(lambda a, b: ag.where(MASK, a, b), T(3, 4), T(3, 4)),
              case(lambda a, b: ag.where(MASK, a, b), T(3, 1), T(4)),
              case(lambda a: ag.where(MASK, a, 0.0), T(3, 4)),
              case(lambda b: ag.where(ag.tensor(MASK), 1.0, b), T())],
    "clip": [case(lambda x: ag.clip(x, -0.5, 0.7), T(3, 4)), case(lambda x: x.clip(0.0), T(6)),
             case(lambda x: x.clamp(hi=0.2), T(2, 3))],
    "cast": [case(lambda x: ag.cast(x, np.float32).double() * 2, T(2, 3), eps=1e-3),
             case(lambda x: ag.cast(x, np.longdouble) * x, T(4))],
    "sin": [case(ag.sin, T(3, 4)), case(ag.sin, T())],
    "cos": [case(ag.cos, T(3, 4)), case(ag.cos, T())],
    "asin": [case(ag.asin, U(3, 4)), case(ag.asin, U())],
    "acos": [case(ag.acos, U(3, 4)), case(ag.acos, U())],
    "atan": [case(ag.atan, T(3, 4)), case(ag.atan, T())],
    "log2": [case(ag.log2, P(3, 4)), case(ag.log2, P())],
    "log10": [case(ag.log10, P(3, 4)), case(ag.log10, P())],
    "log1p": [case(ag.log1p, U(3, 4)), case(ag.log1p, P())],
    "expm1": [case(ag.expm1, T(3, 4)), case(ag.expm1, T())],
    "erf": [case(ag.erf, T(3, 4)), case(ag.erf, T())],
    "sign": [case(lambda x: ag.sign(x) * x, T(3, 4))],
    "floor": [case(lambda x: ag.floor(x) + x, T(3, 4))],
    "ceil": [case(lambda x: ag.ceil(x) * x, T(3, 4))],
    "round": [case(lambda x: ag.round(x) * x, T(2, 3))],
    "trunc": [case(lambda x: ag.trunc(x) * x, T(4))],
    "remainder": [case(ag.remainder, T(3, 4), P(3, 4)), case(ag.remainder, T(3, 1), P(4)),
                  case(lambda x: ag.remainder(x, 0.7), T(2, 3)), case(lambda b: ag.remainder(2.5, b), P(3))],
    "reshape": [case(lambda x: x.reshape(4, -1), T(2, 3, 4)), case(lambda x: x.reshape(1, 1), T()),
                case(lambda x: x.reshape(()), T(1)), case(lambda x: x.view(3, 2) * x.view(3, 2), T(6))],
    "permute": [case(lambda x: x.permute(2, 0, 1), T(2, 3, 4)), case(lambda x: x.T, T(2, 3)),
                case(lambda x: x.transpose(0, -1), T(2, 1, 3)), case(lambda x: x.mT, T(2, 3, 4))],
    "contiguous": [case(lambda x: x.permute(2, 0, 1).contiguous() * x.permute(2, 0, 1), T(2, 3, 4)),
                   case(lambda x: x[:, ::2].contiguous(), T(3, 4))],
    "broadcast_to": [case(lambda x: x.broadcast_to((2, 3, 4)), T(3, 1)), case(lambda x: x.broadcast_to((2, 2)), T()),
                    case(lambda x: x.expand(2, -1, 3), T(1, 4, 1))],
    "sum_to": [case(lambda x: x.sum_to((3, 1)), T(2, 3, 4)), case(lambda x: ag.sum_to(x, ()), T(2, 3)),
              case(lambda x: ag.sum_to(x, (1, 3)), T(4, 1, 3))],
    "getitem": [case(lambda x: x[::2, 1:], T(5, 4)), case(lambda x: x[1], T(3, 4)),
                case(lambda x: x[::-1, ..., None, 0], T(3, 2, 4)), case(lambda x: x[[0, 0, 2, 0]], T(3, 2)),
                case(lambda x: x[np.array([[0, 1], [1, 1]]), 1:], T(2, 3)), case(lambda x: x[MASK], T(3, 4)),
                case(lambda x: x[[0, 2], [1, 1]], T(3, 4)), case(lambda x: x[()], T()),
                case(lambda x: x[ag.tensor([1, 1])], T(3))],
    "index_add": [case(lambda v: ag.index_add(v, [0, 0, 2], (4,)), T(3)),
                 case(lambda v: ag.index_add(v, (slice(1, 3),), (4, 3)), T(2, 3)),
                 case(lambda v: ag.index_add(v, MASK, (3, 4)), T(7))],
    "pad": [case(lambda x: x.pad(1), T(2, 3)), case(lambda x: ag.pad(x, ((0, 0), (2, 1)), value=3.0), T(2, 2)),
            case(lambda x: ag.pad(x, ((1, 3),)), T(1))],
    "concatenate": [case(lambda a, b, c: ag.concatenate([a, b, c], axis=1), T(2, 1), T(2, 3), T(2, 2)),
                    case(lambda a, b: ag.concatenate([a, b], axis=-1), T(2, 3), T(2, 1)),
                    case(lambda a: ag.concatenate([a, np.ones(2)]), T(3))],
    "stack": [case(lambda a, b: ag.stack([a, b]), T(2, 3), T(2, 3)),
              case(lambda a, b, c: ag.stack([a, b, c], axis=-1), T(2), T(2), T(2)),
              case(lambda a, b: ag.stack([a, b, a]), T(), T())],
    "matmul": [case(ag.matmul, T(3, 4), T(4, 2)), case(ag.matmul, T(4), T(4, 2)), case(ag.matmul, T(3, 4), T(4)),
               case(ag.matmul, T(4), T(4)), case(ag.matmul, T(2, 1, 3, 4), T(5, 4, 2)),
               case(ag.matmul, T(2, 3, 4), T(4)), case(ag.matmul, T(3), T(2, 3, 2)),
               case(lambda a: a @ np.ones((3, 2)), T(2, 3)), case(lambda a: np.ones((2, 3)) @ a, T(3))],
    "sum": [case(lambda x: x.sum(), T(3, 4)), case(lambda x: x.sum(axis=1), T(3, 4)),
            case(lambda x: x.sum(axis=(0, 2), keepdims=True), T(2, 3, 2)), case(lambda x: x.sum(dim=-1), T(2, 1)),
            case(lambda x: x.sum(), T())],
    "mean": [case(lambda x: x.mean(), T(3, 4)), case(lambda x: x.mean(axis=0, keepdims=True), T(3, 4)),
             case(lambda x: x.mean(dim=(1, 2)), T(2, 3, 2)), case(lambda x: x.mean(), T())],
    "max": [case(lambda x: x.max(), T(3, 4)), case(lambda x: x.max(axis=1), T(3, 4)),
            case(lambda x: x.max(axis=(0, 2), keepdims=True), T(2, 3, 2)), case(lambda x: x.max(), T())],
    "min": [case(lambda x: x.min(), T(3, 4)), case(lambda x: x.min(axis=0), T(3, 4)),
            case(lambda x: x.min(dim=-1, keepdim=True), T(2, 1, 3))],
    "var": [case(lambda x: x.var(), T(3, 4)), case(lambda x: x.var(axis=1, ddof=1), T(3, 4)),
            case(lambda x: ag.var(x, (0, 2), 1, keepdims=True), T(2, 3, 2)), case(lambda x: x.std(axis=0), T(4, 2))],
    "unfold": [case(lambda x: ag.unfold(x, 2), T(1, 2, 3, 3)),
               case(lambda x: ag.unfold(x, (2, 3), stride=(2, 1), padding=1, dilation=(1, 2)), T(2, 1, 4, 5)),
               case(lambda x: ag.unfold(x, 3, stride=2, padding=1, dilation=2), T(2, 2, 7))],
    "fold": [case(lambda c: ag.fold(c, (3, 3), 2), T(1, 2, 2, 2, 2, 2)),
             case(lambda c: ag.fold(c, (4, 5), (2, 3), stride=(2, 1), padding=1, dilation=(1, 2)),
                  T(1, 1, 2, 3, 3, 3)),
             case(lambda c: ag.fold(c, 7, 3, stride=2, padding=1, dilation=2), T(2, 1, 3, 3))],
    "unfold_wide": [case(lambda x: ag.unfold_wide(x, 2), T(1, 2, 3, 4)),
                    case(lambda x: ag.unfold_wide(x, (2, 3), dilation=(2, 1)), T(2, 1, 5, 4))],
    "fold_wide": [case(lambda c: ag.fold_wide(c, (3, 4), 2), T(1, 2, 2, 2, 8)),
                  case(lambda c: ag.fold_wide(c, (5, 4), (2, 3), dilation=(2, 1)), T(2, 1, 2, 3, 12))],
    "shared_matmul": [case(ag.shared_matmul, T(2, 3, 4), T(3, 2, 4, 5)),
                      case(ag.shared_matmul, T(1, 2, 3), T(1, 1, 3, 4))],
    "outer_sum": [case(ag.outer_sum, T(3, 2, 4, 5), T(3, 2, 3, 5)),
                  case(ag.outer_sum, T(1, 1, 2, 3), T(1, 1, 4, 3))],
}

PARAMS = [pytest.param(name, fn, specs, kwargs, id=f"{name}-{i}")
          for name, cases in CASES.items() for i, (fn, specs, kwargs) in enumerate(cases)]


def test_every_primitive_has_a_gradcheck_case():
    missing = sorted(set(ag.PRIMITIVES) - set(CASES))
    assert not missing, f"primitives without a gradcheck case in CASES: {missing}"
    unknown = sorted(set(CASES) - set(ag.PRIMITIVES))
    assert not unknown, f"CASES names that are not primitives: {unknown}"


@pytest.mark.parametrize("name, fn, specs, kwargs", PARAMS)
def test_primitive_gradcheck(name, fn, specs, kwargs):
    assert ag.gradcheck(fn, make_inputs(specs, seed=len(PARAMS)), **kwargs)


@pytest.mark.parametrize("name, fn, specs, kwargs", PARAMS)
def test_primitive_gradgradcheck(name, fn, specs, kwargs):
    """VJPs are written with Tensor ops, so every primitive has correct second derivatives."""
    assert ag.gradgradcheck(fn, make_inputs(specs, seed=len(PARAMS) + 1), **kwargs)


@pytest.mark.parametrize("name, fn, specs, kwargs", PARAMS)
def test_rule_gives_the_same_gradient_on_arrays_and_on_tensors(name, fn, specs, kwargs):
    """Each rule is written once: a plain backward runs it on arrays, create_graph=True on Tensors."""
    xs = make_inputs(specs, seed=3)
    out = fn(*xs)
    out = out[0] if isinstance(out, tuple) else out
    seed = ag.tensor(np.random.default_rng(4).standard_normal(out.shape))
    on_arrays = ag.grad(out, xs, seed, retain_graph=True, allow_unused=True)
    on_tensors = ag.grad(out, xs, seed, create_graph=True, allow_unused=True)
    for a, t in zip(on_arrays, on_tensors):
        assert (a is None) == (t is None)
        if a is not None:
            assert type(a) is ag.Tensor and type(a.data) is np.ndarray and a.dtype == t.dtype
            np.testing.assert_allclose(a.data, t.data, rtol=1e-13, atol=1e-15)


def test_each_case_exercises_its_primitive():
    """A case really builds a node of the primitive it is filed under (not only its neighbours)."""
    for name, cases in CASES.items():
        for fn, specs, _ in cases:
            nodes = graph_nodes(fn(*make_inputs(specs, seed=0)))
            assert name in {node.name for node in nodes}, f"a case filed under {name!r} never calls it"


@pytest.mark.parametrize("name", sorted(ag.PRIMITIVES))
def test_primitive_has_formulas_for_every_input(name):
    cls = ag.PRIMITIVES[name]
    f = cls.formula
    assert isinstance(f, ag.Formula) and cls.name == name
    assert f.text and f.tex
    assert len(f.vjps) == len(f.vjps_tex) == len(f.inputs) >= 1
    assert all(isinstance(v, str) and v for v in f.vjps + f.vjps_tex)
