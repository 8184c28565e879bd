"""Fixtures for the search-space tests: PRNG keys, a forward-pass check, error-message checks."""

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

KeyFn = Callable[[int], jax.Array]


def rbg_key(seed: int) -> jax.Array:
    """A PRNG key; the RBG implementation compiles much faster than threefry on CPU."""
    return jax.random.key(seed, impl="rbg")


@dataclass
class Forward:
    """The variables of a module and its outputs on one batch in both train modes."""

    variables: dict[str, Any]
    y_eval: jax.Array
    y_train: jax.Array


def run_forward(module: nn.Module, x: jax.Array) -> Forward:
    """Initialises ``module`` on ``x`` and applies it with ``train=False`` and ``train=True``.

    Also checks that init is a deterministic function of the key (same key, same parameters;
    another key, other parameters), that both outputs are finite and, where the module has
    BatchNorm, that ``train=True`` uses batch statistics and updates the running averages.
    """
    init = jax.jit(module.init)
    variables = init(rbg_key(0), x)
    params = variables.get("params", {})
    assert jax.tree.all(jax.tree.map(np.array_equal, params, init(rbg_key(0), x).get("params", {})))
    if params:
        other = init(rbg_key(1), x)["params"]
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
    return Forward(variables, y_eval, y_train)


def assert_error_quotes(call: Callable[[], object], *parts: str) -> None:
    """Checks that ``call()`` raises :class:`SearchSpaceError` whose message has every part."""
    with pytest.raises(SearchSpaceError) as info:
        call()
    for part in parts:
        assert part in str(info.value), (part, str(info.value))


@pytest.fixture
def key() -> KeyFn:
    """:func:`rbg_key`: ``key(seed)`` makes a PRNG key."""
    return rbg_key


@pytest.fixture
def forward() -> Callable[[nn.Module, jax.Array], Forward]:
    """:func:`run_forward`: ``forward(module, x)`` runs and checks both train modes."""
    return run_forward


@pytest.fixture
def error_quotes() -> Callable[..., None]:
    """:func:`assert_error_quotes`: ``error_quotes(call, *parts)``."""
    return assert_error_quotes


@pytest.fixture
def images() -> jax.Array:
    """A batch of 2 random 8x8 RGB images, ``(2, 8, 8, 3)``."""
    return jax.random.normal(rbg_key(0), (2, 8, 8, 3))
