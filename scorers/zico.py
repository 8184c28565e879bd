"""ZiCo: the inverse coefficient of variation of the gradients across mini-batches, per layer.

The batch is split into ``S`` mini-batches and the mean cross-entropy's gradient taken on each.
For every weight ``w`` of a conv or dense layer (Flax leaves named ``kernel``), ``mean|g_w|`` and
the standard deviation of ``g_w`` over the mini-batches give ``mean|g_w| / std(g_w)``; ZiCo sums
it over the layer's weights whose gradient varies, takes the log, and sums over the layers. A
layer whose gradients do not vary at all (exact zeros: a weight the loss does not reach) adds
nothing, as in ZiCo's reference code; so a masked supernet, whose switched-off ops get exactly
zero gradient, scores as the network it selects.

References:
  Li, Li, Yang, Wang, Marculescu. ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on
  Gradients. ICLR 2023.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from scorers._model import FlatParams, forward, init_variables, merge_params, per_module_cache
from scorers._model import split_params as split_weights
from scorers.base import BatchNormScorer, Direction, ScorerError, Variables
from scorers.zero_cost import WEIGHTS, check_labels, cross_entropy


def inverse_variation(grads: jax.Array) -> jax.Array:
    """``sum_w mean|g_w| / std(g_w)`` over the weights ``w`` of one layer whose gradient varies,
    from ``grads: (S, ...)``, one gradient per mini-batch; 0 when none varies."""
    mean_abs = jnp.mean(jnp.abs(grads), axis=0)
    std = jnp.std(grads, axis=0)
    varies = std > 0
    return jnp.sum(jnp.where(varies, mean_abs / jnp.where(varies, std, 1), 0))


@per_module_cache
def layer_variations(
    module: nn.Module, train: bool, splits: int
) -> Callable[[Variables, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]:
    """A compiled ``f(variables, x: (N, ...), y: (N,)) -> (variations, classes)``:
    `inverse_variation` of each weight leaf ``(L,)`` over `splits` mini-batches of ``N // splits``
    samples (the rest left out), and the number of classes of the model's logits."""

    def f(variables: Variables, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        split = split_weights(variables, WEIGHTS)
        size = x.shape[0] // splits
        xs = x[: size * splits].reshape(splits, size, *x.shape[1:])
        ys = y[: size * splits].reshape(splits, size)

        def loss(weights: FlatParams, xb: jax.Array, yb: jax.Array) -> tuple[jax.Array, int]:
            logits = forward(module, merge_params({**split, "params": weights}), xb, train=train)
            if logits.ndim != 2:
                raise ScorerError(f"the model's output must be logits (N, C), got {logits.shape}")
            return cross_entropy(logits, yb), logits.shape[1]

        grads, classes = jax.vmap(jax.grad(loss, has_aux=True), in_axes=(None, 0, 0))(
            split["params"], xs, ys
        )
        variations = jnp.stack([inverse_variation(g) for g in grads.values()])
        return variations, classes[0]

    return jax.jit(f)


@dataclasses.dataclass(frozen=True)
class ZiCo(BatchNormScorer):
    """zico (higher is better): ``sum_l log sum_{w in l} mean|g_w| / std(g_w)`` over conv and
    dense layers, the statistics over `splits` mini-batches of the batch (see `scorers.zico`).
    Extras: ``layers`` (the layers counted).

    BatchNorm in training mode by default (each mini-batch on its own statistics).

    Attributes:
      splits: the number of mini-batches, at least 2 (ZiCo's reference code: 2).
    """

    direction: ClassVar[Direction] = "maximize"
    #: A switched-off op's weights get exactly zero gradient and are not counted; the others get
    #: the built network's gradients.
    mask_invariant: ClassVar[bool] = True
    name: str = "zico"
    splits: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.splits < 2:
            raise ScorerError(f"splits must be at least 2, got {self.splits}")

    def _score(
        self,
        module: nn.Module,
        variables: Variables | None,
        x: jax.Array,
        y: np.ndarray,
        key: jax.Array,
    ) -> tuple[float, dict[str, float]]:
        if x.shape[0] < self.splits:
            raise ScorerError(
                f"splits={self.splits} needs at least {self.splits} samples, got {x.shape[0]}"
            )
        labels = check_labels(y)
        variables = init_variables(module, variables, x, key)
        variations, classes = layer_variations(module, self.train, self.splits)(
            variables, x, labels
        )
        if int(labels.max()) >= int(classes):
            raise ScorerError(
                f"labels reach {int(labels.max())} but the model has {int(classes)} classes"
            )
        values = np.asarray(variations, np.float64)
        counted = values[values > 0]
        return float(np.sum(np.log(counted))), {"layers": float(counted.size)}
