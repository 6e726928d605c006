"""Profile one case with cProfile and print the hotspots as shares of the step's time.

    python -m benchmarks.profile SUITE CASE [--engine ours] [--repeat N] [--top N] [--sort cumulative|tottime]

Columns: cum% (time inside the function and what it calls), self% (its own
code), calls, function. Percentages are of the profiled steps' total time;
cProfile's own overhead inflates the many-small-calls cases (scalar graphs).
"""
import argparse
import cProfile
import pstats

from .registry import ENGINES, suite_cases


def hotspots(suite, case_name, engine="ours", repeat=3, tiny=False):
    """Run warm-up + `repeat` profiled steps; return (total seconds, [(cum_s, self_s, calls, label)])."""
    step = suite_cases(suite)[case_name].builders[engine](tiny)
    step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeat):
        step()
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, name), (_, calls, self_s, cum_s, _) in stats.stats.items():
        label = f"{name} ({_short(filename)}:{line})" if line else name
        rows.append((cum_s, self_s, calls, label))
    return stats.total_tt, rows


def _short(filename):
    for root in ("/autograd/", "/nn/", "/optim/", "/benchmarks/", "/site-packages/", "/lib/python"):
        if root in filename:
            return root.strip("/").split("/")[-1] + "/" + filename.split(root, 1)[1]
    return filename


def format_hotspots(total, rows, top=25, sort="cumulative"):
    key = 0 if sort == "cumulative" else 1
    lines = [f"total {total * 1e3:.1f} ms profiled", f"{'cum%':>6} {'self%':>6} {'calls':>9}  function"]
    for cum_s, self_s, calls, label in sorted(rows, key=lambda r: -r[key])[:top]:
        lines.append(f"{100 * cum_s / total:6.1f} {100 * self_s / total:6.1f} {calls:9d}  {label}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.splitlines()[0])
    parser.add_argument("suite")
    parser.add_argument("case")
    parser.add_argument("--engine", choices=ENGINES, default="ours")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", choices=("cumulative", "tottime"), default="cumulative")
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    total, rows = hotspots(args.suite, args.case, args.engine, args.repeat, args.tiny)
    print(format_hotspots(total, rows, args.top, args.sort))


if __name__ == "__main__":
    main()
