"""Zero-cost proxies against their formulas on tiny models, worked out in numpy."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scorers import GradNorm, JacobCov, ScorerError, Snip, Synflow
from scorers.zero_cost import grad_norm_saliency, jacob_cov_score
from tests.scorers.models import Flat, Linear, batch, init

KEY = jax.random.key(0)


class TwoLayer(nn.Module):
    """Dense -> (BatchNorm) -> tanh -> Dense."""

    batchnorm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = nn.Dense(4)(x)
        if self.batchnorm:
            x = nn.BatchNorm(use_running_average=not train)(x)
        return nn.Dense(3)(jnp.tanh(x))


def numpy_params(variables: dict) -> dict:
    return jax.tree.map(lambda a: np.asarray(a, np.float64), variables["params"])


def loss_gradient(w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d mean CE(x W + b, y) / dW."""
    logits = x @ w + b
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    probs[np.arange(len(y)), y] -= 1
    return x.T @ probs / len(y)


def test_grad_norm_and_snip_on_a_linear_model() -> None:
    x, y = batch()
    model = Linear()
    variables = init(model, x)
    p = numpy_params(variables)["Dense_0"]
    grad = loss_gradient(p["kernel"], p["bias"], x.astype(np.float64), y)
    grad_norm = GradNorm()(model, variables, (x, y), key=KEY).value
    snip = Snip()(model, variables, (x, y), key=KEY).value
    assert grad_norm == pytest.approx(np.linalg.norm(grad), rel=1e-5)
    assert snip == pytest.approx(np.abs(grad * p["kernel"]).sum(), rel=1e-5)


def test_synflow_on_a_two_layer_network_removes_batchnorm() -> None:
    x, y = batch()
    plain, normed = TwoLayer(), TwoLayer(batchnorm=True)
    variables = init(normed, x)
    p = numpy_params(variables)
    w1, b1 = np.abs(p["Dense_0"]["kernel"]), np.abs(p["Dense_0"]["bias"])
    w2 = np.abs(p["Dense_1"]["kernel"])
    hidden = np.ones(x.shape[1]) @ w1 + b1  # the all-ones input, |theta|
    back = 1 - np.tanh(hidden) ** 2
    d_w1 = np.outer(np.ones(x.shape[1]), back * w2.sum(axis=1))  # dR/dW1 for R = sum(outputs)
    d_w2 = np.outer(np.tanh(hidden), np.ones(w2.shape[1]))
    expected = (w1 * d_w1).sum() + (w2 * d_w2).sum()
    without_bn = {"params": {k: v for k, v in variables["params"].items() if k != "BatchNorm_0"}}
    score = Synflow()(normed, variables, (x, y), key=KEY).value
    assert score == pytest.approx(expected, rel=1e-12)  # float64 throughout
    assert Synflow()(plain, without_bn, (x, y), key=KEY).value == pytest.approx(score, rel=1e-12)


def test_jacob_cov_matches_the_released_formula() -> None:
    x, y = batch()
    model = TwoLayer()
    variables = init(model, x)
    p = numpy_params(variables)
    w1, b1, w2 = p["Dense_0"]["kernel"], p["Dense_0"]["bias"], p["Dense_1"]["kernel"]
    back = 1 - np.tanh(x.astype(np.float64) @ w1 + b1) ** 2  # (N, 4)
    jacobian = (back * w2.sum(axis=1)) @ w1.T  # d sum(f(x_i)) / d x_i, (N, 5)
    eigs = np.linalg.eigvalsh(np.corrcoef(jacobian))
    expected = -np.sum(np.log(eigs + 1e-5) + 1 / (eigs + 1e-5))
    score = JacobCov()(model, variables, (x, y), key=KEY).value
    assert score == pytest.approx(expected, rel=1e-3)


def test_a_dead_network_scores_the_worst_without_warnings() -> None:
    x, y = batch()
    model = TwoLayer(batchnorm=True)
    dead = jax.tree.map(jnp.zeros_like, init(model, x))
    assert JacobCov()(model, dead, (x, y), key=KEY).value == -math.inf
    for scorer in (GradNorm(), Snip(), Synflow()):
        assert scorer(model, dead, (x, y), key=KEY).value == 0.0
    assert jacob_cov_score(np.ones((3, 4))) == -math.inf


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.full(8, 0.5), "non-negative integers"),
        (np.full(8, -1), "non-negative integers"),
        (np.full(8, 3), "labels reach 3 but the model has 3 classes"),
    ],
)
def test_bad_labels_are_scorer_errors(labels: np.ndarray, message: str) -> None:
    x, _ = batch()
    model = Linear()
    with pytest.raises(ScorerError, match=message):
        GradNorm()(model, init(model, x), (x, labels), key=KEY)


@pytest.mark.parametrize("scorer", [GradNorm(), Snip()])
def test_outputs_that_are_not_logits_are_scorer_errors(scorer: GradNorm | Snip) -> None:
    x, y = batch()
    with pytest.raises(ScorerError, match=r"output must be logits \(N, C\), got \(24,\)"):
        scorer(Flat(), init(Flat(), x), (x, y), key=KEY)


def test_grad_norm_sums_the_norm_of_each_layer() -> None:
    grads = {("a", "kernel"): jnp.array([[3.0, 4.0]]), ("b", "kernel"): jnp.array([5.0, 12.0])}
    assert float(grad_norm_saliency(grads, grads)) == 5.0 + 13.0
