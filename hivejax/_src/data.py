"""Datasets that work offline: MNIST-1D (generated locally) and scikit-learn's digits.

MNIST-1D is the canonical set of the ``mnist1d`` package (``make_dataset(get_dataset_args())``:
4000 train, 1000 test, 40 features). Generating it takes a few seconds, so the arrays are
cached as ``mnist1d.npz`` in ``$HIVEJAX_CACHE`` (default ``~/.cache/hivejax``), written
atomically. Digits are the 1797 8x8 images scaled to [0, 1], flattened, the first 1400 for
training and the rest for testing, as in the DEAP + PyTorch reference baseline.
"""

import os
import pathlib
import tempfile

import jax.numpy as jnp
import numpy as np
from flax import struct

DATASETS = ("mnist1d", "digits")


@struct.dataclass
class Dataset:
    """Train and test arrays; labels are integer classes."""

    x_train: jnp.ndarray
    y_train: jnp.ndarray
    x_test: jnp.ndarray
    y_test: jnp.ndarray
    num_classes: int = struct.field(pytree_node=False, default=10)


def cache_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("HIVEJAX_CACHE", "~/.cache/hivejax")).expanduser()


def _atomic_savez(path: pathlib.Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def _mnist1d_arrays() -> dict[str, np.ndarray]:
    path = cache_dir() / "mnist1d.npz"
    if path.exists():
        try:
            with np.load(path) as f:
                return {k: f[k] for k in ("x", "y", "x_test", "y_test")}
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is regenerated below
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


def load_dataset(name: str) -> Dataset:
    """Load a dataset by name (one of ``DATASETS``)."""
    if name == "mnist1d":
        a = _mnist1d_arrays()
        x, y, xt, yt = a["x"], a["y"], a["x_test"], a["y_test"]
    elif name == "digits":
        from sklearn.datasets import load_digits

        x_all, y_all = load_digits(return_X_y=True)
        x_all = (x_all / 16.0).astype(np.float32)
        y_all = y_all.astype(np.int32)
        x, y, xt, yt = x_all[:1400], y_all[:1400], x_all[1400:], y_all[1400:]
    else:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return Dataset(jnp.asarray(x), jnp.asarray(y), jnp.asarray(xt), jnp.asarray(yt), 10)
