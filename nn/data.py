"""Data: datasets, a batching DataLoader, the bundled digits, IDX/.npz readers, and batch transforms.

    x, y = load_digits("train")                       # (1437, 1, 8, 8) float32 in [0, 1], (1437,) int64
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, seed=0)
    for xb, yb in loader:                             # Tensors (64, 1, 8, 8) and (64,)
        ...

All randomness (shuffling, crops, flips) comes from `autograd.generator()` unless a seed is given.
"""
import gzip
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from autograd.creation import from_numpy
from autograd.creation import generator as shared_generator
from autograd.dtypes import get_default_dtype
from autograd.tensor import Tensor

DATASETS = Path(__file__).parent / "datasets"


def _generator(seed):
    """None (use the shared generator at each call), a given Generator, or a new one from an int seed."""
    return np.random.default_rng(seed) if isinstance(seed, (int, np.integer)) else seed


def _draw(generator):
    return shared_generator() if generator is None else generator


def _array(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


# -- datasets and loading -------------------------------------------------------------------

class Dataset:
    """A sized collection of samples: subclasses define `__len__` and `__getitem__(i)`.

    A sample is an array (or a number) or a tuple of them; DataLoader stacks samples into batches.
    """

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")


class TensorDataset(Dataset):
    """Samples are rows of equally long arrays or Tensors: `ds[i] == (x[i], y[i], ...)`.

    DataLoader batches it by indexing every array with a whole batch of indices at once.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one array")
        self.arrays = tuple(_array(t) for t in tensors)
        lengths = [len(a) if a.ndim else None for a in self.arrays]
        if None in lengths or len(set(lengths)) != 1:
            shapes = ", ".join(str(a.shape) for a in self.arrays)
            raise ValueError(f"TensorDataset: all arrays need the same first dimension, got shapes {shapes}")

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)


class DataLoader:
    """Iterate over a dataset in batches of Tensors.

    `shuffle=True` draws a new order every epoch (each `iter(loader)`): from `seed` and the epoch
    number when a seed is given (the same seed gives the same sequence of epochs), else from the
    shared generator. `drop_last` drops a final batch smaller than `batch_size`. `transform` maps
    the first array of each batch (the inputs, e.g. (N, C, H, W) images) to a new array.
    A TensorDataset yields a tuple of Tensors per batch; another dataset yields what its samples
    are, stacked: a Tensor, or a tuple of Tensors for tuple samples.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None, transform=None):
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last, self.seed, self.transform = shuffle, drop_last, seed, transform
        self.epoch = 0

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch):
        """Choose the epoch whose order the next iteration uses (e.g. to resume a seeded run)."""
        self.epoch = epoch

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch]) if self.seed is not None else shared_generator()
            order = rng.permutation(n)
        else:
            order = np.arange(n)
        self.epoch += 1
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield self._batch(order[start:start + self.batch_size])

    def _batch(self, indices):
        if isinstance(self.dataset, TensorDataset):
            arrays = [a[indices] for a in self.dataset.arrays]
            single = False
        else:
            samples = [self.dataset[int(i)] for i in indices]
            single = not isinstance(samples[0], tuple)
            fields = [samples] if single else list(zip(*samples))
            arrays = [np.stack([_array(s) for s in field]) for field in fields]
        if self.transform is not None:
            arrays[0] = self.transform(arrays[0])
        tensors = tuple(from_numpy(a) for a in arrays)
        return tensors[0] if single else tensors


def load_digits(split="train"):
    """The bundled UCI handwritten digits: images float32 (N, 1, 8, 8) in [0, 1] and labels int64 (N,).

    split: 'train' (1,437 images), 'test' (360) or 'all' (1,797). A fixed stratified split; see
    nn/datasets/DIGITS_LICENSE.txt for the source (Alpaydin & Kaynak, UCI, CC BY 4.0).
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"load_digits: split must be 'train', 'test' or 'all', got {split!r}")
    with np.load(DATASETS / "digits.npz") as f:
        parts = ["train", "test"] if split == "all" else [split]
        x = np.concatenate([f[f"x_{p}"] for p in parts])
        y = np.concatenate([f[f"y_{p}"] for p in parts])
    return (x[:, None] / np.float32(16)).astype(np.float32, copy=False), y.astype(np.int64)


_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_mnist_idx(path):
    """Read an IDX file (MNIST / Fashion-MNIST format), gzipped or raw, into a NumPy array.

    Layout: two zero bytes, a type byte (0x08 = uint8, ...), the number of dimensions d, then d
    big-endian uint32 sizes and the data. Images come back as uint8 (N, rows, cols), labels as (N,).
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:  # a bad header, an early end, bad deflate data
            raise ValueError(f"load_mnist_idx: {path} is a damaged gzip file ({err})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_TYPES:
        raise ValueError(f"load_mnist_idx: {path} is not an IDX file: expected the magic bytes 00 00 <type> <ndim> "
                         f"with type one of 08 09 0b 0c 0d 0e, got {raw[:4].hex(' ') or 'an empty file'}")
    dtype, ndim = np.dtype(_IDX_TYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"load_mnist_idx: {path} is truncated: its header needs {header} bytes, "
                         f"the file has {len(raw)}")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", ndim, 4))
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow for absurd headers
    if len(raw) - header != expected:
        raise ValueError(f"load_mnist_idx: {path} has {len(raw) - header} bytes of data, expected {expected} "
                         f"for shape {shape} of {dtype.name} (truncated or not IDX)")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


# what zipfile raises reading a damaged archive: bad structure, bad deflate data, an early end,
# an offset outside the file (OSError EINVAL), a garbled compression method or version
_DAMAGED_ZIP = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError)


def load_npz(path):
    """Read (x, y) from a .npz file holding numeric arrays named 'x' and 'y' (never unpickling anything)."""
    path = Path(path)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise ValueError(f"load_npz: {path} is not a .npz file: expected a zip archive (it starts with 50 4b 03 04), "
                         f"got {magic.hex(' ') or 'an empty file'}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("x", "y") if k not in archive.files]
            if missing:
                raise ValueError(f"load_npz: {path} needs arrays 'x' and 'y'; "
                                 f"it has {', '.join(archive.files) or 'none'}")
            return _npz_array(archive, "x", path), _npz_array(archive, "y", path)
    except _DAMAGED_ZIP as error:
        raise ValueError(f"load_npz: {path} is a damaged zip archive (truncated?): {error!r}") from None


def _npz_array(archive, key, path):
    """One array of an open .npz; object arrays (stored pickled) and damaged members are refused."""
    try:
        return archive[key]
    except (ValueError, MemoryError) as error:  # a pickled object array, a damaged .npy header or a false shape
        raise ValueError(f"load_npz: {path}: array '{key}' is not a readable numeric array ({error})") from None


# -- transforms on batches (N, C, H, W) -----------------------------------------------------

def _check_batch(name, x):
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        got = f"shape {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"{name}: expected a batch array of shape (N, C, H, W), got {got}")


class Compose:
    """Apply transforms one after the other: Compose([RandomCrop(8, 1), Normalize(0.5, 0.25)])."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class Normalize:
    """Per-channel standardisation: out[:, c] = (x[:, c] − mean[c]) / std[c] (a number applies to all channels)."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        self.std = np.asarray(std, dtype=np.float64).reshape(-1)
        if np.any(self.std == 0):
            raise ValueError("Normalize: std must be non-zero")

    def __call__(self, x):
        _check_batch("Normalize", x)
        channels = x.shape[1]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if v.size not in (1, channels):
                raise ValueError(f"Normalize: {v.size} {name} values for a batch with {channels} channels")
        dtype = x.dtype if x.dtype.kind == "f" else get_default_dtype()
        mean, std = (v.astype(dtype).reshape(1, -1, 1, 1) for v in (self.mean, self.std))
        return (x.astype(dtype, copy=False) - mean) / std


class RandomCrop:
    """Zero-pad each image by `padding` on every side, then cut a random size×size window (one per image).

    `generator`: None (the shared generator), an int seed or a np.random.Generator.
    """

    def __init__(self, size, padding=0, generator=None):
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.padding, self.generator = padding, _generator(generator)

    def __call__(self, x):
        _check_batch("RandomCrop", x)
        p, (h, w) = self.padding, self.size
        if p:
            x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        n, _, height, width = x.shape
        if h > height or w > width:
            raise ValueError(f"RandomCrop: crop {h}×{w} is larger than the padded image {height}×{width}")
        rng = _draw(self.generator)
        top = rng.integers(0, height - h + 1, size=n)
        left = rng.integers(0, width - w + 1, size=n)
        rows = (top[:, None] + np.arange(h))[:, None, :, None]
        cols = (left[:, None] + np.arange(w))[:, None, None, :]
        return x[np.arange(n)[:, None, None, None], np.arange(x.shape[1])[None, :, None, None], rows, cols]


class RandomHorizontalFlip:
    """Mirror each image left-right with probability p (`generator` as in RandomCrop)."""

    def __init__(self, p=0.5, generator=None):
        self.p, self.generator = p, _generator(generator)

    def __call__(self, x):
        _check_batch("RandomHorizontalFlip", x)
        flip = _draw(self.generator).random(len(x)) < self.p
        out = x.copy()
        out[flip] = x[flip, ..., ::-1]
        return out
