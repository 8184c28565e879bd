"""Scoring data: `--data` specs, safe loaders and reproducible batches.

Specs understood by `load_dataset`:

- ``cifar10`` (the default): 256 real CIFAR-10 test images bundled with the package
  (``assets/cifar10_test_256.npz``; provenance in ``assets/README.md``).
- ``gaussian``, ``gaussian:H,W,C`` or ``gaussian:F``: standard-normal inputs (32x32x3 images by
  default) with uniformly random labels over 10 classes, drawn from a seed.
- ``npz:PATH``: an ``.npz`` archive with arrays ``x`` ((N, H, W, C) images or (N, F) features,
  uint8 or float) and ``y`` ((N,) integer labels); an optional ``label_names`` array (one string
  per class) fixes the number of classes, otherwise it is ``max(y) + 1``.
- ``cifar10:DIR`` / ``cifar100:DIR``: the training split of the official python release
  (``data_batch_1`` .. ``data_batch_5`` of ``cifar-10-batches-py``, ``train`` of
  ``cifar-100-python``, fine labels); DIR is that folder or its parent.

Normalisation: uint8 inputs are scaled to [0, 1], then every channel (last axis) is standardised,
``x = (raw - mean) / std``. CIFAR data, bundled or from a folder, uses the standard per-channel
figures of the full training set as NAS-Bench-201 does, so a slice is treated exactly like the whole
dataset; ``npz`` data uses its own statistics (a constant channel gets std 1); gaussian data is
already standard normal (mean 0, std 1).

Loading is safe for untrusted files: archives are read with ``allow_pickle=False`` and the CIFAR
pickles with an unpickler that only builds dicts, lists, bytes, numbers and numeric numpy arrays.
Every problem with a spec or its data raises `DataError`.
"""

from __future__ import annotations

import math
import os
import pickle
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final

import numpy as np
from numpy._core.multiarray import _reconstruct

__all__ = [
    "DEFAULT_SPEC",
    "GAUSSIAN_CLASSES",
    "GAUSSIAN_EXAMPLES",
    "GAUSSIAN_MAX_FEATURES",
    "GAUSSIAN_SHAPE",
    "SPEC_FORMS",
    "DataError",
    "Dataset",
    "load_dataset",
    "sample_batch",
]

DEFAULT_SPEC: Final = "cifar10"
SPEC_FORMS: Final = (
    "cifar10",
    "gaussian",
    "gaussian:H,W,C",
    "gaussian:F",
    "npz:PATH",
    "cifar10:DIR",
    "cifar100:DIR",
)
GAUSSIAN_EXAMPLES: Final = 256
GAUSSIAN_CLASSES: Final = 10
GAUSSIAN_SHAPE: Final = (32, 32, 3)
GAUSSIAN_MAX_FEATURES: Final = 2**18
"""Largest number of values per gaussian example (e.g. 256x256x4)."""

_BUNDLED: Final = Path(__file__).parent / "assets" / "cifar10_test_256.npz"
_GAUSSIAN_DIMS: Final = re.compile(r"[0-9]{1,9}(?:,[0-9]{1,9},[0-9]{1,9})?")
_NPZ_ERRORS: Final = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)

_Stats = tuple[tuple[float, ...], tuple[float, ...]]


class DataError(ValueError):
    """A data spec that cannot be loaded, or data that is not what it should be."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Normalised inputs with their labels.

    Attributes:
        x: Inputs, float32 (N, H, W, C) images or (N, F) features, read-only; normalised per
            channel (last axis) as ``(raw - mean) / std``, raw being uint8 data divided by 255
            or float data as stored.
        y: Labels, int64 (N,) in ``[0, num_classes)``, read-only.
        num_classes: Number of classes (some may have no examples).
        name: The spec the data came from, in canonical form.
        mean: Per-channel mean that was subtracted (length C or F).
        std: Per-channel standard deviation that was divided by (length C or F).
    """

    x: np.ndarray
    y: np.ndarray
    num_classes: int
    name: str
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True)
class _CifarRelease:
    folder: str
    train_files: tuple[str, ...]
    label_key: bytes
    num_classes: int
    stats: _Stats


def _per_255(*values: float) -> tuple[float, ...]:
    return tuple(value / 255 for value in values)


# Per-channel mean and std of the training sets, in NAS-Bench-201's figures.
_CIFAR: Final = {
    "cifar10": _CifarRelease(
        folder="cifar-10-batches-py",
        train_files=tuple(f"data_batch_{k}" for k in range(1, 6)),
        label_key=b"labels",
        num_classes=10,
        stats=(_per_255(125.3, 123.0, 113.9), _per_255(63.0, 62.1, 66.7)),
    ),
    "cifar100": _CifarRelease(
        folder="cifar-100-python",
        train_files=("train",),
        label_key=b"fine_labels",
        num_classes=100,
        stats=(_per_255(129.3, 124.1, 112.4), _per_255(68.2, 65.4, 70.4)),
    ),
}
_CIFAR_SIDE: Final = 32
_CIFAR_ROW: Final = 3 * _CIFAR_SIDE * _CIFAR_SIDE


def load_dataset(spec: str = DEFAULT_SPEC, *, seed: int = 0) -> Dataset:
    """Loads the data a `--data` spec names.

    Args:
        spec: One of `SPEC_FORMS` (see the module docstring).
        seed: Seed for the ``gaussian`` specs; other specs ignore it.

    Returns:
        The normalised dataset.

    Raises:
        DataError: Unknown spec, missing file or folder, unreadable or malformed data.
    """
    scheme, colon, argument = spec.partition(":")
    if spec == "cifar10":
        return _npz_dataset(_BUNDLED, name="cifar10", stats=_CIFAR["cifar10"].stats)
    if scheme == "gaussian":
        return _gaussian(argument if colon else None, seed)
    if colon and scheme == "npz":
        return _npz(argument)
    if colon and scheme in _CIFAR:
        return _cifar_folder(scheme, argument)
    raise DataError(f"unknown data spec {spec!r}; valid forms: {', '.join(SPEC_FORMS)}")


def sample_batch(
    dataset: Dataset, batch_size: int, *, seed: int, class_balanced: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Draws a batch of distinct examples, reproducibly from a seed.

    Args:
        dataset: Where to draw from.
        batch_size: Number of examples B.
        seed: Non-negative seed; the same seed gives the same batch.
        class_balanced: Draw ``B / num_classes`` examples of every class, in shuffled order.

    Returns:
        ``(x, y)``: float32 (B, ...) inputs and int64 (B,) labels (fresh, writable copies).

    Raises:
        DataError: B is not positive or exceeds the dataset, a balanced batch is impossible, or
            the seed is invalid.
    """
    size = len(dataset.y)
    if batch_size < 1:
        raise DataError(f"batch size must be positive, got {batch_size}")
    if batch_size > size:
        raise DataError(
            f"batch size {batch_size} is larger than data {dataset.name!r} ({size} examples)"
        )
    rng = _rng(seed)
    if class_balanced:
        index = _balanced_index(dataset.y, dataset.num_classes, batch_size, rng)
    else:
        index = rng.choice(size, batch_size, replace=False)
    return dataset.x[index], dataset.y[index]


def random_crops(
    dataset: Dataset, count: int, *, size: int, channels: int = 1, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Draws `count` random ``size x size`` crops, each of a random example and keeping
    `channels` of its channels at random, reproducibly from a seed (TE-NAS counts linear regions
    on 3000 one-channel 3x3 crops: ``RandomCrop`` then ``RandChannel``).

    Args:
        dataset: images ``(N, H, W, C)`` to crop.
        count: number of crops.
        size: crop height and width, at most ``H`` and ``W``.
        channels: channels kept per crop, at most ``C``.
        seed: non-negative seed; the same seed gives the same crops.

    Returns:
        ``(x, y)``: float32 ``(count, size, size, channels)`` crops and their examples' int64
        labels.

    Raises:
        DataError: `dataset` is not images, or `count`, `size` or `channels` is out of range.
    """
    if dataset.x.ndim != 4:
        raise DataError(f"crops need images (N, H, W, C); {dataset.name!r} has {dataset.x.shape}")
    _, height, width, depth = dataset.x.shape
    if count < 1:
        raise DataError(f"crop count must be positive, got {count}")
    if not 1 <= size <= min(height, width):
        raise DataError(f"crop size must be in [1, {min(height, width)}], got {size}")
    if not 1 <= channels <= depth:
        raise DataError(f"crop channels must be in [1, {depth}], got {channels}")
    rng = _rng(seed)
    example = rng.integers(len(dataset.y), size=count)
    top = rng.integers(height - size + 1, size=count)
    left = rng.integers(width - size + 1, size=count)
    kept = np.argsort(rng.random((count, depth)), axis=1)[:, :channels]
    rows = top[:, None] + np.arange(size)
    cols = left[:, None] + np.arange(size)
    crops = dataset.x[
        example[:, None, None, None],
        rows[:, :, None, None],
        cols[:, None, :, None],
        kept[:, None, None, :],
    ]
    return crops.astype(np.float32), dataset.y[example].astype(np.int64)


def _rng(seed: int) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(seed)


def _balanced_index(
    labels: np.ndarray, num_classes: int, batch_size: int, rng: np.random.Generator
) -> np.ndarray:
    """Int64 (batch_size,) indices with an equal number per class, shuffled."""
    per_class, remainder = divmod(batch_size, num_classes)
    if remainder:
        raise DataError(
            f"a class-balanced batch of {batch_size} is impossible: "
            f"not a multiple of the {num_classes} classes"
        )
    counts = np.bincount(labels, minlength=num_classes)
    short = {label: int(count) for label, count in enumerate(counts) if count < per_class}
    if short:
        raise DataError(
            f"a class-balanced batch of {batch_size} needs {per_class} examples per class; "
            f"too few in these classes (class: count): {short}"
        )
    picks = [
        rng.choice(np.flatnonzero(labels == label), per_class, replace=False)
        for label in range(num_classes)
    ]
    return rng.permutation(np.concatenate(picks))


def _dataset(
    raw: np.ndarray, labels: np.ndarray, num_classes: int, name: str, stats: _Stats | None
) -> Dataset:
    """Normalises validated raw inputs (uint8 or float) and freezes the result.

    Args:
        raw: (N, ...) uint8 or float inputs, channels last.
        labels: int64 (N,) labels, not shared with the caller.
        num_classes: Number of classes.
        name: Canonical spec.
        stats: Per-channel ``(mean, std)`` on the [0, 1] scale of uint8 data; ``None`` computes
            them from the data.
    """
    x = np.array(raw, dtype=np.float32, order="C")
    if raw.dtype == np.uint8:
        x /= 255
    mean, std = _channel_stats(x) if stats is None else stats
    x -= np.asarray(mean, dtype=np.float32)
    x /= np.asarray(std, dtype=np.float32)
    x.flags.writeable = False
    labels.flags.writeable = False
    return Dataset(x=x, y=labels, num_classes=num_classes, name=name, mean=mean, std=std)


def _channel_stats(x: np.ndarray) -> _Stats:
    """Mean and std (1 where the std is 0) over all axes but the last, in float64."""
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axis=axes, dtype=np.float64)
    std = x.std(axis=axes, dtype=np.float64)
    return tuple(mean.tolist()), tuple(np.where(std > 0, std, 1.0).tolist())


def _gaussian(dims: str | None, seed: int) -> Dataset:
    shape = GAUSSIAN_SHAPE if dims is None else _gaussian_shape(dims)
    rng = _rng(seed)
    x = rng.standard_normal((GAUSSIAN_EXAMPLES, *shape), dtype=np.float32)
    y = rng.integers(0, GAUSSIAN_CLASSES, GAUSSIAN_EXAMPLES, dtype=np.int64)
    channels = shape[-1]
    name = "gaussian:" + ",".join(map(str, shape))
    return _dataset(x, y, GAUSSIAN_CLASSES, name, ((0.0,) * channels, (1.0,) * channels))


def _gaussian_shape(dims: str) -> tuple[int, ...]:
    if not _GAUSSIAN_DIMS.fullmatch(dims):
        raise DataError(f"gaussian shape {dims!r} is not H,W,C or F (positive integers)")
    shape = tuple(int(dim) for dim in dims.split(","))
    if min(shape) < 1 or math.prod(shape) > GAUSSIAN_MAX_FEATURES:
        raise DataError(
            f"gaussian shape {dims!r} needs positive sizes and at most "
            f"{GAUSSIAN_MAX_FEATURES} values per example"
        )
    return shape


def _npz(path_text: str) -> Dataset:
    if not os.path.isfile(path_text):
        raise DataError(f"npz file not found: {path_text!r}")
    return _npz_dataset(Path(path_text), name=f"npz:{path_text}", stats=None)


def _npz_dataset(path: Path, *, name: str, stats: _Stats | None) -> Dataset:
    arrays = _read_npz(path, required=("x", "y"), optional=("label_names",))
    x = arrays["x"]
    _check_inputs(x, path)
    names = arrays.get("label_names")
    num_classes = None if names is None else _label_names_count(names, path)
    labels, num_classes = _labels(arrays["y"], len(x), num_classes, path, "y")
    return _dataset(x, labels, num_classes, name, stats)


def _read_npz(
    path: Path, *, required: tuple[str, ...], optional: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Reads the named arrays of an ``.npz`` archive without unpickling anything."""
    try:
        archive = np.load(path, allow_pickle=False)
    except _NPZ_ERRORS as error:
        raise DataError(f"{path}: not a readable .npz archive ({error})") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: not an .npz archive (arrays 'x' and 'y' are expected)")
    with archive:
        missing = [key for key in required if key not in archive.files]
        if missing:
            raise DataError(
                f"{path}: missing array(s) {', '.join(map(repr, missing))}; "
                f"found {sorted(archive.files)}"
            )
        present = [key for key in required + optional if key in archive.files]
        return {key: _npz_array(archive, key, path) for key in present}


def _npz_array(archive: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    try:
        return archive[key]
    except _NPZ_ERRORS as error:
        if "allow_pickle" in str(error):
            raise DataError(
                f"{path}: array {key!r} holds Python objects; only numeric arrays are accepted"
            ) from error
        raise DataError(f"{path}: array {key!r} is unreadable ({error})") from error


def _check_inputs(x: np.ndarray, source: Path) -> None:
    """Checks (N, H, W, C) or (N, F) inputs, uint8 or finite float, no empty axis."""
    if x.ndim not in (2, 4) or 0 in x.shape:
        raise DataError(
            f"{source}: array 'x' has shape {x.shape}; expected (N, H, W, C) images or "
            "(N, F) features with no empty axis"
        )
    if x.dtype != np.uint8 and x.dtype.kind != "f":
        raise DataError(f"{source}: array 'x' has dtype {x.dtype}; expected uint8 or float")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError(f"{source}: array 'x' has NaN or infinite values")


def _label_names_count(names: np.ndarray, source: Path) -> int:
    if names.ndim != 1 or names.dtype.kind not in "US" or len(names) == 0:
        raise DataError(
            f"{source}: array 'label_names' is {_describe(names)}; "
            "expected one string per class, shape (num_classes,)"
        )
    return len(names)


def _labels(
    value: object, size: int, num_classes: int | None, source: Path, key: str
) -> tuple[np.ndarray, int]:
    """Validates labels for ``size`` inputs.

    Args:
        value: Integer array or list of ints as read from the file.
        size: Number of inputs N.
        num_classes: Number of classes, or ``None`` for ``max(labels) + 1``.
        source: File the labels come from, for messages.
        key: Name of the labels in that file, for messages.

    Returns:
        int64 (N,) labels (a copy) and the number of classes.
    """
    labels = _integer_vector(value)
    if labels is None:
        raise DataError(
            f"{source}: array {key!r} is {_describe(value)}; expected (N,) integer labels"
        )
    if len(labels) != size:
        raise DataError(
            f"{source}: array {key!r} has {len(labels)} labels but there are {size} inputs"
        )
    low, high = int(labels.min()), int(labels.max())
    classes = high + 1 if num_classes is None else num_classes
    if low < 0 or high >= classes:
        raise DataError(
            f"{source}: array {key!r} has labels in [{low}, {high}]; expected 0 .. {classes - 1}"
        )
    return labels.astype(np.int64), classes


def _integer_vector(value: object) -> np.ndarray | None:
    """``value`` as a 1-D integer array, or ``None`` if it is not a list or array of ints."""
    if not isinstance(value, list | np.ndarray):
        return None
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        return None
    return array if array.ndim == 1 and array.dtype.kind in "iu" else None


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"shape {value.shape} dtype {value.dtype}"
    return f"a {type(value).__name__}"


def _cifar_folder(scheme: str, folder_text: str) -> Dataset:
    release = _CIFAR[scheme]
    if not os.path.isdir(folder_text):
        raise DataError(f"{scheme} folder not found: {folder_text!r}")
    folder = Path(folder_text)
    if os.path.isdir(folder / release.folder):
        folder /= release.folder
    paths = [folder / name for name in release.train_files]
    missing = [str(path) for path in paths if not os.path.isfile(path)]
    if missing:
        raise DataError(
            f"{scheme}: missing {', '.join(missing)}; expected the official python release "
            f"({release.folder}/ with {', '.join(release.train_files)})"
        )
    images, labels = zip(*(_cifar_batch(path, release) for path in paths), strict=True)
    return _dataset(
        np.concatenate(images),
        np.concatenate(labels),
        release.num_classes,
        f"{scheme}:{folder_text}",
        release.stats,
    )


def _cifar_batch(path: Path, release: _CifarRelease) -> tuple[np.ndarray, np.ndarray]:
    """Reads one CIFAR pickle: uint8 (N, 32, 32, 3) images and int64 (N,) labels."""
    batch = _unpickle(path)
    if not isinstance(batch, dict):
        raise DataError(f"{path}: expected a dict of arrays, got {_describe(batch)}")
    data = _entry(batch, b"data", path)
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[0] > 0
        and data.shape[1] == _CIFAR_ROW
    ):
        raise DataError(
            f"{path}: array 'data' is {_describe(data)}; expected (N, {_CIFAR_ROW}) uint8, "
            "N > 0: rows of 32x32 RGB images, channel-major"
        )
    images = data.reshape(-1, 3, _CIFAR_SIDE, _CIFAR_SIDE).transpose(0, 2, 3, 1)
    key = release.label_key.decode()
    labels, _ = _labels(
        _entry(batch, release.label_key, path), len(images), release.num_classes, path, key
    )
    return images, labels


def _entry(batch: dict[Any, Any], key: bytes, path: Path) -> object:
    """``batch[key]``, also accepting a str key as written by Python 3 re-pickles."""
    for candidate in (key, key.decode()):
        if candidate in batch:
            return batch[candidate]
    found = ", ".join(sorted(map(repr, batch)))
    raise DataError(f"{path}: no {key.decode()!r} entry; found {found}")


def _unpickle(path: Path) -> object:
    """Unpickles a CIFAR file, building nothing but plain data and numeric arrays."""
    try:
        with path.open("rb") as file:
            return _CifarUnpickler(file, path).load()
    except DataError:
        raise
    except Exception as error:  # a corrupt pickle fails in pickle or numpy in many ways
        raise DataError(
            f"{path}: not a readable CIFAR pickle ({type(error).__name__}: {error})"
        ) from error


def _numeric_dtype(*args: Any) -> np.dtype[Any]:
    """``numpy.dtype`` for unpickling, refusing object, structured and other non-numbers."""
    dtype = np.dtype(*args)
    if dtype.kind not in "biuf":
        raise pickle.UnpicklingError(f"refusing non-numeric dtype {dtype}")
    return dtype


# What pickled numeric arrays need: numpy 1.x names (the official files) and numpy 2.x names.
_ALLOWED_GLOBALS: Final[dict[tuple[str, str], Any]] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _numeric_dtype,
}


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler for the CIFAR python files (Python 2 pickles: str read as bytes)."""

    def __init__(self, file: BinaryIO, path: Path) -> None:
        super().__init__(file, encoding="bytes")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[module, name]
        except KeyError:
            raise DataError(
                f"{self._path}: refusing to unpickle global {module}.{name}; CIFAR files "
                "hold only dicts, lists, bytes, numbers and numeric numpy arrays"
            ) from None
