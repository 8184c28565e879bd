"""params and flops baselines against counts worked out by hand."""

from __future__ import annotations

import flax.linen as nn
import jax
import numpy as np
import pytest

import search_spaces
from scorers import Flops, Params, ScorerError, get
from tests.scorers.models import MLP, Linear, batch

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


@pytest.mark.parametrize("classes", [3, 7])
def test_flops_of_a_dense_layer_are_two_per_multiply_add(classes: int) -> None:
    x, y = batch(n=4, features=5)
    jaxpr = Flops()(Linear(classes), None, (x, y), key=KEY).value
    xla = Flops(counter="xla")(Linear(classes), None, (x, y), key=KEY).value
    assert jaxpr == 2 * 5 * classes  # one sample, whatever the batch size
    assert xla == 2 * 5 * classes + classes  # XLA counts the bias additions too


NB201_CELLS = [  # fewest to most FLOPs
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_1x1~2|",
    "|nor_conv_1x1~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|",
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
]


@pytest.mark.parametrize("counter", ["jaxpr", "xla"])
def test_bigger_nb201_cells_have_more_flops(counter: str) -> None:
    space = search_spaces.get("nb201", input_shape=(8, 8, 3))
    x, y = np.zeros((2, 8, 8, 3), np.float32), np.zeros(2, int)
    scorer = get("flops", counter=counter)
    flops = [
        scorer(space.build(space.from_str(s), C=4, N=1), None, (x, y), key=KEY).value
        for s in NB201_CELLS
    ]
    assert flops == sorted(flops) and len(set(flops)) == len(flops)
    assert not Flops.mask_invariant


class StridedConv(nn.Module):
    """One bias-free 3x3 stride-2 convolution, 8x8x2 -> 4x4x4 ("SAME": padded below and right)."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        y = nn.Conv(4, (3, 3), strides=(2, 2), use_bias=False)(x)
        return y.reshape(x.shape[0], -1)


def test_xla_flops_skip_the_zero_padding_and_count_every_op() -> None:
    x, y = np.zeros((2, 8, 8, 2), np.float32), np.zeros(2, int)
    jaxpr = Flops()(StridedConv(), None, (x, y), key=KEY).value
    xla = Flops(counter="xla")(StridedConv(), None, (x, y), key=KEY).value
    assert jaxpr == 2 * (4 * 4) * (3 * 3 * 2) * 4
    # The last row and column of outputs have 3 taps each on the padding (the corner 5).
    padded_taps = 4 * 3 + 4 * 3 - 1
    assert xla == jaxpr - 2 * padded_taps * 2 * 4
    # With biases, relu and BatchNorm, XLA counts more than the convolutions' padding saves.
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 2)).astype(np.float32)
    assert Flops(counter="xla")(ConvNet(), None, (x, np.zeros(4, int)), key=KEY).value > (
        Flops()(ConvNet(), None, (x, np.zeros(4, int)), key=KEY).value
    )
    with pytest.raises(ScorerError, match="unknown counter 'hlo'; valid: jaxpr, xla"):
        get("flops", counter="hlo")
