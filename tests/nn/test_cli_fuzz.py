"""Property: whatever is wrong with a .npz or an IDX pair, `chainrule train` answers with one line and exit
status 2, never a traceback and never a training run."""
import gzip
import io
import math
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nn.cli import main

GOOD_X = np.random.default_rng(0).integers(0, 256, (12, 8, 8)).astype(np.uint8)
GOOD_Y = np.arange(12) % 10


def _npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _idx_bytes(array, type_code=0x08):
    header = bytes([0, 0, type_code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


# each strategy draws a defect, so no example is valid data
BAD_ARRAYS = st.one_of(
    st.builds(lambda i, v: {"x": GOOD_X, "y": np.where(np.arange(12) == i, v, GOOD_Y)},
              st.integers(0, 11), st.one_of(st.integers(-10**12, -1), st.integers(1000, 10**12))),
    st.builds(lambda i, v: {"x": GOOD_X, "y": np.where(np.arange(12) == i, v, GOOD_Y.astype(float))},
              st.integers(0, 11), st.floats().filter(lambda v: not float(v).is_integer())),
    st.builds(lambda i, v: {"x": np.where(np.arange(12 * 64).reshape(12, 8, 8) == i, v, GOOD_X / 255.0), "y": GOOD_Y},
              st.integers(0, 12 * 64 - 1), st.sampled_from([np.nan, np.inf, -np.inf, 1e39])),
    st.builds(lambda shape: {"x": np.zeros(shape, np.uint8), "y": GOOD_Y},
              st.lists(st.integers(1, 5), min_size=1, max_size=5).map(lambda s: (12, *s)).filter(
                  lambda s: s[-2:] not in ((8, 8), (28, 28)))),
    st.builds(lambda n: {"x": GOOD_X[:n], "y": GOOD_Y}, st.integers(0, 11)),
    st.builds(lambda key: {key: GOOD_X}, st.sampled_from(["x", "y", "images"])),
    st.just({"x": GOOD_X.astype(str), "y": GOOD_Y}),
    st.just({"x": GOOD_X, "y": GOOD_Y.reshape(3, 4)}),
)


@st.composite
def bad_npz(draw):
    kind = draw(st.sampled_from(["bytes", "truncated", "arrays"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300).map(lambda b: draw(st.sampled_from([b"", b"PK\x03\x04"])) + b))
    if kind == "truncated":
        data = _npz_bytes(x=GOOD_X, y=GOOD_Y)
        return data[:draw(st.integers(0, len(data) - 1))]
    return _npz_bytes(**draw(BAD_ARRAYS))


@st.composite
def bad_idx_pair(draw):
    images, labels = _idx_bytes(GOOD_X), _idx_bytes(GOOD_Y.astype(np.uint8))
    defect = draw(st.sampled_from(["bytes", "truncated", "header", "labels", "counts"]))
    if defect == "bytes":
        images = draw(st.binary(max_size=200))
    elif defect == "truncated":
        images = images[:draw(st.integers(0, len(images) - 1))]
    elif defect == "header":
        dims = draw(st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=4))
        data = images[16:]
        if math.prod(dims) == len(data):  # a header that fits the data would be a valid file
            data = data[:-1]
        images = bytes([0, 0, 0x08, len(dims)]) + np.array(dims, ">u4").tobytes() + data
    elif defect == "labels":
        bad = np.array([draw(st.sampled_from([-1.5, 0.5, np.nan, 1e6, -3.0]))] * 12, np.float32)
        labels = _idx_bytes(bad, 0x0D)
    else:
        labels = _idx_bytes(GOOD_Y[:draw(st.integers(0, 11))].astype(np.uint8))
    if draw(st.booleans()):
        images = gzip.compress(images)
    return images, labels


def _answers_in_one_line(argv, capsys):
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 2, captured.err
    err = captured.err.strip()
    assert err.startswith("chainrule train: error: ") and "\n" not in err and "Traceback" not in err
    assert "epoch" not in captured.out


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(content=bad_npz())
def test_any_bad_npz_is_one_line_and_status_2(content, capsys):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.npz"
        path.write_bytes(content)
        _answers_in_one_line(["train", "--data", str(path), "--epochs", "1", "--out", folder], capsys)


@FUZZ
@given(pair=bad_idx_pair())
def test_any_bad_idx_pair_is_one_line_and_status_2(pair, capsys):
    with tempfile.TemporaryDirectory() as folder:
        images, labels = Path(folder) / "images-idx3-ubyte", Path(folder) / "labels-idx1-ubyte"
        images.write_bytes(pair[0])
        labels.write_bytes(pair[1])
        _answers_in_one_line(["train", "--data", str(images), str(labels), "--epochs", "1", "--out", folder], capsys)
