"""The scorer interface: `Score`, the `Scorer` protocol, `BaseScorer` and `ScorerError`."""

from __future__ import annotations

import abc
import dataclasses
import math
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Direction = Literal["minimize", "maximize"]
BNMode = Literal["train", "decoupled", "eval"]
"""BatchNorm on the batch's statistics, differentiated through (training mode: gradients couple
the samples); on the batch's statistics held constant (``decoupled``: per-sample gradients); or on
the running statistics (``eval``)."""
Variables = Mapping[str, Any]
Batch = tuple[np.ndarray, np.ndarray]


class ScorerError(ValueError):
    """A scorer that cannot be built, or an input it cannot score (bad batch, model or option)."""


@dataclasses.dataclass(frozen=True)
class Score:
    """One architecture's score.

    Attributes:
      value: the figure an optimiser ranks by, in the scorer's `direction`; never NaN (a score
        that cannot be computed is the worst value, ``inf`` or ``-inf``).
      extras: named figures for analysis (e.g. ``lambda_max``, ``trace``, ``seconds``).
    """

    value: float
    extras: Mapping[str, float]


@runtime_checkable
class Scorer(Protocol):
    """Scores a Flax linen module at initialisation on one batch.

    ``module`` is called as ``module.apply(variables, x, train=...)``; ``variables`` None means
    initialise from ``key`` (scorers that average several initialisations derive their keys from
    it), and so do variables without a ``"params"`` collection, whose collections (e.g. the op
    mask of a masked supernet) replace the initial ones. ``batch`` is ``(x: (N, ...), y: (N,))``.
    """

    @property
    def name(self) -> str: ...

    @property
    def direction(self) -> Direction: ...

    def __call__(
        self,
        module: nn.Module,
        variables: Variables | None,
        batch: Batch,
        *,
        key: jax.Array,
    ) -> Score: ...


@runtime_checkable
class CostEstimating(Protocol):
    """A scorer that can estimate, from shapes alone, what scoring a module costs (in the NTK
    engine's units), e.g. to choose between a masked supernet and built networks."""

    def estimated_cost(
        self, module: nn.Module, variables: Variables | None, x: jax.Array | jax.ShapeDtypeStruct
    ) -> float:
        """The estimated cost of scoring `module` with `variables` on inputs shaped like `x`."""
        ...


def check_batch(batch: Batch, batch_size: int | None = None) -> tuple[jax.Array, np.ndarray]:
    """Checks a batch and keeps its first `batch_size` rows.

    Args:
      batch: ``(x, y)``: inputs ``(N, ...)`` of a floating dtype, labels ``(N,)``.
      batch_size: rows to keep (None: all).

    Returns:
      ``(x, y)``: ``x`` as a device array, ``y`` as a numpy array.

    Raises:
      ScorerError: naming what is wrong (not a pair, shapes, dtype, NaN or inf in ``x``, too few
        rows).
    """
    if not isinstance(batch, tuple | list) or len(batch) != 2:
        raise ScorerError(f"batch must be a pair (x, y), got {type(batch).__name__}")
    x, y = np.asarray(batch[0]), np.asarray(batch[1])
    if x.ndim < 2 or x.shape[0] < 1:
        raise ScorerError(f"batch inputs x must have shape (N, ...) with N >= 1, got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ScorerError(f"batch inputs x must be floating point, got dtype {x.dtype}")
    if y.shape[:1] != x.shape[:1]:
        raise ScorerError(f"batch labels y must have shape ({x.shape[0]},), got {y.shape}")
    nan, inf = int(np.isnan(x).sum()), int(np.isinf(x).sum())
    if nan or inf:
        raise ScorerError(
            f"batch inputs x hold {nan} NaN and {inf} inf values out of {x.size}; clean the data "
            "before scoring"
        )
    if batch_size is not None:
        if batch_size > x.shape[0]:
            raise ScorerError(f"batch_size={batch_size} but the batch has only {x.shape[0]} rows")
        x, y = x[:batch_size], y[:batch_size]
    return jnp.asarray(x), y


def check_choice(option: str, value: object, valid: Collection[object]) -> None:
    """Raises `ScorerError` naming the valid values when `value` is not one of them."""
    if value not in valid:
        raise ScorerError(f"unknown {option} {value!r}; valid: {', '.join(map(str, valid))}")


def worst(direction: Direction) -> float:
    """The worst score in `direction`: ``inf`` when minimising, ``-inf`` when maximising."""
    return math.inf if direction == "minimize" else -math.inf


@dataclasses.dataclass(frozen=True)
class BaseScorer(abc.ABC):
    """Checks the batch, times the call and keeps NaN out of the value; subclasses `_score`.

    Attributes:
      name: the scorer's name (its column in `score_table`); subclasses set the default.
      batch_size: score the first `batch_size` rows of the batch (None: all of them).
    """

    direction: ClassVar[Direction]
    #: Whether the scorer scores a masked supernet exactly as the network it selects: the score
    #: depends on the parameters only through the outputs and their gradients, which the ops a
    #: masked supernet switches off change neither, or it leaves those ops out itself (the ReLU
    #: codes of `scorers.activations`).
    mask_invariant: ClassVar[bool] = False
    #: Whether the score depends only on the function the network computes, not on ops that
    #: cannot change its output (`search_spaces.SearchSpace.canonical` replaces those): cells of
    #: one canonical form then score alike, and a search scores them once (`ntk_nas.study`).
    function_only: ClassVar[bool] = False
    name: str = ""
    batch_size: int | None = None

    def __post_init__(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise ScorerError(f"batch_size must be a positive integer, got {self.batch_size}")

    def __call__(
        self,
        module: nn.Module,
        variables: Variables | None,
        batch: Batch,
        *,
        key: jax.Array,
    ) -> Score:
        return self.score_many(module, [variables], batch, key=key)[0]

    def score_many(
        self,
        module: nn.Module,
        variables: Sequence[Variables | None],
        batch: Batch,
        *,
        key: jax.Array,
        devices: Sequence[jax.Device] | None = None,
    ) -> list[Score]:
        """Scores of `module` with each entry of `variables` (e.g. the op masks of many
        architectures in one masked supernet), all on `batch` and from `key`.

        Scorers that can (the NTK scorers) compute them in one compiled call, spread over
        `devices` (one entry per device at a time) when given; the others score one entry at a
        time on the default device. Each score's ``seconds`` is its share of the call. Matrix
        products and convolutions are computed in full float32 on every backend (GPUs would
        otherwise use TensorFloat32), as on the CPU.
        """
        x, y = check_batch(batch, self.batch_size)
        start = time.perf_counter()
        with jax.default_matmul_precision("float32"):
            results = self._score_many(module, variables, x, y, key, devices)
        seconds = (time.perf_counter() - start) / max(len(results), 1)
        return [
            Score(
                worst(self.direction) if math.isnan(value) else float(value),
                {**extras, "seconds": seconds},
            )
            for value, extras in results
        ]

    def _score_many(
        self,
        module: nn.Module,
        variables: Sequence[Variables | None],
        x: jax.Array,
        y: np.ndarray,
        key: jax.Array,
        devices: Sequence[jax.Device] | None,
    ) -> list[tuple[float, dict[str, float]]]:
        """``(value, extras)`` for each entry of `variables`; one at a time on the default
        device unless overridden (`devices` is for scorers that can spread the entries)."""
        return [self._score(module, v, x, y, key) for v in variables]

    @abc.abstractmethod
    def _score(
        self,
        module: nn.Module,
        variables: Variables | None,
        x: jax.Array,
        y: np.ndarray,
        key: jax.Array,
    ) -> tuple[float, dict[str, float]]:
        """``(value, extras)`` for a checked batch ``x: (N, ...)``, ``y: (N,)``."""


@dataclasses.dataclass(frozen=True)
class BatchNormScorer(BaseScorer):
    """A scorer with a BatchNorm mode.

    Attributes:
      bn: ``"train"``: BatchNorm on the batch's statistics (the network in training mode);
        ``"eval"``: on its running statistics; ``"decoupled"`` (where `bn_modes` has it): on the
        batch's statistics held constant.
    """

    #: The BatchNorm modes the scorer implements.
    bn_modes: ClassVar[tuple[BNMode, ...]] = ("train", "eval")
    bn: BNMode = "train"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("bn", self.bn, self.bn_modes)

    @property
    def train(self) -> bool:
        """Whether BatchNorm runs on batch statistics."""
        return self.bn == "train"
