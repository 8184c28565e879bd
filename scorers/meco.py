"""MeCo: the smallest eigenvalue of each layer's channel correlation, summed over the layers.

For one input sample, a layer's output ``(H, W, C)`` holds ``C`` channels observed at ``H * W``
positions. MeCo takes the smallest eigenvalue of their ``(C, C)`` Pearson correlation matrix, which
is near 1 when the channels are uncorrelated and near 0 when some are redundant, and sums it over
every layer of the network.

Layers are found generically: every ``__call__`` of every module, at any depth, whose output is a
floating array of rank >= 3 (a feature map ``(N, ..., C)``; the last axis is the channel axis),
the network's own output excepted. A channel constant over the positions has no correlation: its
row and column are zero, as MeCo's reference code sets the undefined entries (a ``none`` edge
then adds 0). A masked supernet computes every op: the calls inside an op its mask weighs by zero
(`scorers.activations.op_weights`) are left out, so that it scores as the network it selects.

References:
  Jiang, Wang, Bie. MeCo: Zero-Shot NAS with One Data and Single Forward Pass via Minimum
  Eigenvalue of Correlation. NeurIPS 2023.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from scorers._model import init_variables, is_floating_array, per_module_cache, recorded_forward
from scorers.activations import Scope, is_active, op_weights
from scorers.base import BatchNormScorer, Direction, ScorerError, Variables
from scorers.isotropy import EPS, feature_covariance


def _is_layer(module: nn.Module, method_name: str, output: Any) -> bool:
    """Whether a method call is a layer call: ``__call__`` of a submodule, with a feature map
    (a floating array of rank >= 3) for output."""
    return method_name == "__call__" and bool(module.path) and is_floating_array(output, 3)


def layer_outputs(
    module: nn.Module, variables: Variables, x: jax.Array, *, train: bool
) -> list[tuple[Scope, jax.Array]]:
    """The feature maps of `module`'s layers on ``x: (N, ...)`` (see the module docstring).

    Args:
      module: a Flax linen module called as ``module.apply(variables, x, train=...)``.
      variables: its variables.
      x: inputs ``(N, ...)``.
      train: BatchNorm on batch statistics (running statistics updated and discarded) or on the
        running statistics.

    Returns:
      ``(module path, output)`` for every layer call, in call order; each output is floating,
      ``(N, ..., C)``.
    """
    calls, y = recorded_forward(module, variables, x, train=train, keep=_is_layer)
    return [(path, out) for path, out in calls if out is not y]


def channel_correlation(features: jax.Array) -> jax.Array:
    """The ``(C, C)`` Pearson correlation of the channels of ``features: (..., C)`` over the
    positions (every axis but the last); at least float32.

    A channel is constant when its standard deviation is within float32 round-off of its largest
    magnitude (``sqrt(P) * eps * max|f|`` over ``P`` positions): its row and column are zero.
    """
    covariance = feature_covariance(features)
    positions = features.size // features.shape[-1]
    largest = jnp.max(jnp.abs(features), axis=tuple(range(features.ndim - 1)))
    std = jnp.sqrt(jnp.diagonal(covariance))
    round_off = np.sqrt(positions) * EPS * largest.astype(covariance.dtype)
    varies = std > round_off
    scale = jnp.where(varies, 1 / jnp.where(varies, std, 1), 0)
    return covariance * scale[:, None] * scale[None, :]


@per_module_cache
def layer_correlations(
    module: nn.Module, train: bool, samples: int
) -> Callable[[Variables, jax.Array], tuple[list[jax.Array], jax.Array]]:
    """A compiled ``f(variables, x: (N, ...)) -> (correlations, active)``: for each layer, the
    channel correlations ``(S, C_l, C_l)`` of the first ``S = samples`` samples; ``active: (L,)``,
    0.0 for a layer inside an op a supernet's mask switches off.

    The eigenvalues are left to the host: many batched ``eigvalsh`` in one CPU program hang
    (JAX 0.10: sixty of them on ``(8, 32, 32)``, in a test of this project).
    """

    def f(variables: Variables, x: jax.Array) -> tuple[list[jax.Array], jax.Array]:
        weights = op_weights(module, variables, x, train=train)
        layers = layer_outputs(module, variables, x, train=train)
        correlations = [jax.vmap(channel_correlation)(out[:samples]) for _, out in layers]
        active = jnp.stack([jnp.zeros(()), *(is_active(path, weights) for path, _ in layers)])
        return correlations, active[1:]

    return jax.jit(f)


def smallest_eigenvalues(correlations: np.ndarray) -> np.ndarray:
    """The smallest eigenvalue of each of ``correlations: (S, C, C)``, in float64: ``(S,)``; NaN
    for a matrix holding NaN or inf."""
    matrices = np.asarray(correlations, np.float64)
    finite = np.all(np.isfinite(matrices), axis=(1, 2))
    safe = np.where(finite[:, None, None], matrices, 0.0)
    return np.where(finite, np.linalg.eigvalsh(safe)[:, 0], np.nan)


@dataclasses.dataclass(frozen=True)
class MeCo(BatchNormScorer):
    """meco (higher is better): the sum over layers of the smallest eigenvalue of the channels'
    Pearson correlation on one sample (see `scorers.meco`); with ``samples > 1`` its mean over the
    first `samples` samples of the batch. Extras: ``layers`` (the number of layers counted).

    BatchNorm in training mode by default, as MeCo's reference code scores the network.

    Attributes:
      samples: how many samples of the batch to average the score over (MeCo: 1).
    """

    direction: ClassVar[Direction] = "maximize"
    #: Layers inside an op a supernet switches off are left out; every other layer's output is
    #: that of the built network (the ops switched off add exact zeros), and the modules of
    #: `NB201MaskedNetwork` have the paths of those of `NB201Network`.
    mask_invariant: ClassVar[bool] = True
    name: str = "meco"
    samples: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.samples < 1:
            raise ScorerError(f"samples must be a positive integer, got {self.samples}")

    def _score(
        self,
        module: nn.Module,
        variables: Variables | None,
        x: jax.Array,
        y: np.ndarray,
        key: jax.Array,
    ) -> tuple[float, dict[str, float]]:
        if self.samples > x.shape[0]:
            raise ScorerError(f"samples={self.samples} but the batch has only {x.shape[0]} rows")
        variables = init_variables(module, variables, x, key)
        correlations, active = jax.device_get(
            layer_correlations(module, self.train, self.samples)(variables, x)
        )
        counted = [smallest_eigenvalues(c) for c, a in zip(correlations, active, strict=True) if a]
        if not counted:
            raise ScorerError(
                "meco found no layers: layers are module calls whose output is a floating array "
                "of rank >= 3 (N, ..., C), the network's output excepted"
            )
        return float(np.mean(np.sum(counted, axis=0))), {"layers": float(len(counted))}
