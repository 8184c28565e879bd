"""Tests for ntk_nas.data: specs, safe loading of npz and CIFAR pickles, batches."""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import os
import pickle
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ntk_nas.data as data_module
from ntk_nas.data import (
    GAUSSIAN_CLASSES,
    GAUSSIAN_EXAMPLES,
    DataError,
    Dataset,
    load_dataset,
    sample_batch,
)

CIFAR10_MEAN = np.array([125.3, 123.0, 113.9]) / 255
CIFAR10_STD = np.array([63.0, 62.1, 66.7]) / 255
CIFAR100_MEAN = np.array([129.3, 124.1, 112.4]) / 255
CIFAR100_STD = np.array([68.2, 65.4, 70.4]) / 255


# --- writing CIFAR-format pickles -------------------------------------------------------------


class _Python2Pickler(pickle._Pickler):
    """Writes str and bytes as Python 2 ``str`` (BINSTRING), as cPickle did for CIFAR."""

    dispatch: ClassVar[dict[type, Callable[..., None]]] = pickle._Pickler.dispatch.copy()

    def _save_python2_str(self, obj: str | bytes) -> None:
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)

    dispatch[str] = _save_python2_str
    dispatch[bytes] = _save_python2_str


def _python2_pickle(obj: object) -> bytes:
    """Protocol 2 bytes as written by Python 2 with numpy 1.x (``numpy.core`` names)."""
    sink = io.BytesIO()
    _Python2Pickler(sink, protocol=2).dump(obj)
    return sink.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def _python3_pickle(obj: object) -> bytes:
    return pickle.dumps(obj, protocol=4)


def _cifar_rows(count: int, seed: int) -> np.ndarray:
    """uint8 (count, 3072) rows: R plane, G plane, B plane, each 32x32 row-major."""
    return np.random.default_rng(seed).integers(0, 256, (count, 3072), dtype=np.uint8)


def _write_cifar10(
    root: Path,
    rows: np.ndarray,
    labels: list[int],
    dump: Callable[[object], bytes] = _python2_pickle,
) -> Path:
    """Writes ``root/cifar-10-batches-py`` with the same tiny batch five times (+ test_batch)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    names = [*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]
    for name in names:
        batch = {
            b"batch_label": f"{name} of tiny".encode(),
            b"labels": labels,
            b"data": rows,
            b"filenames": [f"image_{i}.png".encode() for i in range(len(labels))],
        }
        (folder / name).write_bytes(dump(batch))
    return folder


def _write_cifar100(root: Path, rows: np.ndarray, fine: list[int]) -> Path:
    folder = root / "cifar-100-python"
    folder.mkdir()
    for name in ("train", "test"):
        batch = {
            b"filenames": [f"image_{i}.png".encode() for i in range(len(fine))],
            b"batch_label": f"{name} batch".encode(),
            b"fine_labels": fine,
            b"coarse_labels": [label // 5 for label in fine],
            b"data": rows,
        }
        (folder / name).write_bytes(_python2_pickle(batch))
    return folder


def _pixel(dataset: Dataset, index: int, row: int, col: int, channel: int) -> float:
    """Un-normalised [0, 255] value of one pixel."""
    value = dataset.x[index, row, col, channel] * dataset.std[channel] + dataset.mean[channel]
    return float(value * 255)


# --- CIFAR folders ------------------------------------------------------------------------------


@pytest.mark.parametrize("dump", [_python2_pickle, _python3_pickle], ids=["python2", "python3"])
def test_cifar10_folder_loads_with_hwc_pixels(tmp_path: Path, dump: Callable[..., bytes]) -> None:
    rows = _cifar_rows(3, seed=0)
    rows[1, 1 * 1024 + 5 * 32 + 7] = 201  # image 1, green channel, row 5, column 7
    _write_cifar10(tmp_path, rows, [0, 9, 4], dump)

    dataset = load_dataset(f"cifar10:{tmp_path}")

    assert dataset.x.shape == (15, 32, 32, 3)
    assert dataset.x.dtype == np.float32
    assert dataset.y.dtype == np.int64
    assert dataset.y.tolist() == [0, 9, 4] * 5
    assert dataset.num_classes == 10
    assert dataset.name == f"cifar10:{tmp_path}"
    assert _pixel(dataset, 1, 5, 7, 1) == pytest.approx(201, abs=1e-3)
    assert _pixel(dataset, 2, 31, 0, 2) == pytest.approx(rows[2, 2 * 1024 + 31 * 32], abs=1e-3)
    np.testing.assert_allclose(dataset.mean, CIFAR10_MEAN)
    np.testing.assert_allclose(dataset.std, CIFAR10_STD)


def test_cifar10_folder_given_directly_with_one_image_per_batch(tmp_path: Path) -> None:
    folder = _write_cifar10(tmp_path, _cifar_rows(1, seed=1), [3])
    assert load_dataset(f"cifar10:{folder}").x.shape == (5, 32, 32, 3)


def test_cifar100_folder_uses_fine_labels(tmp_path: Path) -> None:
    rows = _cifar_rows(4, seed=2)
    _write_cifar100(tmp_path, rows, [0, 99, 42, 7])

    dataset = load_dataset(f"cifar100:{tmp_path}")

    assert dataset.x.shape == (4, 32, 32, 3)
    assert dataset.y.tolist() == [0, 99, 42, 7]
    assert dataset.num_classes == 100
    assert _pixel(dataset, 3, 0, 31, 0) == pytest.approx(rows[3, 31], abs=1e-3)
    np.testing.assert_allclose(dataset.mean, CIFAR100_MEAN)
    np.testing.assert_allclose(dataset.std, CIFAR100_STD)


def test_cifar_folder_missing_batch_is_named(tmp_path: Path) -> None:
    folder = _write_cifar10(tmp_path, _cifar_rows(1, seed=0), [1])
    (folder / "data_batch_4").unlink()
    with pytest.raises(DataError, match="data_batch_4; expected the official python release"):
        load_dataset(f"cifar10:{tmp_path}")


def test_missing_cifar_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"not found: .*nowhere"):
        load_dataset(f"cifar100:{tmp_path / 'nowhere'}")


class _Exploit:
    def __init__(self, function: Callable[[str], object], argument: str) -> None:
        self.function = function
        self.argument = argument

    def __reduce__(self) -> tuple[Any, ...]:
        return self.function, (self.argument,)


@pytest.mark.parametrize("dump", [_python2_pickle, _python3_pickle], ids=["python2", "python3"])
@pytest.mark.parametrize(
    ("function", "command"),
    [(os.system, "touch {marker}"), (builtins.exec, "open({marker!r}, 'w').close()")],
    ids=["os.system", "exec"],
)
def test_malicious_pickle_is_refused(
    tmp_path: Path, function: Callable[[str], object], command: str, dump: Callable[..., bytes]
) -> None:
    folder = _write_cifar10(tmp_path, _cifar_rows(1, seed=0), [1])
    marker = tmp_path / "pwned"
    payload = {b"data": _Exploit(function, command.format(marker=str(marker))), b"labels": [1]}
    (folder / "data_batch_1").write_bytes(dump(payload))

    with pytest.raises(DataError, match="refusing to unpickle global") as caught:
        load_dataset(f"cifar10:{tmp_path}")

    assert str(folder / "data_batch_1") in str(caught.value)
    assert f".{function.__name__};" in str(caught.value)  # e.g. posix.system, builtins.exec
    assert not marker.exists()


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        ({b"data": np.array([1, "a"], dtype=object), b"labels": [1]}, "non-numeric dtype"),
        ({b"data": _cifar_rows(2, seed=0)[:, :3000], b"labels": [1, 2]}, "'data'"),
        ({b"data": _cifar_rows(2, seed=0).astype(np.float32), b"labels": [1, 2]}, "'data'"),
        ({b"data": _cifar_rows(2, seed=0), b"labels": [1, 10]}, "'labels' has labels in"),
        ({b"data": _cifar_rows(2, seed=0), b"labels": [1]}, "'labels' has 1 labels"),
        ({b"data": _cifar_rows(2, seed=0), b"labels": [1, "2"]}, "'labels'"),
        ({b"data": _cifar_rows(2, seed=0)}, "no 'labels' entry"),
        ({b"data": _cifar_rows(2, seed=0), b"labels": 7}, r"expected \(N,\) integer labels"),
        ({b"data": _cifar_rows(2, seed=0), b"labels": [[1], [2, 3]]}, r"\(N,\) integer labels"),
        ([1, 2, 3], "expected a dict"),
        ({b"data": _cifar_rows(0, seed=0), b"labels": []}, r"shape \(0, 3072\).*N > 0"),
    ],
    ids=[
        "object",
        "row-length",
        "float",
        "range",
        "length",
        "str-label",
        "no-labels",
        "scalar-labels",
        "ragged-labels",
        "list",
        "no-rows",
    ],
)
def test_malformed_cifar_batch_is_refused(tmp_path: Path, batch: object, expected: str) -> None:
    folder = _write_cifar10(tmp_path, _cifar_rows(1, seed=0), [1])
    (folder / "data_batch_2").write_bytes(_python3_pickle(batch))
    with pytest.raises(DataError, match=expected) as caught:
        load_dataset(f"cifar10:{tmp_path}")
    assert str(folder / "data_batch_2") in str(caught.value)


def test_truncated_cifar_pickle_is_refused(tmp_path: Path) -> None:
    folder = _write_cifar10(tmp_path, _cifar_rows(1, seed=0), [1])
    batch = folder / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:100])
    with pytest.raises(DataError, match="data_batch_3: not a readable CIFAR pickle"):
        load_dataset(f"cifar10:{tmp_path}")


# --- npz ------------------------------------------------------------------------------------


def test_npz_images_are_normalised_with_their_own_stats(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 4, 4, 3), dtype=np.uint8)
    x[..., 2] = 17  # a constant channel keeps std 1
    path = tmp_path / "images.npz"
    np.savez(path, x=x, y=np.arange(20) % 3)

    dataset = load_dataset(f"npz:{path}")

    assert dataset.x.shape == (20, 4, 4, 3)
    assert dataset.num_classes == 3
    np.testing.assert_allclose(dataset.x[..., :2].mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(dataset.x[..., :2].std(axis=(0, 1, 2)), 1, atol=1e-5)
    assert dataset.std[2] == 1
    np.testing.assert_allclose(dataset.mean[2], 17 / 255)


def test_npz_tabular_with_label_names(tmp_path: Path) -> None:
    path = tmp_path / "table.npz"
    x = np.random.default_rng(1).normal(5.0, 2.0, (30, 6))
    np.savez_compressed(path, x=x, y=np.zeros(30, np.int32), label_names=np.array(["a", "b"]))

    dataset = load_dataset(f"npz:{path}")

    assert dataset.x.shape == (30, 6)
    assert dataset.x.dtype == np.float32
    assert dataset.y.dtype == np.int64
    assert dataset.num_classes == 2
    assert len(dataset.mean) == len(dataset.std) == 6


def test_npz_with_one_label_name(tmp_path: Path) -> None:
    spec = _save_npz(
        tmp_path / "one.npz", x=_IMAGES, y=np.zeros(4, int), label_names=np.array(["a"])
    )
    assert load_dataset(spec).num_classes == 1


def _save_npz(path: Path, **arrays: np.ndarray) -> str:
    np.savez(path, allow_pickle=True, **arrays)
    return f"npz:{path}"


_IMAGES = np.zeros((4, 2, 2, 3), np.uint8)
_LABELS = np.array([0, 1, 2, 1])


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [
        ({"x": np.array([[1, "a"]], dtype=object), "y": _LABELS}, "'x' holds Python objects"),
        ({"x": _IMAGES, "y": _LABELS.astype(object)}, "'y' holds Python objects"),
        ({"x": np.zeros((4, 2, 2), np.uint8), "y": _LABELS}, "'x' has shape"),
        ({"x": np.zeros((0, 5)), "y": _LABELS[:0]}, "'x' has shape"),
        ({"x": _IMAGES.astype(np.int32), "y": _LABELS}, "'x' has dtype int32"),
        ({"x": np.full((4, 2), np.nan), "y": _LABELS}, "'x' has NaN"),
        ({"x": _IMAGES, "y": np.array([0, 1, -1, 1])}, "'y' has labels in \\[-1, 1\\]"),
        ({"x": _IMAGES, "y": _LABELS, "label_names": np.array(["a", "b"])}, "expected 0 .. 1"),
        ({"x": _IMAGES, "y": _LABELS[:3]}, "'y' has 3 labels but there are 4 inputs"),
        ({"x": _IMAGES, "y": _LABELS.astype(float)}, "'y' is shape"),
        ({"x": _IMAGES, "y": _LABELS[:, None]}, "'y' is shape"),
        ({"x": _IMAGES, "y": _LABELS, "label_names": np.arange(3)}, "'label_names'"),
        ({"x": _IMAGES}, "missing array\\(s\\) 'y'"),
    ],
)
def test_bad_npz_is_refused_naming_the_array(
    tmp_path: Path, arrays: dict[str, np.ndarray], expected: str
) -> None:
    spec = _save_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=expected) as caught:
        load_dataset(spec)
    assert str(tmp_path / "bad.npz") in str(caught.value)


@pytest.mark.parametrize(
    "write",
    [
        lambda file: np.save(file, np.zeros(3)),
        lambda file: file.write(b"not an archive at all"),
        lambda file: file.write(b""),
        lambda file: pickle.dump({"x": 1}, file),
    ],
    ids=["npy", "garbage", "empty", "pickle"],
)
def test_unreadable_npz_is_refused(tmp_path: Path, write: Callable[[Any], object]) -> None:
    path = tmp_path / "file.npz"
    with path.open("wb") as file:
        write(file)
    with pytest.raises(DataError, match=str(path)):
        load_dataset(f"npz:{path}")


def test_missing_npz_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"npz file not found: .*absent\.npz"):
        load_dataset(f"npz:{tmp_path / 'absent.npz'}")


# --- bundled data and gaussian specs --------------------------------------------------------


def test_bundled_cifar10_is_the_default() -> None:
    dataset = load_dataset()

    assert dataset.name == "cifar10"
    assert dataset.x.shape == (256, 32, 32, 3)
    assert dataset.x.dtype == np.float32
    assert dataset.num_classes == 10
    assert np.bincount(dataset.y, minlength=10).min() >= 20
    np.testing.assert_allclose(dataset.x.mean(axis=(0, 1, 2)), 0, atol=0.1)
    np.testing.assert_allclose(dataset.x.std(axis=(0, 1, 2)), 1, atol=0.1)
    np.testing.assert_allclose(dataset.mean, CIFAR10_MEAN)
    assert not dataset.x.flags.writeable
    assert not dataset.y.flags.writeable


@pytest.mark.parametrize(
    ("spec", "shape"),
    [("gaussian", (32, 32, 3)), ("gaussian:8,6,2", (8, 6, 2)), ("gaussian:17", (17,))],
)
def test_gaussian_shapes(spec: str, shape: tuple[int, ...]) -> None:
    dataset = load_dataset(spec, seed=5)

    assert dataset.x.shape == (GAUSSIAN_EXAMPLES, *shape)
    assert dataset.x.dtype == np.float32
    assert dataset.y.dtype == np.int64
    assert dataset.num_classes == GAUSSIAN_CLASSES
    assert dataset.y.max() < GAUSSIAN_CLASSES
    assert dataset.name == "gaussian:" + ",".join(map(str, shape))
    assert dataset.mean == (0.0,) * shape[-1]
    assert dataset.std == (1.0,) * shape[-1]  # the draws are used as they are
    assert set(dataset.y.tolist()) == set(range(GAUSSIAN_CLASSES))


def test_gaussian_depends_only_on_the_seed() -> None:
    first, again = load_dataset("gaussian:5", seed=1), load_dataset("gaussian:5", seed=1)
    other = load_dataset("gaussian:5", seed=2)
    np.testing.assert_array_equal(first.x, again.x)
    np.testing.assert_array_equal(first.y, again.y)
    assert not np.array_equal(first.x, other.x)


@pytest.mark.parametrize(
    "spec", ["gaussian:", "gaussian:0", "gaussian:4,4", "gaussian:a", "gaussian:1000,1000,3"]
)
def test_bad_gaussian_shape(spec: str) -> None:
    with pytest.raises(DataError, match="gaussian shape"):
        load_dataset(spec)


def test_gaussian_sizes_of_one_and_the_feature_limit() -> None:
    assert load_dataset("gaussian:3,2,1").x.shape == (GAUSSIAN_EXAMPLES, 3, 2, 1)
    assert load_dataset("gaussian:1").x.shape == (GAUSSIAN_EXAMPLES, 1)
    too_many = 2**18 + 1
    with pytest.raises(DataError, match="at most 262144 values per example"):
        load_dataset(f"gaussian:{too_many}")


@pytest.mark.parametrize("spec", ["mnist", "npz", "cifar100", "CIFAR10", " cifar10", ""])
def test_unknown_spec_lists_the_valid_forms(spec: str) -> None:
    with pytest.raises(DataError, match=r"valid forms: cifar10, gaussian.*npz:PATH.*cifar100:DIR"):
        load_dataset(spec)


# --- sample_batch -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled() -> Dataset:
    return load_dataset()


def test_same_seed_same_batch(bundled: Dataset) -> None:
    x, y = sample_batch(bundled, 64, seed=3)
    x_again, y_again = sample_batch(bundled, 64, seed=3)
    x_other, _ = sample_batch(bundled, 64, seed=4)

    assert x.shape == (64, 32, 32, 3)
    assert y.shape == (64,)
    np.testing.assert_array_equal(x, x_again)
    np.testing.assert_array_equal(y, y_again)
    assert not np.array_equal(x, x_other)
    assert len({image.tobytes() for image in x}) == 64  # drawn without replacement


def test_class_balanced_batch(bundled: Dataset) -> None:
    x, y = sample_batch(bundled, 200, seed=0, class_balanced=True)

    assert x.shape == (200, 32, 32, 3)
    assert np.bincount(y, minlength=10).tolist() == [20] * 10
    assert y[:20].tolist() != sorted(y[:20].tolist())  # shuffled, not grouped by class
    assert len(np.unique(x.reshape(len(x), -1), axis=0)) == 200  # distinct examples


def test_batch_of_one(bundled: Dataset) -> None:
    x, y = sample_batch(bundled, 1, seed=0)
    assert x.shape == (1, 32, 32, 3) and y.shape == (1,)


def test_whole_dataset_batch(bundled: Dataset) -> None:
    _, y = sample_batch(bundled, 256, seed=0)
    assert sorted(y.tolist()) == sorted(bundled.y.tolist())


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"batch_size": 257}, "batch size 257 is larger than data 'cifar10' \\(256 examples\\)"),
        ({"batch_size": 0}, "must be positive"),
        ({"batch_size": 64, "class_balanced": True}, "not a multiple of the 10 classes"),
        (
            {"batch_size": 250, "class_balanced": True},
            r"needs 25 .*\{1: 20, 2: 24, 3: 23, 4: 20, 7: 24\}",
        ),
        ({"batch_size": 8, "seed": -1}, "seed must be a non-negative integer"),
    ],
)
def test_sample_batch_errors(bundled: Dataset, kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(DataError, match=expected):
        sample_batch(bundled, **{"seed": 0, **kwargs})


# --- properties and module hygiene ------------------------------------------------------------


@pytest.fixture(scope="module")
def empty_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("empty")


_SPEC_PREFIXES = ["", "cifar10", "cifar10:", "cifar100:", "npz:", "gaussian", "gaussian:"]
_SPECS = st.one_of(
    st.text(),
    st.builds(str.__add__, st.sampled_from(_SPEC_PREFIXES), st.text()),
    st.builds(
        "gaussian:{}".format,
        st.lists(st.integers(0, 40), max_size=4).map(lambda dims: ",".join(map(str, dims))),
    ),
)


@settings(max_examples=300, deadline=None, database=None)
@given(spec=_SPECS)
def test_any_spec_loads_or_raises_data_error(empty_folder: Path, spec: str) -> None:
    with contextlib.chdir(empty_folder):  # relative paths name nothing
        try:
            dataset = load_dataset(spec)
        except DataError:
            return
    assert dataset.x.shape[0] == dataset.y.shape[0]


def test_module_imports_nothing_else_from_the_project() -> None:
    tree = ast.parse(Path(data_module.__file__).read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(
        name.split(".")[0] in {"ntk_nas", "scorers", "search_spaces"} for name in imported
    )


def test_random_crops_are_slices_of_one_channel_reproducibly() -> None:
    images = np.arange(4 * 6 * 5 * 3, dtype=np.float32).reshape(4, 6, 5, 3)
    dataset = Dataset(images, np.arange(4), 4, "toy", (0.0,) * 3, (1.0,) * 3)
    x, y = data_module.random_crops(dataset, 200, size=3, seed=7)
    assert x.shape == (200, 3, 3, 1) and x.dtype == np.float32 and y.dtype == np.int64
    again, _ = data_module.random_crops(dataset, 200, size=3, seed=7)
    np.testing.assert_array_equal(x, again)
    corners = set()
    for crop, label in zip(x, y, strict=True):
        image = images[label]  # labels are the example indices here
        hits = [
            (i, j, c)
            for i in range(4)
            for j in range(3)
            for c in range(3)
            if np.array_equal(image[i : i + 3, j : j + 3, c], crop[..., 0])
        ]
        assert len(hits) == 1
        corners.add(hits[0][:2])
    assert corners == {(i, j) for i in range(4) for j in range(3)}  # every position, edges too
    two, _ = data_module.random_crops(dataset, 5, size=2, channels=2, seed=0)
    assert two.shape == (5, 2, 2, 2) and all(a[0, 0, 0] != a[0, 0, 1] for a in two)


def test_random_crops_at_their_bounds() -> None:
    images = np.arange(2 * 6 * 5 * 3, dtype=np.float32).reshape(2, 6, 5, 3)
    dataset = Dataset(images, np.arange(2), 2, "toy", (0.0,) * 3, (1.0,) * 3)
    one, _ = data_module.random_crops(dataset, 1, size=1, seed=0)
    assert one.shape == (1, 1, 1, 1)
    whole, labels = data_module.random_crops(dataset, 3, size=5, channels=3, seed=0)
    assert whole.shape == (3, 5, 5, 3)
    for crop, label in zip(whole, labels, strict=True):
        top = int(crop[0, 0, :].min() - images[label, 0, 0, 0]) // (5 * 3)
        np.testing.assert_array_equal(np.sort(crop, axis=-1), images[label, top : top + 5])


@pytest.mark.parametrize(
    ("count", "size", "channels", "message"),
    [
        (0, 3, 1, "crop count must be positive, got 0"),
        (5, 7, 1, r"crop size must be in \[1, 5\], got 7"),
        (5, 3, 4, r"crop channels must be in \[1, 3\], got 4"),
    ],
)
def test_random_crops_name_the_bad_argument(
    count: int, size: int, channels: int, message: str
) -> None:
    dataset = Dataset(np.zeros((2, 6, 5, 3), np.float32), np.arange(2), 2, "toy", (0.0,), (1.0,))
    with pytest.raises(DataError, match=message):
        data_module.random_crops(dataset, count, size=size, channels=channels, seed=0)
    flat = Dataset(np.zeros((2, 4), np.float32), np.arange(2), 2, "flat", (0.0,), (1.0,))
    with pytest.raises(DataError, match=r"crops need images \(N, H, W, C\); 'flat' has \(2, 4\)"):
        data_module.random_crops(flat, 1, size=1, seed=0)
