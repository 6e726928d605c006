"""The engine's cost per op in CPU instructions, counted by valgrind's callgrind: a measure that the VM's
speed does not move (wall times on the machines here vary by up to 30% between runs).

    python -m benchmarks.instructions [scalar_mlp] [chain]        (needs valgrind on PATH)

Each case runs 1 and 3 steps of forward + backward, each in its own process under callgrind; the
difference over the ops of 2 steps is the cost per op, so start-up and imports cancel. BLAS and
chainrule's pool run on one thread (idle BLAS threads spin, which made counts vary by up to 5%), the hash
seed is fixed and address randomization is off, so repeated runs agree to a few instructions per op.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

from .cases_engine import _chain_step, scalar_mlp_ops
from .registry import suite_cases

CASES = ("scalar_mlp", "chain")
CHAIN_DEPTH = 2000  # deep enough that the per-op cost dominates, short enough for valgrind
STEPS = (1, 3)
ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "CHAINRULE_NUM_THREADS": "1",
               "PYTHONHASHSEED": "0"}


def _step(case):
    """chainrule's step (forward + backward) of one case."""
    if case == "scalar_mlp":
        return suite_cases("engine")["scalar_mlp"].builders["ours"](False)
    import autograd as ag

    return _chain_step(ag.tensor(1.0, requires_grad=True), CHAIN_DEPTH, lambda p: setattr(p, "grad", None))


def _step_ops(case):
    """Ops in one step of a case."""
    return scalar_mlp_ops(False)["ops"] if case == "scalar_mlp" else CHAIN_DEPTH


def _instructions(case, steps):
    """Instructions callgrind counts for a process that runs `steps` steps of `case`."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
               sys.executable, "-m", "benchmarks.instructions", "--run", case, str(steps)]
    if shutil.which("setarch"):
        command = ["setarch", "-R"] + command
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **ENVIRONMENT},
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode or not found:
        raise RuntimeError(f"callgrind on {case} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_op(case):
    """Instructions per op, forward + backward: the difference between STEPS over the ops in between."""
    few, many = (_instructions(case, steps) for steps in STEPS)
    return (many - few) / ((STEPS[1] - STEPS[0]) * _step_ops(case))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help=f"some of {', '.join(CASES)} (default: both)")
    parser.add_argument("--run", nargs=2, metavar=("CASE", "STEPS"), help=argparse.SUPPRESS)  # the measured child
    args = parser.parse_args(argv)
    if args.run:
        step = _step(args.run[0])
        for _ in range(int(args.run[1])):
            step()
        return
    unknown = set(args.cases) - set(CASES)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; choose from {', '.join(CASES)}")
    if not shutil.which("valgrind"):
        sys.exit("benchmarks.instructions: valgrind is not installed (apt-get install valgrind)")
    for case in args.cases or CASES:
        print(f"{case}: {per_op(case):,.0f} instructions per op, forward + backward")


if __name__ == "__main__":
    main()
