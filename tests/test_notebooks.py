"""The teaching notebooks run top to bottom in a fresh kernel, and are committed with their outputs.

Each notebook is executed with nbclient (kernel `python3`, working directory notebooks/, a time limit
per cell); any error fails its test. The committed .ipynb must hold exactly the cells of its source in
notebooks/src (rebuild with `python notebooks/build.py`) and stored outputs for every code cell that
produces some, including its pictures, so a code host shows the graphs and plots without running.
"""
import copy
import importlib.util
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = [
    "01_chain_rule_on_scalars",
    "02_tensors_and_jacobians",
    "03_softmax_and_cross_entropy",
    "04_convolution_from_scratch",
    "05_train_a_cnn",
    "06_seeing_backprop_in_a_cnn",
    "07_higher_order_and_gradcheck",
    "08_explore_backprop",
]
PICTURES = ("image/png", "image/svg+xml")


def _load_builder():
    spec = importlib.util.spec_from_file_location("notebook_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_builder()


def _pictures(cell):
    return {mime for out in cell.get("outputs", ()) for mime in out.get("data", {}) if mime in PICTURES}


def test_the_notebooks_and_their_sources_exist():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == NAMES
    assert sorted(p.stem for p in (NOTEBOOKS / "src").glob("*.py")) == NAMES


def test_committed_outputs_stay_small():
    total = sum((NOTEBOOKS / f"{name}.ipynb").stat().st_size for name in NAMES)
    assert total < 2 * 2**20, f"the notebooks hold {total / 2**20:.2f} MiB of outputs; keep pictures small"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_and_matches_its_committed_outputs(name):
    path = NOTEBOOKS / f"{name}.ipynb"
    committed = nbformat.read(path, as_version=4)
    assert build.cells_match(NOTEBOOKS / "src" / f"{name}.py", path), \
        f"{path.name} is out of date with notebooks/src/{name}.py: run `python notebooks/build.py {name[:2]}`"
    for i, cell in enumerate(committed.cells):
        for out in cell.get("outputs", ()):
            assert out.output_type != "error" and out.get("name") != "stderr", \
                f"{path.name}, cell {i}: the committed outputs hold an error or a warning"

    executed = build.execute(copy.deepcopy(committed))  # raises CellExecutionError on any error

    for i, (stored, fresh) in enumerate(zip(committed.cells, executed.cells)):
        if fresh.cell_type != "code" or not fresh.outputs:
            continue
        assert stored.outputs, f"{path.name}, cell {i}: produces output but none is committed"
        drawn, kept = sorted(_pictures(fresh)), sorted(_pictures(stored))
        assert drawn == kept, f"{path.name}, cell {i}: draws {drawn}, the committed cell holds {kept}"
