"""Helpers for the search-space tests (a plain module: pytest puts this folder on sys.path)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from search_spaces import SearchSpaceError


def key(seed: int) -> jax.Array:
    """A PRNG key; the RBG implementation compiles much faster than threefry on CPU."""
    return jax.random.key(seed, impl="rbg")


@dataclass
class Forward:
    """The variables of a module and its outputs on one batch in both train modes."""

    variables: dict[str, Any]
    y_eval: jax.Array
    y_train: jax.Array
    batch_stats: dict[str, Any]


def run_forward(module: nn.Module, x: jax.Array) -> Forward:
    """Initialises ``module`` on ``x`` and applies it with ``train=False`` and ``train=True``.

    Also checks that init is a deterministic function of the key (same key, same parameters;
    another key, other parameters), that both outputs are finite and, where the module has
    BatchNorm, that ``train=True`` uses batch statistics and updates the running averages.
    """
    init = jax.jit(module.init)
    variables = init(key(0), x)
    params = variables.get("params", {})
    assert jax.tree.all(jax.tree.map(np.array_equal, params, init(key(0), x).get("params", {})))
    if params:
        other = init(key(1), x)["params"]
        assert not jax.tree.all(jax.tree.map(np.array_equal, params, other))
    y_eval = jax.jit(partial(module.apply, train=False))(variables, x)
    y_train, updates = jax.jit(partial(module.apply, train=True, mutable=["batch_stats"]))(
        variables, x
    )
    assert bool(jnp.all(jnp.isfinite(y_eval))) and bool(jnp.all(jnp.isfinite(y_train)))
    if "batch_stats" in variables:
        assert not np.allclose(y_eval, y_train)
        old, new = variables["batch_stats"], updates["batch_stats"]
        assert jax.tree.structure(old) == jax.tree.structure(new)
        assert not jax.tree.all(jax.tree.map(np.array_equal, old, new))
    return Forward(variables, y_eval, y_train, updates.get("batch_stats", {}))


def images(batch: int = 2, size: int = 8) -> jax.Array:
    """A batch of random RGB images, ``(batch, size, size, 3)``."""
    return jax.random.normal(key(0), (batch, size, size, 3))


def assert_error_quotes(call: Callable[[], object], *parts: str) -> None:
    """Checks that ``call()`` raises :class:`SearchSpaceError` whose message has every part."""
    with pytest.raises(SearchSpaceError) as info:
        call()
    for part in parts:
        assert part in str(info.value), (part, str(info.value))
