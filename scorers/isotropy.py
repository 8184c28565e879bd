"""AZ-NAS feature isotropy: `expressivity` and `progressivity`.

Each block's output features are treated as samples of a ``C``-dimensional random vector; the
entropy of the eigenvalues of their ``(C, C)`` covariance, normalised to sum 1, measures how evenly
the features fill their space (``log C`` when isotropic, 0 when of rank one). `expressivity` sums
it over the blocks; `progressivity` is its smallest increase from one block to the next.

Blocks are found generically, knowing nothing of the search space: they are the top-level module's
direct children (paths of length one), their ``__call__`` outputs read by a Flax method interceptor
(`child_calls`, which can also perturb them: `scorers.trainability` differentiates with respect to
them), then ordered and filtered (`block_order`, `block_outputs`). The rule:

- children in the order of their first call; a child called several times (shared weights)
  contributes every call's output, in call order, next to its first;
- an output that is not a floating array of rank >= 2 (a tuple, integers, a scalar) is skipped;
- an output that is the network's output itself (the same array: a classifier whose logits are
  returned) is skipped, since logits are not features;
- the last axis is the channel axis and every other axis a sample axis: a feature map
  ``(B, H, W, C)`` gives ``B * H * W`` samples, a dense output ``(B, C)`` gives ``B``.

Functions called in the top-level module's body (``nn.relu``, pooling) are not blocks; in
NAS-Bench-201 the blocks are the stem conv and BatchNorm, every cell and reduction block, and the
final BatchNorm.

References:
  Lee, Ham. AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search. CVPR 2024.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from scorers._model import (
    Replace,
    init_variables,
    is_floating_array,
    per_module_cache,
    recorded_forward,
)
from scorers.base import BatchNormScorer, Direction, ScorerError, Variables
from scorers.ntk import eigenvalues

#: Round-off of the covariances, computed in float32 on the device.
EPS = float(np.finfo(np.float32).eps)


def _is_block(module: nn.Module, method_name: str, output: Any) -> bool:
    """Whether a method call is a block call: ``__call__`` of a direct child of the top module."""
    return method_name == "__call__" and len(module.path) == 1


def child_calls(
    module: nn.Module,
    variables: Variables,
    x: jax.Array,
    *,
    train: bool,
    perturb: Replace | None = None,
) -> tuple[list[tuple[str, Any]], Any]:
    """Runs `module` on ``x: (N, ...)``, recording the ``__call__`` outputs of its direct children.

    Args:
      module: a Flax linen module called as ``module.apply(variables, x, train=...)``.
      variables: its variables.
      x: inputs ``(N, ...)``.
      train: BatchNorm on batch statistics (running statistics updated and discarded) or on the
        running statistics.
      perturb: ``perturb(i, output)`` is returned, and recorded, in place of the ``i``-th call's
        output (e.g. the output plus a zero perturbation to differentiate with respect to); None
        leaves the outputs unchanged.

    Returns:
      ``(calls, y)``: ``(child name, output)`` for every call, in call order, and the network's
      output ``y``.
    """
    calls, y = recorded_forward(module, variables, x, train=train, keep=_is_block, replace=perturb)
    return [(path[0], out) for path, out in calls], y


def block_order(calls: list[tuple[str, Any]], y: Any) -> list[int]:
    """The indices into `calls` (from `child_calls`) of the blocks, in block order: children in the
    order of their first call, each child's calls together; floating outputs of rank >= 2 only,
    the network's output `y` excepted."""
    by_child: dict[str, list[int]] = {}
    for i, (name, _) in enumerate(calls):
        by_child.setdefault(name, []).append(i)
    return [
        i
        for indices in by_child.values()
        for i in indices
        if calls[i][1] is not y and is_floating_array(calls[i][1], 2)
    ]


def block_outputs(
    module: nn.Module, variables: Variables, x: jax.Array, *, train: bool
) -> list[tuple[str, jax.Array]]:
    """The outputs of the blocks of `module` on ``x: (N, ...)`` (see the module docstring).

    Args:
      module: a Flax linen module called as ``module.apply(variables, x, train=...)``.
      variables: its variables.
      x: inputs ``(N, ...)``.
      train: BatchNorm on batch statistics (running statistics updated and discarded) or on the
        running statistics.

    Returns:
      ``(child name, output)`` pairs in block order; each output is floating, ``(N, ..., C)``.
    """
    calls, y = child_calls(module, variables, x, train=train)
    return [calls[i] for i in block_order(calls, y)]


def feature_covariance(features: jax.Array) -> jax.Array:
    """The ``(C, C)`` covariance of ``features: (..., C)`` over samples (every axis but the last),
    normalised by the number of samples; at least float32."""
    dtype = jnp.promote_types(features.dtype, jnp.float32)
    samples = features.reshape(-1, features.shape[-1]).astype(dtype)
    centred = samples - samples.mean(axis=0, keepdims=True)
    highest = jax.lax.Precision.HIGHEST
    return jnp.matmul(centred.T, centred, precision=highest) / samples.shape[0]


def spectral_entropy(covariance: np.ndarray, eps: float = EPS) -> float:
    """``-sum_i p_i log p_i`` of the eigenvalues ``p`` of a covariance ``(C, C)`` normalised to
    sum 1, in float64 on the host.

    Eigenvalues below ``lambda_max * C * eps`` (round-off, negative ones included) count as 0,
    and ``0 log 0 = 0``: ``log C`` for an isotropic covariance, 0 for one of rank one and for an
    all-zero one (features constant over the samples). NaN when the covariance holds NaN or inf.
    """
    eigs = eigenvalues(covariance)
    if eigs is None:
        return float("nan")
    top = float(eigs[-1])
    if top <= 0:
        return 0.0
    kept = eigs[eigs > top * eigs.size * eps]
    p = kept / kept.sum()
    return float(-np.sum(p * np.log(p)))


def expressivity(entropies: np.ndarray) -> float:
    """The sum of the blocks' entropies ``(L,)``."""
    return float(np.sum(entropies))


def progressivity(entropies: np.ndarray) -> float:
    """The smallest increase of entropy from one block to the next, over entropies ``(L,)`` with
    ``L >= 2``."""
    return float(np.min(np.diff(entropies)))


@per_module_cache
def block_covariances(
    module: nn.Module, train: bool
) -> Callable[[Variables, jax.Array], list[jax.Array]]:
    """A compiled ``f(variables, x: (N, ...)) -> [(C_l, C_l)]``: each block's feature covariance,
    in call order."""

    def f(variables: Variables, x: jax.Array) -> list[jax.Array]:
        return [
            feature_covariance(out) for _, out in block_outputs(module, variables, x, train=train)
        ]

    return jax.jit(f)


def block_entropies(
    module: nn.Module, variables: Variables, x: jax.Array, *, train: bool
) -> np.ndarray:
    """`spectral_entropy` of each block's features on ``x: (N, ...)``: ``(L,)`` float64."""
    covariances = jax.device_get(block_covariances(module, train)(variables, x))
    return np.array([spectral_entropy(c) for c in covariances], np.float64)


@dataclasses.dataclass(frozen=True)
class _IsotropyScorer(BatchNormScorer):
    """A reduction of the blocks' feature entropies (`block_entropies`); subclasses set `reduce`
    and `min_blocks`. Extras: ``blocks`` (the number of blocks).

    BatchNorm in training mode by default, as AZ-NAS scores the network.
    """

    direction: ClassVar[Direction] = "maximize"
    #: The score depends on the network only through its blocks' outputs. A masked supernet
    #: whose blocks compute, with the selected mask, the outputs of the built network's blocks
    #: scores exactly as that network: `NB201MaskedNetwork` has the direct children of
    #: `NB201Network` (same names, same call order), and with a one-hot mask each masked cell
    #: adds the selected op's output to exact zeros (or only zeros, for ``none``), so every
    #: block's output is that of the built network.
    mask_invariant: ClassVar[bool] = True
    #: The fewest blocks the reduction is defined for.
    min_blocks: ClassVar[int] = 1

    @staticmethod
    @abc.abstractmethod
    def reduce(entropies: np.ndarray) -> float:
        """The score from the blocks' entropies ``(L,)``, ``L >= min_blocks``."""

    def _score(
        self,
        module: nn.Module,
        variables: Variables | None,
        x: jax.Array,
        y: np.ndarray,
        key: jax.Array,
    ) -> tuple[float, dict[str, float]]:
        variables = init_variables(module, variables, x, key)
        entropies = block_entropies(module, variables, x, train=self.train)
        if entropies.size < self.min_blocks:
            raise ScorerError(
                f"{self.name} needs at least {self.min_blocks} blocks, found {entropies.size}: "
                "blocks are the outputs of the model's direct submodules that are floating "
                "arrays of rank >= 2, the network's output excepted"
            )
        return self.reduce(entropies), {"blocks": float(entropies.size)}


@dataclasses.dataclass(frozen=True)
class Expressivity(_IsotropyScorer):
    """expressivity (higher is better): the sum over blocks of the entropy of the normalised
    eigenvalues of the block's feature covariance (see `scorers.isotropy`).

    References:
      Lee, Ham. AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search. CVPR 2024.
    """

    name: str = "expressivity"
    reduce = staticmethod(expressivity)


@dataclasses.dataclass(frozen=True)
class Progressivity(_IsotropyScorer):
    """progressivity (higher is better): the smallest increase of the feature entropy from one
    block to the next (see `scorers.isotropy`); needs two blocks.

    References:
      Lee, Ham. AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search. CVPR 2024.
    """

    name: str = "progressivity"
    min_blocks: ClassVar[int] = 2
    reduce = staticmethod(progressivity)
