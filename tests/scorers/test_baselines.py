"""params and flops baselines against counts worked out by hand."""

from __future__ import annotations

import flax.linen as nn
import jax
import numpy as np

import search_spaces
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


def test_params_equals_the_search_space_count() -> None:
    space = search_spaces.get("nb201", input_shape=(8, 8, 3))
    x, y = np.zeros((2, 8, 8, 3), np.float32), np.zeros(2, int)
    for s in (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
        "|none~0|+|nor_conv_1x1~0|none~1|+|none~0|none~1|nor_conv_1x1~2|",
    ):
        arch = space.from_str(s)
        module = space.build(arch, C=4, N=1)
        assert Params()(module, None, (x, y), key=KEY).value == space.num_params(arch, C=4, N=1)


def test_flops_count_dense_and_grouped_convolutions_of_one_sample() -> None:
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 2)).astype(np.float32)
    y = np.zeros(4, int)
    expected = 2 * (4 * 4 * 4 * (3 * 3 * 2) + 4 * 4 * 6 * (1 * 1 * 2) + 96 * 3)
    assert Flops()(ConvNet(), None, (x, y), key=KEY).value == expected
    assert Params()(ConvNet(), None, (x, y), key=KEY).value == (
        (3 * 3 * 2 * 4 + 4) + (2 * 6 + 6) + (6 + 6) + (96 * 3 + 3)
    )
