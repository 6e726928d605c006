"""Data: DataLoader batching and shuffling, the bundled digits, IDX and .npz readers, transforms."""
import gzip

import numpy as np
import pytest

import autograd as ag
from nn.data import (Compose, DataLoader, Dataset, Normalize, RandomCrop, RandomHorizontalFlip, TensorDataset,
                     load_digits, load_mnist_idx, load_npz)

X = np.arange(30, dtype=np.float32).reshape(10, 3)
Y = np.arange(10, dtype=np.int64)


# -- DataLoader ---------------------------------------------------------------------------

def test_batches_cover_the_dataset_in_order():
    loader = DataLoader(TensorDataset(X, Y), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [len(xb) for xb, _ in batches] == [4, 4, 2]
    xb, yb = batches[0]
    assert isinstance(xb, ag.Tensor) and xb.dtype == np.float32 and yb.dtype == np.int64
    assert not xb.requires_grad
    np.testing.assert_array_equal(np.concatenate([xb.data for xb, _ in batches]), X)
    np.testing.assert_array_equal(np.concatenate([yb.data for _, yb in batches]), Y)


def test_drop_last():
    loader = DataLoader(TensorDataset(X, Y), batch_size=4, drop_last=True)
    assert len(loader) == 2 and [len(xb) for xb, _ in loader] == [4, 4]
    assert len(DataLoader(TensorDataset(X), batch_size=5, drop_last=True)) == 2


def epoch_orders(loader, epochs=2):
    return [np.concatenate([yb.data for _, yb in loader]) for _ in range(epochs)]


def test_shuffling_is_deterministic_per_seed_and_differs_across_epochs():
    make = lambda seed: DataLoader(TensorDataset(X, Y), batch_size=3, shuffle=True, seed=seed)  # noqa: E731
    first, second = epoch_orders(make(7))
    again = epoch_orders(make(7))
    np.testing.assert_array_equal(first, again[0])
    np.testing.assert_array_equal(second, again[1])
    assert not np.array_equal(first, second)
    assert sorted(first) == list(Y) and sorted(second) == list(Y)
    assert not np.array_equal(first, epoch_orders(make(8))[0])
    loader = make(7)
    loader.set_epoch(1)
    np.testing.assert_array_equal(epoch_orders(loader, 1)[0], second)


def test_shuffling_without_seed_follows_manual_seed():
    loader = DataLoader(TensorDataset(X, Y), batch_size=10, shuffle=True)
    ag.manual_seed(3)
    a = epoch_orders(loader, 1)[0]
    ag.manual_seed(3)
    b = epoch_orders(loader, 1)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, Y)


def test_inputs_and_labels_stay_paired():
    for xb, yb in DataLoader(TensorDataset(ag.tensor(X), Y), batch_size=4, shuffle=True, seed=0):
        np.testing.assert_array_equal(xb.data, X[yb.data])


def test_a_generic_dataset_is_collated():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full((2,), i, np.float32), i * i

    xb, yb = next(iter(DataLoader(Squares(), batch_size=3)))
    np.testing.assert_array_equal(xb.data, [[0, 0], [1, 1], [2, 2]])
    np.testing.assert_array_equal(yb.data, [0, 1, 4])

    class Plain(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return ag.tensor([i, -i])

    batches = list(DataLoader(Plain(), batch_size=3))
    assert isinstance(batches[0], ag.Tensor) and batches[0].shape == (3, 2) and batches[1].shape == (1, 2)


def test_transform_applies_to_the_inputs():
    loader = DataLoader(TensorDataset(X, Y), batch_size=5, transform=lambda x: -x)
    xb, yb = next(iter(loader))
    np.testing.assert_array_equal(xb.data, -X[:5])
    np.testing.assert_array_equal(yb.data, Y[:5])


def test_dataset_and_loader_errors():
    with pytest.raises(ValueError, match=r"same first dimension.*\(10, 3\), \(9,\)"):
        TensorDataset(X, Y[:9])
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(TensorDataset(X), batch_size=0)
    x2, y2 = TensorDataset(X, Y)[2]
    np.testing.assert_array_equal(x2, X[2])
    assert y2 == 2


# -- the bundled digits -------------------------------------------------------------------

def test_load_digits():
    x, y = load_digits()
    xt, yt = load_digits("test")
    xa, ya = load_digits("all")
    assert x.shape == (1437, 1, 8, 8) and xt.shape == (360, 1, 8, 8) and xa.shape == (1797, 1, 8, 8)
    assert x.dtype == np.float32 and y.dtype == np.int64 and y.shape == (1437,)
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(x * 16, np.round(x * 16))  # 17 grey levels
    for labels in (y, yt):
        counts = np.bincount(labels, minlength=10)
        assert len(counts) == 10 and counts.min() >= 0.9 * counts.max()  # every class, balanced
    np.testing.assert_array_equal(xa, np.concatenate([x, xt]))
    np.testing.assert_array_equal(ya, np.concatenate([y, yt]))
    with pytest.raises(ValueError, match="split"):
        load_digits("valid")


# -- IDX and .npz readers -----------------------------------------------------------------

def idx_bytes(array, type_code=0x08):
    header = bytes([0, 0, type_code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_idx_images_and_labels(tmp_path, gz):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 3, 4), dtype=np.uint8)
    labels = rng.integers(0, 10, 5, dtype=np.uint8)
    for name, array in (("images", images), ("labels", labels)):
        data = idx_bytes(array)
        path = tmp_path / (f"{name}-idx{array.ndim}-ubyte" + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(data) if gz else data)
        loaded = load_mnist_idx(path)
        assert loaded.dtype == np.uint8 and loaded.shape == array.shape
        np.testing.assert_array_equal(loaded, array)


def test_idx_big_endian_types(tmp_path):
    for code, dtype in ((0x0C, np.int32), (0x0D, np.float32), (0x0B, np.int16)):
        array = np.array([[1, -2, 300], [4, 5, -600]], dtype=dtype)
        path = tmp_path / f"t{code}.idx"
        path.write_bytes(idx_bytes(array, code))
        loaded = load_mnist_idx(str(path))
        assert loaded.dtype == np.dtype(dtype) and loaded.dtype.isnative
        np.testing.assert_array_equal(loaded, array)


def test_not_idx_is_a_clear_error(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello, world")
    with pytest.raises(ValueError, match="not an IDX file.*68 65 6c 6c"):
        load_mnist_idx(text)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="not an IDX file"):
        load_mnist_idx(empty)
    data = idx_bytes(np.zeros((4, 2, 2), np.uint8))
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(gzip.compress(data[:-3]))
    with pytest.raises(ValueError, match="13 bytes of data, expected 16"):
        load_mnist_idx(truncated)
    header_only = tmp_path / "header"
    header_only.write_bytes(data[:9])
    with pytest.raises(ValueError, match="truncated: its header needs 16 bytes"):
        load_mnist_idx(header_only)
    damaged = tmp_path / "damaged.gz"
    damaged.write_bytes(gzip.compress(data)[:-10])
    with pytest.raises(ValueError, match="damaged gzip"):
        load_mnist_idx(damaged)


def test_load_npz(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=X, y=Y)
    x, y = load_npz(path)
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(y, Y)
    np.savez(path, images=X)
    with pytest.raises(ValueError, match="needs arrays 'x' and 'y'; it has images"):
        load_npz(path)


def test_load_npz_refuses_a_file_that_is_not_a_zip_without_advising_pickle(tmp_path):
    path = tmp_path / "d.npz"
    path.write_bytes(b"hello, this is text")
    with pytest.raises(ValueError, match="is not a .npz file: expected a zip archive") as error:
        load_npz(path)
    assert "pickle" not in str(error.value)
    np.save(tmp_path / "plain.npy", X)
    (tmp_path / "plain.npy").rename(path)  # a .npy renamed to .npz
    with pytest.raises(ValueError, match="is not a .npz file: expected a zip archive .*got 93 4e 55 4d"):
        load_npz(path)


def test_load_npz_reports_a_damaged_archive(tmp_path):
    path = tmp_path / "d.npz"
    np.savez_compressed(path, x=X, y=Y)
    data = path.read_bytes()
    for damaged in (data[: len(data) // 2], data[:40] + bytes(len(data) - 40)):
        path.write_bytes(damaged)
        with pytest.raises(ValueError, match="damaged zip archive"):
            load_npz(path)


def test_load_npz_refuses_pickled_object_arrays(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object), y=Y[:2])
    with pytest.raises(ValueError, match="array 'x' is not a readable numeric array"):
        load_npz(path)


def test_idx_with_an_absurd_header_is_refused_without_allocating(tmp_path):
    path = tmp_path / "huge"
    path.write_bytes(bytes([0, 0, 0x08, 3]) + np.array([2**32 - 1] * 3, ">u4").tobytes() + bytes(10))
    with pytest.raises(ValueError, match=r"has 10 bytes of data, expected 79228162458924105385300197375"):
        load_mnist_idx(path)


def test_idx_gzip_with_damaged_deflate_data(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8).reshape(2, 10, 10)))
    damaged = tmp_path / "damaged.gz"
    damaged.write_bytes(data[:12] + bytes([data[12] ^ 0xFF]) + data[13:])
    with pytest.raises(ValueError, match="damaged gzip"):
        load_mnist_idx(damaged)


# -- transforms ---------------------------------------------------------------------------

IMAGES = np.random.default_rng(1).random((64, 2, 5, 6)).astype(np.float32)


def test_normalize():
    out = Normalize(mean=[0.5, 0.25], std=[0.5, 2.0])(IMAGES)
    assert out.dtype == np.float32 and out.shape == IMAGES.shape
    np.testing.assert_allclose(out[:, 0], (IMAGES[:, 0] - 0.5) / 0.5, rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], (IMAGES[:, 1] - 0.25) / 2.0, rtol=1e-6)
    np.testing.assert_allclose(Normalize(0.5, 0.5)(IMAGES), (IMAGES - 0.5) / 0.5, rtol=1e-6)
    assert Normalize(0, 1)(np.zeros((1, 1, 2, 2), np.uint8)).dtype == ag.get_default_dtype()
    with pytest.raises(ValueError, match="3 mean values for a batch with 2 channels"):
        Normalize([0, 0, 0], 1)(IMAGES)


def test_random_crop_cuts_windows_of_the_padded_images():
    crop = RandomCrop((5, 6), padding=2, generator=0)
    out = crop(IMAGES)
    assert out.shape == IMAGES.shape and out.dtype == IMAGES.dtype
    padded = np.pad(IMAGES, ((0, 0), (0, 0), (2, 2), (2, 2)))
    offsets = set()
    for n in range(len(IMAGES)):
        found = [(i, j) for i in range(5) for j in range(5)
                 if np.array_equal(out[n], padded[n, :, i:i + 5, j:j + 6])]
        assert found, "each output is one window of its padded image, all channels alike"
        offsets.add(found[0])
    assert len(offsets) > 5, "each image gets its own offset"
    np.testing.assert_array_equal(RandomCrop((5, 6), padding=2, generator=0)(IMAGES), out)
    assert not np.array_equal(crop(IMAGES), out), "a seeded transform draws new offsets per batch"
    np.testing.assert_array_equal(RandomCrop((5, 6))(IMAGES), IMAGES)
    assert RandomCrop(3)(IMAGES).shape == (64, 2, 3, 3)
    with pytest.raises(ValueError, match="larger than the padded image"):
        RandomCrop(7)(IMAGES)


def test_random_horizontal_flip():
    np.testing.assert_array_equal(RandomHorizontalFlip(p=1.0)(IMAGES), IMAGES[..., ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(p=0.0)(IMAGES), IMAGES)
    out = RandomHorizontalFlip(generator=np.random.default_rng(0))(IMAGES)
    flipped = [np.array_equal(o, x[..., ::-1]) for o, x in zip(out, IMAGES)]
    kept = [np.array_equal(o, x) for o, x in zip(out, IMAGES)]
    assert all(f or k for f, k in zip(flipped, kept)) and 10 < sum(flipped) < 54
    ag.manual_seed(5)
    a = RandomHorizontalFlip()(IMAGES)
    ag.manual_seed(5)
    np.testing.assert_array_equal(RandomHorizontalFlip()(IMAGES), a)


def test_compose_and_batch_shape_errors():
    pipeline = Compose([RandomHorizontalFlip(p=1.0), Normalize(1.0, 2.0)])
    np.testing.assert_allclose(pipeline(IMAGES), (IMAGES[..., ::-1] - 1.0) / 2.0, rtol=1e-6)
    with pytest.raises(ValueError, match=r"RandomCrop: expected a batch .* \(N, C, H, W\), got shape \(5, 6\)"):
        RandomCrop(2)(IMAGES[0, 0])


def test_loader_over_digits_with_augmentation():
    x, y = load_digits("test")
    loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True, seed=0,
                        transform=Compose([RandomCrop(8, padding=1, generator=0), Normalize(0.3, 0.4)]))
    shapes = [(xb.shape, yb.shape) for xb, yb in loader]
    assert shapes == [((128, 1, 8, 8), (128,))] * 2 + [((104, 1, 8, 8), (104,))]
