"""Linear-region count against distinct activation codes computed by hand."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from scorers import LinearRegions
from scorers.linear_regions import count_distinct
from tests.scorers.models import ReluMLP, batch, init
from tests.scorers.test_naswot import hand_codes

KEY = jax.random.key(0)


def test_linear_regions_count_distinct_codes() -> None:
    x, y = batch(n=6, seed=3)
    x = np.concatenate([x[:4], x[:2]])  # two repeated inputs
    model = ReluMLP()
    variables = init(model, x)
    expected = len(np.unique(hand_codes(variables, x), axis=0))
    score = LinearRegions()(model, variables, (x, y), key=KEY)
    assert score.value == expected <= 4


def test_a_dead_network_has_one_region() -> None:
    x, y = batch(n=6, seed=3)
    model = ReluMLP()
    dead = jax.tree.map(jnp.zeros_like, init(model, x))
    assert LinearRegions()(model, dead, (x, y), key=KEY).value == 1


def test_count_distinct() -> None:
    codes = np.array([[0, 1], [0, 1], [1, 1], [0, 0], [1, 1]])
    distances = (codes[:, None] != codes[None]).sum(-1)
    assert count_distinct(distances) == 3
