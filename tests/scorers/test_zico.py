"""ZiCo: the statistic worked by hand, a dense reference on a linear model, dead layers, and the
masked NAS-Bench-201 supernet scored like the built network."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scorers import ScorerError, ZiCo, get
from scorers.zico import inverse_variation
from tests.scorers.models import Flat, Linear, batch, init, nb201_pair

KEY = jax.random.key(0)


def test_inverse_variation_worked_by_hand() -> None:
    # weight 0: g = 1, 3: mean |g| 2, std 1; weight 1 does not vary; weight 2 is dead.
    grads = jnp.array([[1.0, 2.0, 0.0], [3.0, 2.0, 0.0]])
    assert float(inverse_variation(grads)) == pytest.approx(2.0)
    assert float(inverse_variation(jnp.zeros((2, 4)))) == 0.0


def test_a_linear_model_against_gradients_taken_by_hand() -> None:
    x, y = batch(n=9, features=5, classes=3)
    variables = init(Linear(), x)
    kernel, bias = variables["params"]["Dense_0"]["kernel"], variables["params"]["Dense_0"]["bias"]

    def loss(w: jax.Array, xb: np.ndarray, yb: np.ndarray) -> jax.Array:
        log_probs = jax.nn.log_softmax(xb @ w + bias[None, :])
        return -jnp.mean(log_probs[np.arange(len(yb)), yb])

    # 3 splits of 3 samples; the kernel is the only weight leaf.
    grads = np.stack([jax.grad(loss)(kernel, x[i : i + 3], y[i : i + 3]) for i in (0, 3, 6)])
    want = np.log(np.sum(np.abs(grads).mean(axis=0) / grads.std(axis=0)))
    score = ZiCo(splits=3)(Linear(), variables, (x, y), key=KEY)
    assert score.value == pytest.approx(want, rel=1e-4)
    assert score.extras["layers"] == 1
    # 10 samples in 3 splits: the last one is left out.
    x10, y10 = batch(n=10, features=5, classes=3)
    assert ZiCo(splits=3)(Linear(), variables, (x10, y10), key=KEY).value == pytest.approx(
        ZiCo(splits=3)(Linear(), variables, (x10[:9], y10[:9]), key=KEY).value
    )


def test_the_masked_supernet_scores_as_the_built_network() -> None:
    pair = nb201_pair(
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    )
    supernet = ZiCo()(pair.supernet, pair.mask, pair.data, key=KEY)
    network = ZiCo()(pair.built, None, pair.data, key=KEY)
    assert supernet.value == pytest.approx(network.value, rel=1e-5)
    assert supernet.extras["layers"] == network.extras["layers"] == 14  # 4 in the cell
    assert ZiCo.mask_invariant


def test_bad_options_and_inputs_name_the_bad_value() -> None:
    with pytest.raises(ScorerError, match="splits must be at least 2, got 1"):
        get("zico", splits=1)
    x, y = batch(n=3)
    with pytest.raises(ScorerError, match="splits=4 needs at least 4 samples, got 3"):
        ZiCo(splits=4)(Linear(), None, (x, y), key=KEY)
    with pytest.raises(ScorerError, match="labels reach 5 but the model has 3 classes"):
        ZiCo()(Linear(), None, (x, np.array([0, 5, 1])), key=KEY)
    with pytest.raises(ScorerError, match="labels y must be non-negative integers"):
        ZiCo()(Linear(), None, (x, np.array([0.5, 1.0, 2.0])), key=KEY)
    with pytest.raises(ScorerError, match=r"output must be logits \(N, C\), got \(3,\)"):
        ZiCo()(Flat(), None, (x, y), key=KEY)
    assert get("zico").direction == "maximize"
