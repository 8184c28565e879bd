"""SWAP against distinct unit patterns counted by hand for a tiny relu MLP."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scorers import SWAP, get
from scorers.swap import count_patterns, pattern_words
from tests.scorers.models import ReluMLP, batch, init, nb201_pair
from tests.scorers.test_naswot import hand_codes

KEY = jax.random.key(0)


def test_swap_counts_the_distinct_unit_patterns() -> None:
    x, y = batch(n=6, seed=3)
    model = ReluMLP()
    variables = init(model, x)
    expected = len(np.unique(hand_codes(variables, x).T, axis=0))
    score = SWAP()(model, variables, (x, y), key=KEY)
    assert score.value == expected
    assert score.extras["units"] == 7 and score.extras["relus"] == 2
    assert get("swap").direction == "maximize" and SWAP.mask_invariant


def test_a_dead_network_has_one_pattern() -> None:
    x, y = batch(n=6, seed=3)
    model = ReluMLP()
    dead = jax.tree.map(jnp.zeros_like, init(model, x))
    assert SWAP()(model, dead, (x, y), key=KEY).value == 1


@pytest.mark.parametrize("samples", [1, 29, 30, 31, 61])
def test_patterns_are_equal_exactly_when_their_words_are(samples: int) -> None:
    rng = np.random.default_rng(samples)
    codes = rng.integers(0, 2, size=(samples, 40))
    codes[:, 1] = codes[:, 0]
    codes[-1, 2] = 1 - codes[-1, 0]  # differs from unit 0 in the last sample only
    codes[:-1, 2] = codes[:-1, 0]
    words = np.asarray(pattern_words(jnp.asarray(codes, jnp.float32)))
    assert words.shape == (40, -(-samples // 30)) and words.min() >= 0
    same_words = (words[:, None] == words[None]).all(-1)
    np.testing.assert_array_equal(same_words, (codes.T[:, None] == codes.T[None]).all(-1))
    assert count_patterns(jnp.asarray(codes, jnp.float32)) == len(np.unique(codes.T, axis=0))


def test_only_the_given_units_are_counted() -> None:
    codes = np.array([[0, 1, 1, 0, 1], [1, 0, 0, 1, 1]], np.float32)  # patterns a b b a c
    assert count_patterns(jnp.asarray(codes)) == 3
    units = np.array([1, 0, 1, 0, 0], np.float32)  # a and b
    assert count_patterns(jnp.asarray(codes), jnp.asarray(units)) == 2
    units = np.array([0, 1, 1, 0, 0], np.float32)  # b twice
    assert count_patterns(jnp.asarray(codes), jnp.asarray(units)) == 1
    assert count_patterns(jnp.asarray(codes), jnp.zeros(5)) == 0
    units = np.array([0, 0, 0, 0, 1], np.float32)  # c, whose pattern an uncounted unit shares
    codes[:, 3] = codes[:, 4]
    assert count_patterns(jnp.asarray(codes), jnp.asarray(units)) == 1
    assert count_patterns(jnp.zeros((2, 0))) == 0


@pytest.mark.parametrize(
    "arch",
    [
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
        "|none~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|none~1|skip_connect~2|",
    ],
)
def test_the_masked_supernet_scores_as_the_built_network(arch: str) -> None:
    pair = nb201_pair(arch)
    supernet = SWAP()(pair.supernet, pair.mask, pair.data, key=KEY)
    network = SWAP()(pair.built, None, pair.data, key=KEY)
    assert supernet.value == network.value > 1
    assert supernet.extras["units"] == network.extras["units"]
    assert supernet.extras["relus"] == network.extras["relus"]
