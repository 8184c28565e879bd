"""params and flops baselines against counts worked out by hand."""

from __future__ import annotations

import flax.linen as nn
import jax
import numpy as np

from scorers import Flops, Params
from tests.scorers.models import MLP, batch

KEY = jax.random.key(0)


class ConvNet(nn.Module):
    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = nn.Conv(4, (3, 3), strides=(2, 2))(x)  # 8x8x2 -> 4x4x4
        x = nn.Conv(6, (1, 1), feature_group_count=2, padding="VALID")(nn.relu(x))  # -> 4x4x6
        x = nn.BatchNorm(use_running_average=not train)(x)
        return nn.Dense(3)(x.reshape(x.shape[0], -1))


def test_params_counts_the_params_collection() -> None:
    x, y = batch()
    expected = (5 * 12 + 12) + (12 + 12) + (12 * 3 + 3)  # dense, batchnorm scale/bias, dense
    assert Params()(MLP(), None, (x, y), key=KEY).value == expected


def test_flops_count_dense_and_grouped_convolutions_of_one_sample() -> None:
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 2)).astype(np.float32)
    y = np.zeros(4, int)
    expected = 2 * (4 * 4 * 4 * (3 * 3 * 2) + 4 * 4 * 6 * (1 * 1 * 2) + 96 * 3)
    assert Flops()(ConvNet(), None, (x, y), key=KEY).value == expected
    assert Params()(ConvNet(), None, (x, y), key=KEY).value == (
        (3 * 3 * 2 * 4 + 4) + (2 * 6 + 6) + (6 + 6) + (96 * 3 + 3)
    )
