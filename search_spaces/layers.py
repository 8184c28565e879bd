"""Flax building blocks shared by the spaces, with PyTorch's defaults and padding.

All image tensors are NHWC. Convolutions use explicit symmetric padding (as ``torch.nn.Conv2d``
does), so strided convolutions see the same pixels as in the PyTorch reference implementations.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

#: Activations by name: shared by the macro and MLP spaces.
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "gelu": nn.gelu,
    "tanh": nn.tanh,
    "swish": nn.swish,
}


def batch_norm(train: bool, name: str | None = None) -> nn.BatchNorm:
    """A BatchNorm with affine parameters and PyTorch's defaults (momentum 0.1, eps 1e-5).

    Args:
        train: use batch statistics and update the running averages (``True``), or use the
            running averages (``False``).
        name: the submodule name; automatic when ``None``.
    """
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)


def conv(
    features: int,
    kernel_size: int,
    *,
    stride: int = 1,
    dilation: int = 1,
    groups: int = 1,
    name: str | None = None,
) -> nn.Conv:
    """A bias-free square convolution padded like ``torch.nn.Conv2d(padding=dilation*(k-1)//2)``.

    Args:
        features: output channels.
        kernel_size: odd kernel size ``k``.
        stride: spatial stride; ``(H, W)`` becomes ``(ceil(H / stride), ceil(W / stride))``.
        dilation: kernel dilation.
        groups: ``feature_group_count`` (input channels for a depthwise convolution).
        name: the submodule name; automatic when ``None``.
    """
    pad = dilation * (kernel_size - 1) // 2
    return nn.Conv(
        features,
        (kernel_size, kernel_size),
        strides=stride,
        padding=((pad, pad), (pad, pad)),
        kernel_dilation=dilation,
        feature_group_count=groups,
        use_bias=False,
        name=name,
    )


def avg_pool_3x3(x: jax.Array, stride: int = 1) -> jax.Array:
    """3x3 average pooling, padding 1, padding not counted (``count_include_pad=False``).

    The divisor (inputs under each window) is a constant computed on the host: computing it in
    the graph, as ``nn.avg_pool`` does, costs XLA seconds of constant folding per pooling layer.

    Args:
        x: ``(N, H, W, C)``.
        stride: spatial stride.

    Returns:
        ``(N, ceil(H / stride), ceil(W / stride), C)``.
    """
    summed = nn.pool(x, 0.0, jax.lax.add, (3, 3), (stride, stride), ((1, 1), (1, 1)))
    counts = np.outer(_window_sizes(x.shape[1], stride), _window_sizes(x.shape[2], stride))
    return summed / jnp.asarray(counts, summed.dtype)[None, :, :, None]


def _window_sizes(length: int, stride: int) -> np.ndarray:
    """Inputs of an axis of `length` under each 3-wide window (padding 1) of a `stride` pool."""
    starts = np.arange(0, length, stride) - 1
    return np.minimum(starts + 2, length - 1) - np.maximum(starts, 0) + 1


def max_pool_3x3(x: jax.Array, stride: int = 1) -> jax.Array:
    """3x3 max pooling, padding 1 (padded with ``-inf``).

    Args:
        x: ``(N, H, W, C)``.
        stride: spatial stride.

    Returns:
        ``(N, ceil(H / stride), ceil(W / stride), C)``.
    """
    return nn.max_pool(x, (3, 3), (stride, stride), ((1, 1), (1, 1)))


def global_avg_pool(x: jax.Array) -> jax.Array:
    """Averages ``(N, H, W, C)`` over space to ``(N, C)``."""
    return jnp.mean(x, axis=(1, 2))


class ReLUConvBN(nn.Module):
    """ReLU, then a bias-free convolution, then an affine BatchNorm (DARTS / NAS-Bench-201).

    Submodules: ``conv`` and ``bn``.

    Attributes:
        features: output channels.
        kernel_size: odd kernel size.
        stride: spatial stride.
    """

    features: int
    kernel_size: int
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Maps ``(N, H, W, C_in)`` to ``(N, ceil(H / stride), ceil(W / stride), features)``."""
        x = conv(self.features, self.kernel_size, stride=self.stride, name="conv")(nn.relu(x))
        return batch_norm(train, name="bn")(x)
