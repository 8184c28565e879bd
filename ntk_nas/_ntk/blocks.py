"""Memory-bounded blocks of the kernel: compute it a tile of rows and columns at a time.

Tiles run one after another under `jax.lax.map`, so peak memory is that of one tile. For a
symmetric kernel (``x2 is None``) only the tiles on and above the diagonal are computed and the
others mirrored.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

BlockFn = Callable[[jax.Array, jax.Array | None], jax.Array]

_DEFAULT_BUDGET_FRACTION = 0.25


def default_memory_budget(device: jax.Device | None = None) -> int:
    """A quarter of the memory of `device` (default: the first device), in bytes."""
    device = device or jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        total = int(stats["bytes_limit"])
    else:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(total * _DEFAULT_BUDGET_FRACTION)


def _tiles(x: jax.Array, block: int) -> jax.Array:
    """``(N, ...) -> (ceil(N / block), block, ...)``, padding with copies of the first sample."""
    count = math.ceil(x.shape[0] / block)
    padding = count * block - x.shape[0]
    padded = jnp.concatenate([x, jnp.repeat(x[:1], padding, axis=0)]) if padding else x
    return padded.reshape(count, block, *x.shape[1:])


def _untile(tiles: jax.Array, n1: int, n2: int) -> jax.Array:
    """``(T1, T2, b1, b2, ...) -> (N1, N2, ...)``."""
    t1, t2, b1, b2, *rest = tiles.shape
    kernel = jnp.swapaxes(tiles, 1, 2).reshape(t1 * b1, t2 * b2, *rest)
    return kernel[:n1, :n2]


def _mirror(tile: jax.Array) -> jax.Array:
    """The tile of ``Theta(x2, x1)`` from that of ``Theta(x1, x2)``."""
    axes = (1, 0, 3, 2) if tile.ndim == 4 else (1, 0)
    return jnp.transpose(tile, axes)


def blocked(block_fn: BlockFn, x1: jax.Array, x2: jax.Array | None, block: int) -> jax.Array:
    """Computes ``block_fn`` over tiles of at most `block` samples of `x1` and `x2`.

    Args:
      block_fn: ``(xa: (b, ...), xb: (b, ...) | None) -> (b, b[, O, O])``; `xb` None means `xa`.
      x1: ``(N1, ...)`` inputs.
      x2: ``(N2, ...)`` inputs, or None for `x1` (the kernel is then symmetric).
      block: samples per tile.

    Returns:
      ``(N1, N2[, O, O])``, equal to ``block_fn(x1, x2)`` up to float rounding.
    """
    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    if block >= max(n1, n2):
        return block_fn(x1, x2)
    tiles1 = _tiles(x1, block)
    if x2 is not None:
        tiles2 = _tiles(x2, block)
        grid = jax.lax.map(lambda a: jax.lax.map(lambda b: block_fn(a, b), tiles2), tiles1)
        return _untile(grid, n1, n2)
    rows, cols = np.triu_indices(tiles1.shape[0])
    upper = jax.lax.map(lambda ij: block_fn(tiles1[ij[0]], tiles1[ij[1]]), (rows, cols))
    grid = jnp.zeros((tiles1.shape[0], tiles1.shape[0], *upper.shape[1:]), upper.dtype)
    grid = grid.at[cols, rows].set(jax.vmap(_mirror)(upper)).at[rows, cols].set(upper)
    return _untile(grid, n1, n2)
