"""The shared building blocks behave like their PyTorch counterparts."""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from search_spaces.layers import (
    ReLUConvBN,
    avg_pool_3x3,
    batch_norm,
    conv,
    global_avg_pool,
    max_pool_3x3,
)


def test_avg_pool_does_not_count_padding() -> None:
    x = jnp.ones((1, 4, 4, 2))
    np.testing.assert_allclose(avg_pool_3x3(x), x)
    assert avg_pool_3x3(x, stride=2).shape == (1, 2, 2, 2)


@pytest.mark.parametrize(("size", "stride"), [((5, 4), 1), ((5, 4), 2), ((7, 8), 2), ((1, 3), 1)])
def test_avg_pool_equals_flax_without_padding_counted(
    size: tuple[int, int], stride: int, key: Callable[[int], jax.Array]
) -> None:
    x = jax.random.normal(key(0), (2, *size, 3))
    expected = nn.avg_pool(x, (3, 3), (stride, stride), ((1, 1), (1, 1)), count_include_pad=False)
    np.testing.assert_allclose(avg_pool_3x3(x, stride), expected, rtol=1e-6, atol=1e-6)


def test_max_pool_pads_with_minus_infinity() -> None:
    x = -jnp.arange(16.0).reshape(1, 4, 4, 1)
    # Window of output (0, 0) covers input rows/columns 0..1; the padding must not win.
    assert max_pool_3x3(x, stride=2)[0, 0, 0, 0] == 0.0
    assert max_pool_3x3(x, stride=2)[0, 1, 1, 0] == -5.0


@pytest.mark.parametrize(("kernel", "dilation", "stride"), [(1, 1, 2), (3, 1, 2), (5, 2, 1)])
def test_conv_pads_symmetrically_like_torch(
    kernel: int, dilation: int, stride: int, key: Callable[[int], jax.Array]
) -> None:
    x = jnp.ones((1, 8, 8, 2))
    layer = conv(3, kernel, stride=stride, dilation=dilation)
    variables = layer.init(key(0), x)
    assert "bias" not in variables["params"]
    y = layer.apply({"params": {"kernel": jnp.ones_like(variables["params"]["kernel"])}}, x)
    assert y.shape == (1, 8 // stride, 8 // stride, 3)
    # PyTorch pads dilation * (kernel - 1) // 2 on every side, so the top-left window has
    # (kernel + 1) // 2 valid taps per axis; all-ones input and kernel sum them over 2 channels.
    # (Flax's "SAME" would pad (0, 1) for kernel 3, stride 2 on 8 pixels: 9 taps.)
    assert float(y[0, 0, 0, 0]) == ((kernel + 1) // 2) ** 2 * 2


def test_batch_norm_uses_torch_momentum_and_eps(key: Callable[[int], jax.Array]) -> None:
    x = jnp.array([[1.0], [3.0]])
    bn = batch_norm(train=True)
    variables = bn.init(key(0), x)
    y, updates = bn.apply(variables, x, mutable=["batch_stats"])
    # PyTorch's momentum 0.1: running_mean = 0.9 * 0 + 0.1 * batch mean (2).
    np.testing.assert_allclose(updates["batch_stats"]["mean"], [0.2], rtol=1e-6)
    # Batch variance 1, eps 1e-5: (x - 2) / sqrt(1 + 1e-5).
    np.testing.assert_allclose(y, [[-1 / np.sqrt(1 + 1e-5)], [1 / np.sqrt(1 + 1e-5)]], rtol=1e-6)


def test_relu_conv_bn_names_and_shape(key: Callable[[int], jax.Array]) -> None:
    x = jnp.ones((2, 6, 6, 3))
    module = ReLUConvBN(5, 3, stride=2)
    variables = module.init(key(0), x)
    assert set(variables["params"]) == {"conv", "bn"}
    assert variables["params"]["conv"]["kernel"].shape == (3, 3, 3, 5)
    assert module.apply(variables, x).shape == (2, 3, 3, 5)


def test_relu_comes_first(key: Callable[[int], jax.Array]) -> None:
    module = ReLUConvBN(1, 1)
    x = -jnp.ones((1, 2, 2, 1))
    variables = module.init(key(0), x)
    # ReLU(-1) = 0, so the conv sees zeros and eval-mode BN (mean 0, var 1, shift 0) gives 0.
    np.testing.assert_array_equal(module.apply(variables, x), jnp.zeros((1, 2, 2, 1)))


def test_global_avg_pool() -> None:
    x = jnp.arange(8.0).reshape(1, 2, 2, 2)
    np.testing.assert_allclose(global_avg_pool(x), [[3.0, 4.0]])
