"""Shared plumbing: per-module caches, parameter subsets."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scorers import ScorerError
from scorers._model import (
    init_variables,
    kaiming_normal_fan_out,
    merge_params,
    per_module_cache,
    recorded_forward,
    split_params,
)
from tests.scorers.models import MLP, batch, init


class Listed(nn.Module):
    widths: list[int]

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return x


def test_equal_modules_share_cached_builds_and_unhashable_ones_are_rebuilt() -> None:
    calls: list[object] = []

    @per_module_cache
    def build(module: nn.Module, option: str) -> object:
        calls.append(module)
        return object()

    assert build(MLP(), "a") is build(MLP(), "a")
    assert build(MLP(hidden=4), "a") is not build(MLP(), "a")
    assert build(Listed([1]), "a") is not build(Listed([1]), "a")
    assert len(calls) == 4


def test_recorded_forward_records_kept_calls_in_order_and_returns_their_replacements() -> None:
    x, _ = batch()
    module = MLP()
    variables = init(module, x)

    def is_dense(layer: nn.Module, method_name: str, output: object) -> bool:
        return isinstance(layer, nn.Dense) and method_name == "__call__"

    calls, y = recorded_forward(module, variables, jnp.asarray(x), train=False, keep=is_dense)
    assert [path for path, _ in calls] == [("Dense_0",), ("Dense_1",)]
    assert calls[1][1] is y
    hidden = x @ np.asarray(variables["params"]["Dense_0"]["kernel"])
    np.testing.assert_allclose(calls[0][1], hidden, rtol=1e-5, atol=1e-5)

    doubled, y2 = recorded_forward(
        module,
        variables,
        jnp.asarray(x),
        train=False,
        keep=is_dense,
        replace=lambda i, out: 2 * out if i == 1 else out,
    )
    np.testing.assert_allclose(doubled[1][1], 2 * y, rtol=1e-6)
    assert doubled[1][1] is y2


def test_split_and_merge_round_trip() -> None:
    variables = init(MLP(), batch()[0])
    split = split_params(variables, {"scale"})
    assert list(split["params"]) == [("BatchNorm_0", "scale")]
    assert set(split) == {"params", "scorers_fixed_params", "batch_stats"}
    merged = merge_params(split)
    assert jax.tree.structure(merged) == jax.tree.structure(variables)
    assert all(jax.tree.leaves(jax.tree.map(lambda a, b: (a == b).all(), merged, variables)))
    with pytest.raises(ScorerError, match="no parameter named embedding"):
        split_params(variables, {"embedding"})


class ConvDense(nn.Module):
    """A wide convolution and a wide dense layer, to measure their initial spread."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = nn.Conv(256, (3, 3))(x)  # fan_out = 3 * 3 * 256, fan_in = 3 * 3 * 8
        x = nn.BatchNorm(use_running_average=not train)(x)
        return nn.Dense(512)(jnp.mean(x, axis=(1, 2)))  # fan_out = 512, fan_in = 256


def test_kaiming_fan_out_redraws_kernels_with_pytorchs_variance() -> None:
    x = jnp.ones((1, 4, 4, 8))
    key = jax.random.key(3)
    model_init = ConvDense().init(key, x)
    redrawn = init_variables(ConvDense(), None, x, key, init="kaiming_fan_out")
    params, before = redrawn["params"], model_init["params"]
    conv, dense = params["Conv_0"]["kernel"], params["Dense_0"]["kernel"]
    # 20,736 and 131,072 draws: their sample std is within 2% of 2 / fan_out's square root.
    assert float(jnp.std(conv)) == pytest.approx(np.sqrt(2 / (9 * 256)), rel=0.02)
    assert float(jnp.std(dense)) == pytest.approx(np.sqrt(2 / 512), rel=0.02)
    # Flax's own (LeCun) draw has std 1 / sqrt(fan_in), about 4x larger for this convolution.
    assert float(jnp.std(before["Conv_0"]["kernel"])) > 3 * float(jnp.std(conv))
    for kept in (params["Conv_0"]["bias"], params["Dense_0"]["bias"]):
        assert not jnp.any(kept)
    assert jnp.all(params["BatchNorm_0"]["scale"] == 1)
    assert redrawn.keys() == model_init.keys()


def test_kaiming_fan_out_draws_by_path_whatever_else_the_tree_holds() -> None:
    kernel = jnp.zeros((3, 5))
    key = jax.random.key(0)
    alone = kaiming_normal_fan_out({"params": {"a": {"kernel": kernel}}}, key)
    beside = kaiming_normal_fan_out(
        {"params": {"b": {"kernel": kernel}, "a": {"kernel": kernel}}}, key
    )
    np.testing.assert_array_equal(alone["params"]["a"]["kernel"], beside["params"]["a"]["kernel"])
    assert not np.array_equal(beside["params"]["a"]["kernel"], beside["params"]["b"]["kernel"])
