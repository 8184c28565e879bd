"""NASWOT against activation codes computed by hand for a tiny relu MLP."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scorers import NASWOT, LinearRegions
from tests.scorers.models import ReluMLP, batch, init, nb201_pair

KEY = jax.random.key(0)


def hand_codes(variables: dict, x: np.ndarray) -> np.ndarray:
    p = variables["params"]
    h1 = x @ np.asarray(p["Dense_0"]["kernel"]) + np.asarray(p["Dense_0"]["bias"])
    h2 = np.maximum(h1, 0) @ np.asarray(p["Dense_1"]["kernel"]) + np.asarray(p["Dense_1"]["bias"])
    return np.concatenate([h1 > 0, h2 > 0], axis=1).astype(np.float64)


def test_naswot_is_the_logdet_of_the_code_agreement_kernel() -> None:
    x, y = batch(n=6, seed=3)
    model = ReluMLP()
    variables = init(model, x)
    c = hand_codes(variables, x)
    kernel = c @ c.T + (1 - c) @ (1 - c).T
    sign, logdet = np.linalg.slogdet(kernel)
    score = NASWOT()(model, variables, (x, y), key=KEY)
    assert sign > 0
    assert score.value == pytest.approx(logdet, rel=1e-12)
    assert score.extras["units"] == 7 and score.extras["relus"] == 2


def test_equal_codes_and_dead_networks_score_minus_infinity() -> None:
    x, y = batch(n=6, seed=3)
    model = ReluMLP()
    variables = init(model, x)
    repeated = np.concatenate([x[:3], x[:3]])
    assert NASWOT()(model, variables, (repeated, y), key=KEY).value == -math.inf
    dead = jax.tree.map(jnp.zeros_like, variables)
    assert NASWOT()(model, dead, (x, y), key=KEY).value == -math.inf


def test_naswot_initialises_from_the_key() -> None:
    x, y = batch(n=6, seed=3)
    model = ReluMLP()
    given = NASWOT()(model, model.init(KEY, jnp.asarray(x[:1])), (x, y), key=KEY)
    assert NASWOT()(model, None, (x, y), key=KEY).value == given.value


@pytest.mark.parametrize(
    "arch",
    [
        # Node 2 feeds nothing: its conv's ReLU is still counted, as in the built network.
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
        "|none~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|none~1|skip_connect~2|",
    ],
)
@pytest.mark.parametrize("bn", ["train", "eval"])
def test_the_masked_supernet_scores_as_the_built_network(arch: str, bn: str) -> None:
    pair = nb201_pair(arch)
    assert NASWOT.mask_invariant and LinearRegions.mask_invariant
    for scorer in (NASWOT(bn=bn), LinearRegions(bn=bn)):  # type: ignore[arg-type]
        supernet = scorer(pair.supernet, pair.mask, pair.data, key=KEY)
        network = scorer(pair.built, None, pair.data, key=KEY)
        assert supernet.value == pytest.approx(network.value, rel=1e-6)
        assert supernet.extras["units"] == network.extras["units"]
        assert supernet.extras["relus"] == network.extras["relus"]
