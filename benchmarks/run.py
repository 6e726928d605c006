"""Run a benchmark suite, one subprocess per engine per case; print a table and write JSON.

    python -m benchmarks.run [--suite engine|conv|train|all] [--repeat N] [--quick] [--case NAME ...]
                             [--rounds R] [--wait-idle S] [--show]

Each (case, engine) pair runs in its own `python -m benchmarks.worker` process:
once PyTorch's thread pool has run, NumPy's BLAS in the same process slows by
up to 4x on 2 cores. Results go to benchmarks/results/<suite>.json
(<suite>-quick.json with --quick), rows of case, ours_ms, torch_ms,
ratio = ours/torch, micrograd_ms, and per-engine µs/op or GFLOP/s.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .registry import ENGINES, SUITES, suite_cases

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
BUSY = 0.25  # fraction of all CPU time used by other processes above which timings are flagged


def _machine_cpu():
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat (None where unreadable)."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - values[3] - values[4]) / tick, sum(values) / tick  # minus idle and iowait


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_busy(interval=0.5):
    """Share of the machine's CPU time used (by anyone) over the next `interval` seconds; None if unknown."""
    start = _machine_cpu()
    time.sleep(interval)
    end = _machine_cpu()
    if start is None or end is None:
        return None
    return (end[0] - start[0]) / max(1e-9, end[1] - start[1])


def others_share(run):
    """Call run(); return (its result, share of the machine's CPU time that other processes used meanwhile)."""
    start, own = _machine_cpu(), _children_cpu()
    result = run()
    end, own = _machine_cpu(), _children_cpu() - own
    if start is None or end is None:
        return result, None
    return result, max(0.0, (end[0] - start[0] - own) / max(1e-9, end[1] - start[1]))


def wait_for_idle(max_wait, log=print):
    """Sleep until other processes use less than BUSY of the CPUs, at most `max_wait` s; return the last busy share."""
    deadline = time.monotonic() + max_wait
    busy = cpu_busy()
    while busy is not None and busy > BUSY and time.monotonic() < deadline:
        log(f"(machine {busy:.0%} busy, waiting)", end=" ", flush=True)
        time.sleep(5)
        busy = cpu_busy()
    return busy


def run_worker(suite, case, engine, repeat=None, tiny=False, timeout=1800):
    """Measure one (case, engine) in a fresh interpreter; return the worker's dict (errors included)."""
    cmd = [sys.executable, "-m", "benchmarks.worker", suite, case, engine]
    if repeat is not None:
        cmd += ["--repeat", str(repeat)]
    if tiny:
        cmd.append("--tiny")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"worker exited with {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def make_row(case, results, stat="median"):
    """One table row from {engine: worker result}: ms and CPU ms (the median or the minimum of the timed steps,
    as `stat` says), min ms, peak RSS, ratio, and derived rates."""
    row = {"case": case.name, "what": case.what}
    for engine, r in results.items():
        if "median_ms" in r:
            ms = r[f"{stat}_ms"]
            row[f"{engine}_ms"] = round(ms, 4)
            row[f"{engine}_min_ms"] = round(r["min_ms"], 4)
            if f"cpu_{stat}_ms" in r:
                row[f"{engine}_cpu_ms"] = round(r[f"cpu_{stat}_ms"], 4)
                row[f"{engine}_rss_mb"] = round(r["max_rss_mb"], 1)
            if r.get("ops"):
                row[f"{engine}_us_per_op"] = round(ms * 1e3 / r["ops"], 3)
            if r.get("flops"):
                row[f"{engine}_gflops"] = round(r["flops"] / (ms * 1e6), 2)
            if r.get("extra"):
                row[f"{engine}_extra"] = r["extra"]
            if "torch_threads" in r:
                row.setdefault("torch_threads", r["torch_threads"])
        elif "error" in r:
            row[f"{engine}_error"] = r["error"]
        elif "skipped" in r:
            row[f"{engine}_skipped"] = r["skipped"]
    for engine, r in results.items():
        for key in ("ops", "flops"):
            if r.get(key):
                row[key] = r[key]
    if row.get("ours_ms") and row.get("torch_ms"):
        row["ratio"] = round(row["ours_ms"] / row["torch_ms"], 3)
    if row.get("ours_ms") and row.get("micrograd_ms"):
        row["ratio_micrograd"] = round(row["ours_ms"] / row["micrograd_ms"], 3)
    return row


def _cell(row, engine, key="ms"):
    if f"{engine}_{key}" in row:
        return f"{row[f'{engine}_{key}']:.{1 if key == 'rss_mb' else 2}f}"
    if f"{engine}_error" in row:
        kind = row[f"{engine}_error"].split(":")[0]
        return kind if kind.isidentifier() else "error"
    return "-"


def _rate(row):
    """The derived column: µs per op, GFLOP/s or test accuracy, for each engine that has one."""
    parts = []
    for engine in ENGINES:
        if f"{engine}_us_per_op" in row:
            parts.append(f"{engine} {row[f'{engine}_us_per_op']:.2f} µs/op")
        elif f"{engine}_gflops" in row:
            parts.append(f"{engine} {row[f'{engine}_gflops']:.1f} GFLOP/s")
        elif "test_accuracy" in row.get(f"{engine}_extra", {}):
            parts.append(f"{engine} test accuracy {row[f'{engine}_extra']['test_accuracy']:.3f}")
    return ", ".join(parts)


COLUMNS = ("case", "ours ms", "torch ms", "ratio", "ours CPU ms", "torch CPU ms", "peak RSS MB ours/torch",
           "micrograd ms", "rate")


def _cells(r, times="x"):
    """One row's cells under COLUMNS."""
    ratio = f"{r['ratio']:.2f}{times}" if "ratio" in r else "-"
    rss = f"{_cell(r, 'ours', 'rss_mb')}/{_cell(r, 'torch', 'rss_mb')}"
    return (r["case"], _cell(r, "ours"), _cell(r, "torch"), ratio, _cell(r, "ours", "cpu_ms"),
            _cell(r, "torch", "cpu_ms"), rss, _cell(r, "micrograd"), _rate(r))


def format_table(rows):
    """A plain-text table: case, ours ms, torch ms, ratio, CPU ms of each, peak RSS, micrograd ms, rates."""
    head = COLUMNS
    body = [_cells(r) for r in rows]
    widths = [max(len(str(line[i])) for line in [head, *body]) for i in range(len(head))]
    fmt = lambda line: "  ".join(str(c).ljust(w) if i in (0, len(head) - 1) else str(c).rjust(w)  # noqa: E731
                                 for i, (c, w) in enumerate(zip(line, widths))).rstrip()
    lines = [fmt(head), fmt(["-" * w for w in widths]), *map(fmt, body)]
    notes = [f"  {r['case']}: {e}: {r[f'{e}_{kind}']}" for r in rows for e in ENGINES
             for kind in ("error", "skipped") if f"{e}_{kind}" in r]
    return "\n".join(lines + (["notes:"] + notes if notes else []))


def format_markdown(report):
    """A saved report as a Markdown table (for the README and notes)."""
    m = report["machine"]
    lines = [f"`{report['suite']}` — {report['date']}, commit {report.get('commit')}, {m['cpus']} CPUs, NumPy "
             f"{m['numpy']} ({m.get('blas', '?')}), torch {m.get('torch', '-')} "
             f"({m.get('torch_threads', '?')} threads), {report.get('stat', 'median')} of the timed steps", "",
             "| " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * (len(COLUMNS) - 2) + "---|"]
    lines += ["| " + " | ".join(_cells(r, "×")) + " |" for r in report["rows"]]
    return "\n".join(lines)


def commit():
    """The measured code's git commit, with '+dirty' when autograd/, nn/, optim/ or the benchmarks' code have
    uncommitted changes."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "autograd", "nn", "optim", "benchmarks/*.py")
    except OSError:
        return None
    return (head + ("+dirty" if dirty else "")) or None


def machine():
    """What the numbers were measured on."""
    import numpy

    info = {"python": platform.python_version(), "numpy": numpy.__version__, "cpus": os.cpu_count(),
            "platform": platform.platform(), "processor": platform.processor() or platform.machine()}
    try:
        blas = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{blas['name']} {blas.get('version', '')}".strip()
    except (TypeError, KeyError):  # NumPy < 1.26 has no dict mode
        pass
    probe = "import torch; print(torch.__version__, torch.get_num_threads())"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if proc.returncode == 0:
        version, threads = proc.stdout.split()
        info.update(torch=version, torch_threads=int(threads))
    return info


def _pick(tries, stat="median"):
    """From [(result, busy share)], the fastest quiet measurement (else the fastest, else the first)."""
    timed = [t for t in tries if "median_ms" in t[0]]
    if not timed:
        return tries[0]
    quiet = [t for t in timed if t[1] <= BUSY] or timed
    return min(quiet, key=lambda t: t[0][f"{stat}_ms"])


def _ratios_by_round(row, stat):
    """ours / torch (`ratio_by_round`) and ours / micrograd (`ratio_micrograd_by_round`) within each round where
    both ran: the engines of a round ran one after the other, so a slow spell of the machine moves both; `*_median`
    is the median of those ratios."""
    ratios = {}
    ours = row.get(f"ours_round_{stat}s_ms", [])
    for other, key in (("torch", "ratio"), ("micrograd", "ratio_micrograd")):
        theirs = row.get(f"{other}_round_{stat}s_ms", [])
        by_round = [round(a / b, 3) for a, b in zip(ours, theirs) if a is not None and b is not None]
        if by_round and len(theirs) == len(ours):
            ratios[f"{key}_by_round"] = by_round
            ratios[f"{key}_by_round_median"] = round(statistics.median(by_round), 3)
    return ratios


def run_suite(suite, repeat=None, tiny=False, cases=None, wait_idle=0, rounds=1, log=print, stat="median"):
    """Run every case (or the named ones) of a suite; return the JSON-ready report.

    Each (case, engine) runs in `rounds` separate processes (engines alternating) and the
    fastest quiet round is kept: on this VM the same PyTorch conv varies by up to 1.5x between
    processes. Before each worker the CPU share used by other processes is sampled (waiting up
    to `wait_idle` s for it to drop below BUSY) and measured again while it runs (the machine's
    busy time minus the worker's own); each row records the kept rounds' largest share as `busy`.
    `stat` ("median", "min" or "mean") is the statistic of the timed steps that rows and ratios use.
    """
    rows = []
    for name, case in suite_cases(suite).items():
        if cases and name not in cases:
            continue
        tries = {engine: [] for engine in case.builders}
        for _ in range(rounds):
            for engine in case.builders:
                if tries[engine] and "median_ms" not in tries[engine][0][0]:
                    continue  # skipped or failed: the same again next round
                log(f"  {suite}/{name} [{engine}] ...", end=" ", flush=True)
                before = wait_for_idle(wait_idle, log) or 0.0
                start = time.perf_counter()
                r, during = others_share(lambda: run_worker(suite, name, engine, repeat, tiny))
                tries[engine].append((r, max(before, during or 0.0)))
                status = r.get("error") or r.get("skipped") or f"{r[f'{stat}_ms']:.2f} ms"
                log(f"{status}  ({time.perf_counter() - start:.0f} s; other processes used {before:.0%} of the "
                    f"CPUs before, {during or 0:.0%} during)")
        picked = {engine: _pick(t, stat) for engine, t in tries.items()}
        row = make_row(case, {engine: r for engine, (r, _) in picked.items()}, stat)
        row["busy"] = round(max(busy for _, busy in picked.values()), 2)
        if rounds > 1:
            row["rounds"] = rounds
            for engine, t in tries.items():
                if len(t) > 1:
                    row[f"{engine}_round_{stat}s_ms"] = [round(r[f"{stat}_ms"], 3) if "median_ms" in r else None
                                                         for r, _ in t]  # None: that round failed
            row.update(_ratios_by_round(row, stat))
        rows.append(row)
    return {"suite": suite, "date": time.strftime("%Y-%m-%d %H:%M"), "commit": commit(), "quick": tiny,
            "stat": stat, "machine": machine(), "rows": rows}


def write_report(report):
    """Write benchmarks/results/<suite>[-quick].json atomically, keeping rows of cases not re-run; return the path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{report['suite']}{'-quick' if report['quick'] else ''}.json"
    if path.exists():
        fresh = {row["case"]: row for row in report["rows"]}
        old = {row["case"]: row for row in json.loads(path.read_text())["rows"]}
        order = list(suite_cases(report["suite"]))
        merged = {**{k: v for k, v in old.items() if k in order}, **fresh}
        report = {**report, "rows": [merged[name] for name in order if name in merged]}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=(*SUITES, "all"), default="all")
    parser.add_argument("--repeat", type=int, default=None, help="timed steps per case (default: per case)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 repeats: checks that all runs")
    parser.add_argument("--case", nargs="*", help="only these cases of the suite")
    parser.add_argument("--rounds", type=int, default=1, metavar="R",
                        help="measure each case in R separate processes per engine and keep the fastest quiet one")
    parser.add_argument("--wait-idle", type=float, default=0, metavar="S",
                        help="before each measurement wait up to S seconds for other processes to go quiet")
    parser.add_argument("--stat", choices=("median", "min", "mean"), default="median",
                        help="the statistic of the timed steps in the table and ratios (default median)")
    parser.add_argument("--show", action="store_true", help="print the saved results as Markdown; run nothing")
    args = parser.parse_args(argv)
    suites = SUITES if args.suite == "all" else (args.suite,)
    if args.show:
        for suite in suites:
            path = RESULTS / f"{suite}{'-quick' if args.quick else ''}.json"
            if path.exists():
                print(format_markdown(json.loads(path.read_text())) + "\n")
        return
    repeat = 2 if args.quick and args.repeat is None else args.repeat
    for suite in suites:
        print(f"suite {suite}")
        report = run_suite(suite, repeat, args.quick, args.case, args.wait_idle, args.rounds, stat=args.stat)
        path = write_report(report)
        print(format_table(report["rows"]))
        busy = [r["case"] for r in report["rows"] if r["busy"] > BUSY]
        if busy:
            print(f"warning: other processes used over {BUSY:.0%} of the CPUs around {', '.join(busy)}: "
                  "they distort these timings, PyTorch's thread pool most of all (try --wait-idle 300)")
        print(f"wrote {path.relative_to(ROOT)}\n")


if __name__ == "__main__":
    main()
