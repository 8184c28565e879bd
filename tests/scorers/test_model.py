"""Shared plumbing: per-module caches, parameter subsets."""

from __future__ import annotations

import flax.linen as nn
import jax
import pytest

from scorers import ScorerError
from scorers._model import merge_params, per_module_cache, split_params
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
