"""SWAP: the number of distinct sample-wise activation patterns among a network's ReLU units.

A ReLU unit's pattern is the ``N`` bits of its sign over the batch's ``N`` samples (a column of
the codes of `scorers.activations`, whose rows `scorers.linear_regions` counts instead). A network
whose units respond to the samples in many different ways is taken to be more expressive.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from scorers._model import init_variables, per_module_cache
from scorers.activations import joined_codes
from scorers.base import BatchNormScorer, Direction, Variables

BITS_PER_WORD = 30
"""Samples packed into one int32 word of a pattern (``2**30 - 1`` is the largest word)."""


def pattern_words(codes: jax.Array) -> jax.Array:
    """Each unit's pattern over the samples, packed into int32 words.

    Args:
      codes: binary codes ``(N, A)`` (1 where a unit's input is positive).

    Returns:
      int32 ``(A, ceil(N / 30))``: bit ``b`` of word ``w`` of unit ``a`` is sample
      ``30 * w + b``'s code at ``a``; two units have equal rows exactly when their patterns are.
    """
    n, units = codes.shape
    words = max(-(-n // BITS_PER_WORD), 1)
    bits = jnp.zeros((words * BITS_PER_WORD, units), jnp.int32).at[:n].set(codes.astype(jnp.int32))
    place = jnp.left_shift(1, jnp.arange(BITS_PER_WORD, dtype=jnp.int32))
    return jnp.einsum("wba,b->aw", bits.reshape(words, BITS_PER_WORD, units), place)


def count_patterns(codes: jax.Array, units: jax.Array | None = None) -> jax.Array:
    """The number of distinct columns of binary `codes` ``(N, A)``, among the units where
    ``units: (A,)`` (0.0 or 1.0) is 1 if given; an int32 scalar, 0 when no unit counts."""
    words = pattern_words(codes)
    counted = jnp.ones(codes.shape[1], bool) if units is None else units != 0
    # Uncounted units sort first (the last key is the primary one), then equal patterns sit
    # side by side: a counted unit adds one where its row differs from the row before.
    order = jnp.lexsort((*words.T, counted))
    words, counted = words[order], counted[order]
    changed = jnp.any(words[1:] != words[:-1], axis=1) | (counted[1:] != counted[:-1])
    first = jnp.concatenate([jnp.ones(min(codes.shape[1], 1), bool), changed])
    return jnp.sum(first & counted, dtype=jnp.int32)


@per_module_cache
def distinct_patterns(
    module: nn.Module, train: bool
) -> Callable[[Variables, jax.Array], tuple[jax.Array, jax.Array, jax.Array]]:
    """A compiled ``f(variables, x: (N, ...)) -> (patterns, units, relus)`` for `module`.

    ``patterns``: the distinct patterns over the active ReLU units; ``units``: the number of
    active units; ``relus``: the number of active ReLU calls.
    """

    def f(variables: Variables, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        codes, units, relus = joined_codes(module, variables, x, train=train)
        return count_patterns(codes, units), jnp.sum(units), relus

    return jax.jit(f)


@dataclasses.dataclass(frozen=True)
class SWAP(BatchNormScorer):
    """SWAP score (higher is better): distinct sample-wise activation patterns of the ReLU units.

    Every ReLU is read off the jaxpr (see `scorers.activations`); a unit is one entry of a
    ReLU's input per sample. The score is at most ``min(A, 2**N)`` for ``A`` units and ``N``
    samples. ``bn="train"`` by default, like the released code's network in training mode. The
    released code draws ``N(0, 1)`` weights and averages over initialisations; this one scores
    the module's own initialisation once. Its regularised form multiplies by a Gaussian of the
    parameter count whose centre and width are set per search space; combine with ``params``
    by rank instead (e.g. ``swap*params``). Extras: ``units`` (active units), ``relus``.

    References:
      Peng, Song, Fayek, Ciesielski, Chang. SWAP-NAS: Sample-Wise Activation Patterns for
      Ultra-fast NAS. ICLR 2024.
    """

    direction: ClassVar[Direction] = "maximize"
    #: A masked supernet's unselected ops are left out (as for `scorers.activations.CodeScorer`).
    mask_invariant: ClassVar[bool] = True
    name: str = "swap"

    def _score(
        self,
        module: nn.Module,
        variables: Variables | None,
        x: jax.Array,
        y: np.ndarray,
        key: jax.Array,
    ) -> tuple[float, dict[str, float]]:
        variables = init_variables(module, variables, x, key)
        patterns, units, relus = distinct_patterns(module, self.train)(variables, x)
        return float(patterns), {"units": float(units), "relus": float(relus)}
