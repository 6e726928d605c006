"""Benchmark cases: one builder per engine, each doing its set-up and returning the step to time.

A builder is `build(tiny) -> step`; `step()` runs one timed iteration (forward,
backward, maybe an update) and may return a dict of extra results (accuracy).
`tiny=True` asks for sizes small enough for a smoke test. A builder raises
`Skip` when its engine or a chainrule part it needs is missing.
"""
import importlib

SUITES = ("engine", "conv", "train")
ENGINES = ("ours", "torch", "micrograd")


class Skip(Exception):
    """The case cannot run with this engine here (missing package or module)."""


class Case:
    """A named measurement with one builder per engine.

    `work(tiny)` returns what one step does, for derived rates: {"ops": n} gives
    µs per op, {"flops": f} gives GFLOP/s. `warmup` untimed steps run first.
    """

    def __init__(self, name, what, repeat=5, work=None, warmup=1):
        self.name = name
        self.what = what
        self.repeat = repeat
        self.warmup = warmup
        self.work = work or (lambda tiny: {})
        self.builders = {}

    def builder(self, engine):
        """Decorator: register `fn(tiny) -> step` as this case's builder for `engine`."""
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")

        def register(fn):
            self.builders[engine] = fn
            return fn

        return register


def add_case(cases, name, what, repeat=5, work=None, warmup=1):
    """Create a Case, file it under `name` in the suite's `cases` dict, and return it."""
    case = cases[name] = Case(name, what, repeat, work, warmup)
    return case


def suite_cases(suite):
    """The ordered {name: Case} of one suite."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; expected one of {SUITES}")
    return importlib.import_module(f"benchmarks.cases_{suite}").CASES


def need(module):
    """Import a module a builder needs, or raise Skip naming it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise Skip(f"{module} is not importable ({e})") from None


def need_attr(module, *names):
    """The named attributes of a chainrule module, or Skip if it (or one of them) does not exist yet."""
    mod = need(module)
    missing = [n for n in names if not hasattr(mod, n)]
    if missing:
        raise Skip(f"{module} has no {', '.join(missing)} yet")
    values = tuple(getattr(mod, n) for n in names)
    return values[0] if len(values) == 1 else values


def sgd_step_ours(model, x, y, lr):
    """One SGD step of a chainrule module on (x, y): zero_grad, cross-entropy, backward, update."""
    ag = need("autograd")
    cross_entropy = need_attr("nn.functional", "cross_entropy")
    opt = need_attr("optim", "SGD")(model.parameters(), lr=lr)
    x, y = ag.tensor(x), ag.tensor(y)

    def step():
        opt.zero_grad()
        cross_entropy(model(x), y).backward()
        opt.step()

    return step


def sgd_step_torch(torch, model, x, y, lr):
    """The same step in PyTorch."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    x, y = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step
