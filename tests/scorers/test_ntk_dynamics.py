"""The predicted loss of linearised gradient flow, against explicit gradient descent."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scorers
from tests.scorers.models import MLP


class Linear(nn.Module):
    """``f(x) = x W``: its NTK is exactly ``X X^T (x) I``, so linearised flow is exact."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return nn.Dense(3, use_bias=False)(x)


def _batch(n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(jax.random.normal(jax.random.key(0), (n, 4)))
    return x, np.arange(n) % 3


@pytest.mark.parametrize("kernel", ["trace", "full"])
def test_matches_small_step_gradient_descent_on_a_linear_model(kernel):
    x, y = _batch()
    module = Linear()
    variables = module.init(jax.random.key(1), jnp.asarray(x))
    w = np.asarray(variables["params"]["Dense_0"]["kernel"], np.float64)
    targets = np.eye(3)[y]
    lambda_max = np.linalg.eigvalsh(x.astype(np.float64) @ x.T)[-1]
    steps, lr = 4000, 0.01 / lambda_max  # GD on 1/2 sum ||x W - y||^2, time = lr * steps
    for _ in range(steps):
        w = w - lr * x.T @ (x @ w - targets)
    explicit = 0.5 * np.sum((x @ w - targets) ** 2) / len(x)
    scorer = scorers.get("ntk_dynamics", time=lr * steps * lambda_max, kernel=kernel, bn="eval")
    score = scorer(module, variables, (x, y), key=jax.random.key(0))
    assert score.value == pytest.approx(explicit, rel=1e-3)
    assert score.extras["initial_loss"] > score.value


def test_time_zero_is_the_initial_loss_and_loss_falls_with_time():
    module, batch = MLP(), _batch()
    values = [
        scorers.get("ntk_dynamics", time=t)(module, None, batch, key=jax.random.key(2))
        for t in (0.0, 10.0, 1000.0)
    ]
    assert values[0].value == pytest.approx(values[0].extras["initial_loss"], rel=1e-9)
    assert values[0].value > values[1].value > values[2].value


def test_bad_options_and_labels():
    with pytest.raises(scorers.ScorerError, match="kernel"):
        scorers.get("ntk_dynamics", kernel="diag")
    with pytest.raises(scorers.ScorerError, match="time"):
        scorers.get("ntk_dynamics", time=-1.0)
    x, _ = _batch()
    with pytest.raises(scorers.ScorerError, match="labels"):
        scorers.get("ntk_dynamics")(MLP(), None, (x, np.full(len(x), 7)), key=jax.random.key(0))
