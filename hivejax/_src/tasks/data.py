"""Datasets, loaded offline: generated or bundled sets, and files already on disk.

Named sets (``DATASETS``):

* ``mnist1d``: the canonical set of the ``mnist1d`` package (``make_dataset(get_dataset_args())``:
  4000 train, 1000 test, examples of shape ``(40,)``). Generating it takes a few seconds, so
  the arrays are cached as ``mnist1d.npz`` in ``$HIVEJAX_CACHE`` (default ``~/.cache/hivejax``),
  written atomically.
* ``digits``: scikit-learn's 1797 8x8 images, ``(8, 8, 1)`` scaled to [0, 1], the first 1400
  for training and the rest for testing, as in the DEAP + PyTorch reference baseline.
* ``mnist``, ``fashion_mnist``, ``cifar10``: read from a data directory, never downloaded.

Files on disk live under one data directory: the ``data_dir`` argument of ``load_dataset`` if
given, else ``$HIVEJAX_DATA``. Its layout::

    DATA_DIR/mnist/train-images-idx3-ubyte[.gz]          MNIST, the four IDX files
    DATA_DIR/mnist/train-labels-idx1-ubyte[.gz]
    DATA_DIR/mnist/t10k-images-idx3-ubyte[.gz]
    DATA_DIR/mnist/t10k-labels-idx1-ubyte[.gz]
    DATA_DIR/fashion_mnist/...                           Fashion-MNIST, the same four names
    DATA_DIR/cifar-10-batches-py/data_batch_1 ... _5     CIFAR-10, as cifar-10-python.tar.gz
    DATA_DIR/cifar-10-batches-py/test_batch              unpacks

Each IDX file may be raw or gzipped (the raw one is read when both exist). Any ``.npz`` file
with arrays ``x_train``, ``y_train``, ``x_test``, ``y_test`` loads as ``npz:PATH`` (PATH as
given, relative to the working directory; the data directory plays no part).

Examples keep their natural shape (``Dataset.shape``); images are float32 in [0, 1] (uint8
divided by 255), labels int32. A missing or malformed file raises ``DatasetError`` naming the
file and the format expected.
"""

import gzip
import os
import pathlib
import pickle

import jax.numpy as jnp
import numpy as np
from flax import struct

from hivejax._src.program.files import cache_dir, write_atomic

DATASETS = ("mnist1d", "digits", "mnist", "fashion_mnist", "cifar10")

_IDX_SOURCES = {
    "mnist": ("MNIST", "http://yann.lecun.com/exdb/mnist/"),
    "fashion_mnist": ("Fashion-MNIST", "https://github.com/zalandoresearch/fashion-mnist"),
}
_IDX_IMAGES, _IDX_LABELS = 0x00000803, 0x00000801
_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_SOURCE = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message names the file and its format."""


@struct.dataclass
class Dataset:
    """Train and test arrays; labels are integer classes.

    Attributes:
      x_train: ``[N, *shape]`` examples.
      y_train: ``[N]`` int32 labels in ``[0, num_classes)``.
      x_test: ``[M, *shape]`` examples.
      y_test: ``[M]`` int32 labels.
      num_classes: number of classes (static).
      shape: the shape of one example, e.g. ``(40,)`` or ``(28, 28, 1)`` (static, so a model
        can be chosen from it without looking at arrays).
    """

    x_train: jnp.ndarray
    y_train: jnp.ndarray
    x_test: jnp.ndarray
    y_test: jnp.ndarray
    num_classes: int = struct.field(pytree_node=False, default=10)
    shape: tuple[int, ...] = struct.field(pytree_node=False, default=())


def resolve_data_dir(path: str | os.PathLike | None = None) -> pathlib.Path:
    """The directory datasets are read from: ``path`` if given, else ``$HIVEJAX_DATA``.

    Raises:
      DatasetError: neither is set.
    """
    path = path if path is not None else os.environ.get("HIVEJAX_DATA")
    if not path:
        raise DatasetError("no data directory: pass data_dir or set HIVEJAX_DATA")
    return pathlib.Path(path).expanduser()


def _make(x, y, xt, yt, num_classes: int) -> Dataset:
    x, xt = np.asarray(x, np.float32), np.asarray(xt, np.float32)
    y, yt = np.asarray(y, np.int32), np.asarray(yt, np.int32)
    return Dataset(
        jnp.asarray(x), jnp.asarray(y), jnp.asarray(xt), jnp.asarray(yt), num_classes, x.shape[1:]
    )


# ---- generated and bundled sets ----------------------------------------------------------


def _atomic_savez(path: pathlib.Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: np.savez(f, **arrays))


def _mnist1d_arrays() -> dict[str, np.ndarray]:
    path = cache_dir() / "mnist1d.npz"
    if path.exists():
        try:
            with np.load(path) as f:
                return {k: f[k] for k in ("x", "y", "x_test", "y_test")}
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is regenerated below
    # Late: mnist1d takes most of a second to import, and only the first build needs it.
    from mnist1d.data import get_dataset_args, make_dataset

    d = make_dataset(get_dataset_args())
    arrays = {
        "x": d["x"].astype(np.float32),
        "y": d["y"].astype(np.int32),
        "x_test": d["x_test"].astype(np.float32),
        "y_test": d["y_test"].astype(np.int32),
    }
    try:
        _atomic_savez(path, **arrays)
    except OSError:
        pass  # a read-only cache only costs regeneration next time
    return arrays


def _digits() -> Dataset:
    # Late: scikit-learn takes most of a second to import, and only this data set needs it.
    from sklearn.datasets import load_digits

    digits = load_digits()
    # Row-major images flatten to exactly the old 64-feature vectors, so an MLP (which
    # flattens) sees the same inputs as before the images kept their shape.
    x_all = (digits.images / 16.0).astype(np.float32)[..., None]
    y_all = digits.target.astype(np.int32)
    return _make(x_all[:1400], y_all[:1400], x_all[1400:], y_all[1400:], 10)


# ---- IDX (MNIST, Fashion-MNIST) -------------------------------------------------------------


def _read_bytes(path: pathlib.Path, expected: str) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise DatasetError(f"{path}: unreadable ({e}); expected {expected}") from e


def _parse_idx(path: pathlib.Path, magic: int, dims: tuple[int | None, ...]) -> np.ndarray:
    """An IDX array of unsigned bytes, checked against ``magic`` and ``dims`` (None: any)."""
    kind = "image" if magic == _IDX_IMAGES else "label"
    expected = f"an IDX {kind} file (magic 0x{magic:08x}, then {len(dims)} big-endian sizes)"
    raw = _read_bytes(path, expected)
    header = 4 + 4 * len(dims)
    if len(raw) < header:
        raise DatasetError(
            f"{path}: {len(raw)} bytes, shorter than the header; expected {expected}"
        )
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        raise DatasetError(
            f"{path}: not an IDX {kind} file (magic 0x{magic:08x} expected, got 0x{got:08x})"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(len(dims)))
    if any(want is not None and got != want for got, want in zip(shape, dims, strict=True)):
        want = " x ".join("N" if d is None else str(d) for d in dims)
        raise DatasetError(f"{path}: IDX {kind} sizes {shape}, expected {want}")
    size = int(np.prod(shape))
    if len(raw) != header + size:
        raise DatasetError(
            f"{path}: {len(raw)} bytes, expected {header + size} for an IDX {kind} file of "
            f"shape {shape} (truncated or padded)"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def _idx_file(folder: pathlib.Path, stem: str, name: str) -> pathlib.Path:
    for path in (folder / stem, folder / f"{stem}.gz"):
        if path.is_file():
            return path
    title, url = _IDX_SOURCES[name]
    raise DatasetError(
        f"{folder / stem}: missing; expected the {title} IDX files train-images-idx3-ubyte, "
        f"train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte from {url} "
        f"in {folder} (raw or .gz)"
    )


def _idx_split(folder: pathlib.Path, prefix: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    images_path = _idx_file(folder, f"{prefix}-images-idx3-ubyte", name)
    labels_path = _idx_file(folder, f"{prefix}-labels-idx1-ubyte", name)
    images = _parse_idx(images_path, _IDX_IMAGES, (None, 28, 28))
    labels = _parse_idx(labels_path, _IDX_LABELS, (None,))
    if len(images) != len(labels):
        raise DatasetError(
            f"{labels_path}: {len(labels)} labels for the {len(images)} images of {images_path}"
        )
    if labels.size and labels.max() >= 10:
        raise DatasetError(f"{labels_path}: label {labels.max()} out of range; expected 0-9")
    return images[..., None] / np.float32(255), labels


def _idx_dataset(root: pathlib.Path, name: str) -> Dataset:
    folder = root / name
    x, y = _idx_split(folder, "train", name)
    xt, yt = _idx_split(folder, "t10k", name)
    return _make(x, y, xt, yt, 10)


# ---- CIFAR-10 ---------------------------------------------------------------------------------


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts of bytes, lists and numpy arrays, and nothing that could run code.

    A pickle names the callables it will invoke; only numpy's array and dtype reconstructors
    are handed out, so a hostile file fails here before anything runs.
    """

    # Resolved from live objects rather than imported by name: ``numpy.core`` is a
    # deprecated alias in numpy 2, and importing it warns.
    _ALLOWED = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): np.ndarray.__reduce__(np.zeros(0))[0],
        ("numpy._core.multiarray", "_reconstruct"): np.ndarray.__reduce__(np.zeros(0))[0],
    }

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: only numpy arrays are allowed"
            ) from None


def _cifar_batch(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    expected = (
        f"a CIFAR-10 python batch (a pickled dict with b'data' [N, 3072] uint8 and b'labels') "
        f"from {_CIFAR_SOURCE}"
    )
    if not path.is_file():
        raise DatasetError(f"{path}: missing; expected {expected}")
    try:
        with path.open("rb") as f:
            # CIFAR-10's batches were pickled by Python 2: its str keys decode as bytes.
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except Exception as e:  # anything a malformed pickle raises
        raise DatasetError(f"{path}: not loadable ({e}); expected {expected}") from e
    if not isinstance(batch, dict):
        raise DatasetError(f"{path}: holds a {type(batch).__name__}; expected {expected}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise DatasetError(f"{path}: no uint8 [N, 3072] 'data' array; expected {expected}")
    if data.shape[1] != 3072:
        raise DatasetError(f"{path}: data has shape {data.shape}; expected [N, 3072]")
    try:
        labels = np.asarray(labels, np.int64)
    except (TypeError, ValueError) as e:
        raise DatasetError(f"{path}: labels are not integers; expected {expected}") from e
    if labels.shape != (len(data),):
        raise DatasetError(
            f"{path}: {labels.size} labels for {len(data)} images; expected one label each"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= 10):
        raise DatasetError(f"{path}: labels outside 0-9; expected CIFAR-10 classes")
    # Each row is the red, green and blue 32x32 planes in turn; the models take HWC.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images / np.float32(255), labels


def _cifar10(root: pathlib.Path) -> Dataset:
    folder = root / _CIFAR_DIR
    train = [_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    xt, yt = _cifar_batch(folder / "test_batch")
    x = np.concatenate([b[0] for b in train])
    y = np.concatenate([b[1] for b in train])
    return _make(x, y, xt, yt, 10)


# ---- npz ----------------------------------------------------------------------------------------


def _npz(path: pathlib.Path) -> Dataset:
    expected = "an .npz archive with arrays " + ", ".join(_NPZ_KEYS)
    if not path.is_file():
        raise DatasetError(f"{path}: missing; expected {expected}")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DatasetError(f"{path}: a single .npy array; expected {expected}")
        with archive:
            missing = [k for k in _NPZ_KEYS if k not in archive.files]
            if missing:
                raise DatasetError(f"{path}: no {', '.join(missing)}; expected {expected}")
            x, y, xt, yt = (archive[k] for k in _NPZ_KEYS)
    except DatasetError:
        raise
    except Exception as e:  # not a zip, a pickled object array, a damaged member
        raise DatasetError(f"{path}: not loadable ({e}); expected {expected}") from e
    for key, a, labels in (("x_train", x, y), ("x_test", xt, yt)):
        ykey = "y" + key[1:]
        if a.ndim < 2:
            raise DatasetError(f"{path}: {key} has shape {a.shape}; expected [N, ...]")
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise DatasetError(
                f"{path}: {ykey} is {labels.dtype} {labels.shape}; expected integer [N]"
            )
        if len(labels) != len(a):
            raise DatasetError(f"{path}: {len(labels)} labels in {ykey} for {len(a)} in {key}")
        if labels.size and labels.min() < 0:
            raise DatasetError(f"{path}: negative label in {ykey}; expected classes 0, 1, ...")
    if x.shape[1:] != xt.shape[1:]:
        raise DatasetError(f"{path}: x_train examples {x.shape[1:]} but x_test {xt.shape[1:]}")
    if x.ndim == 3:  # [N, H, W] greyscale images take a channel axis, as the models want HWC
        x, xt = x[..., None], xt[..., None]
    # Bytes are pixels; any other type is taken to be scaled already.
    x, xt = (a / np.float32(255) if a.dtype == np.uint8 else a for a in (x, xt))
    num_classes = int(max(y.max(initial=0), yt.max(initial=0))) + 1
    return _make(x, y, xt, yt, num_classes)


def load_dataset(name: str, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load a dataset by name: one of ``DATASETS``, or ``npz:PATH``.

    Args:
      name: ``mnist1d``, ``digits``, ``mnist``, ``fashion_mnist``, ``cifar10`` or
        ``npz:PATH``. See the module docstring for the files each reads.
      data_dir: the directory holding ``mnist/``, ``fashion_mnist/`` and
        ``cifar-10-batches-py/``; it wins over ``$HIVEJAX_DATA``. Unused by the generated
        and bundled sets and by ``npz:``.

    Returns:
      The dataset, examples in their natural shape ``Dataset.shape``.

    Raises:
      DatasetError: a file is missing or malformed, or no data directory is set.
      ValueError: the name is unknown.

    >>> load_dataset("digits").shape
    (8, 8, 1)
    """
    check_dataset_name(name)
    if name.startswith("npz:"):
        return _npz(pathlib.Path(name[len("npz:") :]).expanduser())
    if name == "mnist1d":
        a = _mnist1d_arrays()
        return _make(a["x"], a["y"], a["x_test"], a["y_test"], 10)
    if name == "digits":
        return _digits()
    if name in _IDX_SOURCES:
        return _idx_dataset(resolve_data_dir(data_dir), name)
    return _cifar10(resolve_data_dir(data_dir))  # the one name left


def check_dataset_name(name: str) -> None:
    """``ValueError`` unless ``name`` is one of ``DATASETS`` or ``npz:PATH``."""
    if not (name in DATASETS or name.startswith("npz:")):
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}, npz:PATH")
