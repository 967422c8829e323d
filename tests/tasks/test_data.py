"""Dataset loaders: tiny files in every on-disk format, and every way they can be wrong."""

import gzip
import os
import pickle

import numpy as np
import pytest

from hivejax._src.tasks.data import DATASETS, Dataset, DatasetError, load_dataset

# ---- writers for tiny files in each format --------------------------------------------------


def _idx(images_or_labels: np.ndarray, magic: int) -> bytes:
    a = np.asarray(images_or_labels, np.uint8)
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in a.shape)
    return header + a.tobytes()


def _write(path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def _write_idx_set(folder, n_train=6, n_test=4, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        suffix = ".gz" if gz else ""
        _write(folder / f"{prefix}-images-idx3-ubyte{suffix}", _idx(images, 0x803))
        _write(folder / f"{prefix}-labels-idx1-ubyte{suffix}", _idx(labels, 0x801))
        arrays[prefix] = (images, labels)
    return arrays


def _cifar_pickle(data: np.ndarray, labels: list[int], legacy: bool) -> bytes:
    # Protocol 3 keeps bytes as bytes (protocol 2 under Python 3 reaches for _codecs) and
    # names globals as text, so the numpy 1 module name of the real files can be written in.
    blob = pickle.dumps(
        {b"batch_label": b"tiny", b"labels": labels, b"data": data, b"filenames": [b"a"]},
        protocol=3,
    )
    if legacy:
        blob = blob.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
        assert b"numpy.core.multiarray\n" in blob
    return blob


def _write_cifar(root, n_train=20, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        n = n_test if name == "test_batch" else n_train
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n)]
        (folder / name).write_bytes(_cifar_pickle(data, labels, legacy=i % 2 == 0))
        batches[name] = (data, labels)
    return batches


# ---- named sets ---------------------------------------------------------------------------------


def test_digits_keep_their_shape_and_split():
    from sklearn.datasets import load_digits

    d = load_dataset("digits")
    assert d.shape == (8, 8, 1) and d.num_classes == 10
    assert d.x_train.shape == (1400, 8, 8, 1) and d.x_test.shape == (397, 8, 8, 1)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int32
    flat, labels = load_digits(return_X_y=True)
    # Flattened, the images are exactly the 64-feature vectors the MLP used to see.
    np.testing.assert_array_equal(
        np.asarray(d.x_train).reshape(1400, 64), (flat[:1400] / 16.0).astype(np.float32)
    )
    np.testing.assert_array_equal(d.y_test, labels[1400:])


def test_mnist1d_examples_are_vectors_of_40(tmp_path, monkeypatch):
    # A planted cache stands in for the few seconds of generating the real set.
    monkeypatch.setenv("HIVEJAX_CACHE", str(tmp_path))
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "mnist1d.npz",
        x=rng.normal(size=(8, 40)).astype(np.float32),
        y=np.arange(8) % 10,
        x_test=rng.normal(size=(4, 40)).astype(np.float32),
        y_test=np.arange(4),
    )
    d = load_dataset("mnist1d")
    assert d.shape == (40,) and d.x_train.shape == (8, 40) and d.num_classes == 10


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match="choose one of mnist1d, digits") as e:
        load_dataset("imagenet")
    assert all(name in str(e.value) for name in DATASETS) and "npz:PATH" in str(e.value)
    assert not isinstance(e.value, DatasetError)


def test_dataset_is_a_pytree_with_static_shape():
    import jax

    x, y = np.zeros((2, 3), np.float32), np.zeros(2, np.int32)
    d = Dataset(x, y, x, y, num_classes=3, shape=(3,))
    leaves, tree = jax.tree.flatten(d)
    assert len(leaves) == 4
    assert jax.tree.unflatten(tree, leaves).shape == (3,)


# ---- IDX ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_idx_round_trip(tmp_path, name, gz):
    arrays = _write_idx_set(tmp_path / name, gz=gz)
    d = load_dataset(name, data_dir=tmp_path)
    assert d.shape == (28, 28, 1) and d.num_classes == 10
    assert d.x_train.shape == (6, 28, 28, 1) and d.x_test.shape == (4, 28, 28, 1)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int32
    np.testing.assert_allclose(d.x_train[..., 0], arrays["train"][0] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(d.y_test, arrays["t10k"][1])
    assert 0.0 <= float(d.x_test.min()) and float(d.x_test.max()) <= 1.0


def test_data_dir_argument_wins_over_env(tmp_path, monkeypatch):
    _write_idx_set(tmp_path / "env" / "mnist", n_train=3)
    _write_idx_set(tmp_path / "arg" / "mnist", n_train=5)
    monkeypatch.setenv("HIVEJAX_DATA", str(tmp_path / "env"))
    assert load_dataset("mnist").x_train.shape[0] == 3
    assert load_dataset("mnist", data_dir=tmp_path / "arg").x_train.shape[0] == 5


def test_no_data_dir_is_an_error(monkeypatch):
    monkeypatch.delenv("HIVEJAX_DATA", raising=False)
    with pytest.raises(DatasetError, match="HIVEJAX_DATA"):
        load_dataset("cifar10")


def test_missing_idx_file_names_it_and_the_source(tmp_path):
    _write_idx_set(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError) as e:
        load_dataset("mnist", data_dir=tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "mnist" / "t10k-labels-idx1-ubyte") in msg
    assert "missing" in msg and "yann.lecun.com" in msg and "raw or .gz" in msg


def test_wrong_magic_names_the_file(tmp_path):
    _write_idx_set(tmp_path / "mnist", gz=True)
    path = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    _write(path, _idx(np.zeros((6, 28, 28)), 0x801))
    with pytest.raises(DatasetError, match="magic 0x00000803 expected, got 0x00000801") as e:
        load_dataset("mnist", data_dir=tmp_path)
    assert str(e.value).startswith(str(path))


def test_truncated_file_names_it(tmp_path):
    _write_idx_set(tmp_path / "fashion_mnist")
    path = tmp_path / "fashion_mnist" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DatasetError, match="truncated") as e:
        load_dataset("fashion_mnist", data_dir=tmp_path)
    assert str(e.value).startswith(str(path))


def test_wrong_image_size_names_the_file(tmp_path):
    _write_idx_set(tmp_path / "mnist")
    path = tmp_path / "mnist" / "train-images-idx3-ubyte"
    _write(path, _idx(np.zeros((6, 32, 32)), 0x803))
    with pytest.raises(DatasetError, match=r"sizes \(6, 32, 32\), expected N x 28 x 28"):
        load_dataset("mnist", data_dir=tmp_path)


def test_count_mismatch_names_the_file(tmp_path):
    _write_idx_set(tmp_path / "mnist")
    path = tmp_path / "mnist" / "train-labels-idx1-ubyte"
    _write(path, _idx(np.zeros(5), 0x801))
    with pytest.raises(DatasetError, match="5 labels for the 6 images") as e:
        load_dataset("mnist", data_dir=tmp_path)
    assert str(e.value).startswith(str(path))


def test_label_out_of_range_names_the_file(tmp_path):
    _write_idx_set(tmp_path / "mnist")
    path = tmp_path / "mnist" / "t10k-labels-idx1-ubyte"
    _write(path, _idx(np.full(4, 10), 0x801))
    with pytest.raises(DatasetError, match="label 10 out of range") as e:
        load_dataset("mnist", data_dir=tmp_path)
    assert str(e.value).startswith(str(path))


def test_corrupt_gzip_names_the_file(tmp_path):
    _write_idx_set(tmp_path / "mnist")
    raw = tmp_path / "mnist" / "train-images-idx3-ubyte"
    raw.unlink()
    path = raw.with_name(raw.name + ".gz")
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match="unreadable") as e:
        load_dataset("mnist", data_dir=tmp_path)
    assert str(e.value).startswith(str(path))


# ---- CIFAR-10 ---------------------------------------------------------------------------------


def test_cifar10_round_trip(tmp_path):
    batches = _write_cifar(tmp_path)
    d = load_dataset("cifar10", data_dir=tmp_path)
    assert d.shape == (32, 32, 3) and d.num_classes == 10
    assert d.x_train.shape == (100, 32, 32, 3) and d.x_test.shape == (10, 32, 32, 3)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int32
    data, labels = batches["data_batch_2"]
    # Row layout: the red plane, then green, then blue, each 32x32 row-major.
    pixel = np.asarray(d.x_train[20 + 3, 4, 5])
    want = data[3, [4 * 32 + 5, 1024 + 4 * 32 + 5, 2048 + 4 * 32 + 5]] / 255.0
    np.testing.assert_allclose(pixel, want, rtol=1e-6)
    np.testing.assert_array_equal(d.y_train[20:40], labels)
    np.testing.assert_array_equal(d.y_test, batches["test_batch"][1])


def test_missing_cifar_batch_names_it(tmp_path):
    _write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_4"
    path.unlink()
    with pytest.raises(DatasetError, match="missing.*cifar-10-python.tar.gz") as e:
        load_dataset("cifar10", data_dir=tmp_path)
    assert str(e.value).startswith(str(path))


class _Evil:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    _write_cifar(tmp_path)
    marker = tmp_path / "pwned"
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(pickle.dumps({b"data": _Evil(f"echo pwned > {marker}"), b"labels": []}))
    with pytest.raises(DatasetError, match="refusing to load .*system") as e:
        load_dataset("cifar10", data_dir=tmp_path)
    assert str(e.value).startswith(str(path))
    assert not marker.exists()


def test_cifar_batch_of_the_wrong_shape_names_it(tmp_path):
    _write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    path.write_bytes(_cifar_pickle(np.zeros((4, 100), np.uint8), [0] * 4, legacy=False))
    with pytest.raises(DatasetError, match=r"shape \(4, 100\); expected \[N, 3072\]") as e:
        load_dataset("cifar10", data_dir=tmp_path)
    assert str(e.value).startswith(str(path))


def test_cifar_label_count_mismatch_names_the_file(tmp_path):
    _write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(_cifar_pickle(np.zeros((4, 3072), np.uint8), [0] * 3, legacy=False))
    with pytest.raises(DatasetError, match="3 labels for 4 images") as e:
        load_dataset("cifar10", data_dir=tmp_path)
    assert str(e.value).startswith(str(path))


# ---- npz --------------------------------------------------------------------------------------


def test_npz_images_get_a_channel_and_are_scaled(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (7, 5, 6), dtype=np.uint8)
    xt = rng.integers(0, 256, (3, 5, 6), dtype=np.uint8)
    path = tmp_path / "tiny.npz"
    np.savez(path, x_train=x, y_train=np.array([0, 1, 2, 0, 1, 2, 0]), x_test=xt, y_test=[4, 0, 1])
    d = load_dataset(f"npz:{path}")
    assert d.shape == (5, 6, 1) and d.x_train.shape == (7, 5, 6, 1)
    assert d.num_classes == 5  # the largest label is in the test set
    assert d.x_train.dtype == np.float32 and d.y_test.dtype == np.int32
    np.testing.assert_allclose(d.x_test[..., 0], xt / 255.0, rtol=1e-6)


def test_npz_float_vectors_are_kept(tmp_path):
    x = np.linspace(-2, 2, 12, dtype=np.float64).reshape(4, 3)
    path = tmp_path / "vec.npz"
    np.savez(path, x_train=x, y_train=[0, 1, 1, 0], x_test=x[:2], y_test=[1, 1])
    d = load_dataset(f"npz:{path}")
    assert d.shape == (3,) and d.num_classes == 2
    np.testing.assert_allclose(d.x_train, x.astype(np.float32))


def test_npz_missing_key_names_the_file(tmp_path):
    path = tmp_path / "partial.npz"
    np.savez(path, x_train=np.zeros((2, 3)), y_train=[0, 1], x_test=np.zeros((1, 3)))
    with pytest.raises(DatasetError, match="no y_test; expected an .npz") as e:
        load_dataset(f"npz:{path}")
    assert str(e.value).startswith(str(path))


def test_npz_missing_file_and_object_arrays(tmp_path):
    with pytest.raises(DatasetError, match="missing"):
        load_dataset(f"npz:{tmp_path / 'absent.npz'}")
    path = tmp_path / "objects.npz"
    objects = np.array([{"a": 1}, None], dtype=object)
    np.savez(path, x_train=objects, y_train=[0, 1], x_test=objects, y_test=[0, 1])
    with pytest.raises(DatasetError, match="not loadable") as e:
        load_dataset(f"npz:{path}")
    assert str(e.value).startswith(str(path))


def test_npz_label_count_mismatch(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, x_train=np.zeros((3, 2)), y_train=[0, 1], x_test=np.zeros((1, 2)), y_test=[0])
    with pytest.raises(DatasetError, match="2 labels in y_train for 3 in x_train"):
        load_dataset(f"npz:{path}")
