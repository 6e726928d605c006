"""Time one case with one engine, in this (fresh) process, and print the result as one JSON line.

    python -m benchmarks.worker SUITE CASE ENGINE [--repeat N] [--warmup N] [--tiny]

The step runs `warmup` times untimed (default 1), then `repeat` times under perf_counter
(garbage collection left on, as in real training). The JSON holds min, median and
mean milliseconds (the mean is what a long loop of steps pays, the collector's work
included), every time, the case's work (ops or flops) and, when PyTorch was
imported, `torch.get_num_threads()`. A missing engine gives
{"skipped": why}; an exception in the step gives {"error": "Type: message"}.
"""
import argparse
import gc
import json
import os
import resource
import statistics
import sys
import time

from .registry import ENGINES, Skip, suite_cases

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _max_rss_mb():
    """This process's peak resident memory so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _describe(error):
    text = str(error).splitlines()[0][:200] if str(error) else ""
    return f"{type(error).__name__}: {text}"


def measure(suite, case_name, engine, repeat=None, warmup=None, tiny=False):
    """Build and time one case for one engine; return the result dict (never raises for the step's errors)."""
    case = suite_cases(suite)[case_name]
    result = {"suite": suite, "case": case_name, "engine": engine, "tiny": tiny, **case.work(tiny)}
    repeat = case.repeat if repeat is None else repeat
    warmup = case.warmup if warmup is None else warmup
    try:
        build = case.builders[engine]
    except KeyError:
        return {**result, "skipped": f"no {engine} version of this case"}
    try:
        step = build(tiny)
    except Skip as why:
        return {**result, "skipped": str(why)}
    times, cpu = [], []
    extra = None
    try:
        gc.collect()  # the set-up's garbage; before the warm-up, so the timed steps see the collector as a loop does
        for _ in range(warmup):
            extra = step()
        for _ in range(repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            extra = step()
            times.append((time.perf_counter() - start) * 1e3)
            cpu.append((time.process_time() - start_cpu) * 1e3)
    except Exception as e:  # recorded, e.g. micrograd's RecursionError on deep graphs
        return {**result, "error": _describe(e), "times_ms": times}
    result.update(min_ms=min(times), median_ms=statistics.median(times), mean_ms=statistics.fmean(times),
                  repeat=repeat, times_ms=times, cpu_min_ms=min(cpu), cpu_median_ms=statistics.median(cpu),
                  cpu_mean_ms=statistics.fmean(cpu), max_rss_mb=_max_rss_mb())
    if isinstance(extra, dict):
        result["extra"] = extra
    if "torch" in sys.modules:
        result["torch_threads"] = sys.modules["torch"].get_num_threads()
    env = {v: os.environ[v] for v in THREAD_VARS if v in os.environ}
    if env:
        result["thread_env"] = env
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker", description=__doc__.splitlines()[0])
    parser.add_argument("suite")
    parser.add_argument("case")
    parser.add_argument("engine", choices=ENGINES)
    parser.add_argument("--repeat", type=int, default=None, help="timed steps (default: the case's own)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: the case's own)")
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.suite, args.case, args.engine, args.repeat, args.warmup, args.tiny)))


if __name__ == "__main__":
    main()
