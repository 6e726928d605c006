"""Side-by-side timings of chainrule against PyTorch CPU (and micrograd), one process per engine per case.

    python -m benchmarks.run --suite engine        # table + benchmarks/results/engine.json
    python -m benchmarks.worker engine chain torch # one measurement, as JSON
    python -m benchmarks.profile engine scalar_mlp # cProfile of chainrule on one case

See benchmarks/README.md for the cases and the measured tables.
"""
