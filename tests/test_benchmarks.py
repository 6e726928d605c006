"""Smoke tests of benchmarks/: every suite's code runs at tiny sizes (no timing assertions)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is a folder of the repo, not installed
from benchmarks import run, worker  # noqa: E402
from benchmarks.registry import SUITES, suite_cases  # noqa: E402

ONE_CASE = {"engine": "scalar_mlp", "conv": "conv_b", "train": "digits_default"}


@pytest.mark.parametrize("suite", SUITES)
def test_every_case_has_both_engines(suite):
    for case in suite_cases(suite).values():
        assert {"ours", "torch"} <= set(case.builders), case.name


@pytest.mark.parametrize("suite", SUITES)
def test_one_case_per_suite_runs_in_process(suite):
    result = worker.measure(suite, ONE_CASE[suite], "ours", repeat=1, warmup=0, tiny=True)
    assert "median_ms" in result, result
    if suite == "train":
        assert 0 <= result["extra"]["test_accuracy"] <= 1


def test_the_mean_of_the_steps_is_a_statistic_of_rows():
    result = worker.measure("engine", "chain_100k", "ours", repeat=3, warmup=1, tiny=True)
    assert result["mean_ms"] == pytest.approx(sum(result["times_ms"]) / 3)
    assert min(result["times_ms"]) <= result["mean_ms"] <= max(result["times_ms"])
    row = run.make_row(suite_cases("engine")["chain_100k"], {"ours": result}, stat="mean")
    assert row["ours_ms"] == pytest.approx(result["mean_ms"], abs=1e-3)


def test_ratios_pair_the_engines_round_by_round():
    row = {"ours_round_mins_ms": [2.0, 3.0, 6.0], "torch_round_mins_ms": [4.0, 2.0, 6.0],
           "micrograd_round_mins_ms": [1.0]}
    assert run._ratios_by_round(row, "min") == {"ratio_by_round": [0.5, 1.5, 1.0], "ratio_by_round_median": 1.0}
    row = {"ours_round_mins_ms": [2.0, None, 6.0], "torch_round_mins_ms": [4.0, 2.0, None]}  # failed rounds
    assert run._ratios_by_round(row, "min") == {"ratio_by_round": [0.5], "ratio_by_round_median": 0.5}


def test_torch_version_runs():
    pytest.importorskip("torch")
    result = worker.measure("conv", "maxpool_a", "torch", repeat=1, warmup=0, tiny=True)
    assert "median_ms" in result, result


def test_engine_errors_are_recorded_not_raised():
    pytest.importorskip("micrograd")
    result = worker.measure("engine", "chain_100k", "micrograd", repeat=1, warmup=0, tiny=True)
    assert "median_ms" in result or "error" in result


def test_runner_subprocess_row_and_table():
    case = suite_cases("engine")["chain_100k"]
    results = {"ours": run.run_worker("engine", "chain_100k", "ours", repeat=1, tiny=True),
               "micrograd": {"error": "RecursionError: maximum recursion depth exceeded"}}
    row = run.make_row(case, results)
    assert row["ours_us_per_op"] > 0 and "micrograd_error" in row
    table = run.format_table([row])
    assert "chain_100k" in table and "RecursionError" in table


def test_instruction_count_child_runs_and_missing_valgrind_is_named(monkeypatch):
    from benchmarks import instructions

    instructions.main(["--run", "chain", "1"])  # what callgrind measures, without callgrind
    monkeypatch.setattr(instructions.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit, match="valgrind is not installed"):
        instructions.main(["chain"])
