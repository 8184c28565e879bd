"""Memory-bounded blocks of the kernel: compute it a tile of rows and columns at a time.

Tiles run one after another, so peak memory is that of one tile. For a symmetric kernel
(``x2 is None``) only the tiles on and above the diagonal are computed and the others mirrored.

Two ways to run them in sequence: a `jax.lax.map` over the tiles (one compiled body, any count)
or, on CPU for up to `MAX_CHAINED_TILES` tiles, straight-line code in which each tile's inputs
wait for the previous tile's result (`_after`). XLA's CPU backend runs a convolution's weight
gradient 13-39x slower inside a loop or conditional body than at the top level of a program
(`experiments/bench_conv_grad.py`), so there a chain is an order of magnitude faster than the
loop, at the cost of compiling each tile.
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

#: The most tiles chained in straight-line code on CPU; more run under `jax.lax.map`. Each
#: chained tile is compiled on its own: beyond a few, compiling costs more than one call saves
#: (`experiments/bench_tiles.py`).
MAX_CHAINED_TILES = 4


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


def _after(
    previous: jax.Array, operands: tuple[jax.Array, jax.Array]
) -> tuple[jax.Array, jax.Array]:
    """`operands`, available only once `previous` is computed, so that XLA cannot run the next
    tile beside this one (which would hold both tiles' memory at once).

    A conditional on ``previous`` is the dependency: XLA keeps it because its branches differ.
    After a tile with a non-finite entry the operands are zeros; the kernel is non-finite either
    way.
    """
    return jax.lax.cond(
        jnp.all(jnp.isfinite(previous)),
        lambda values: values,
        lambda values: (jnp.zeros_like(values[0]), jnp.zeros_like(values[1])),
        operands,
    )


def _chained(block_fn: BlockFn, tiles: tuple[jax.Array, jax.Array], pairs: np.ndarray) -> jax.Array:
    """``(P, b, b[, O, O])``: the tiles of `pairs` ``(P, 2)`` in straight-line code, in order."""
    found: list[jax.Array] = []
    for i, j in pairs:
        operands = (tiles[0][i], tiles[1][j])
        if found:
            operands = _after(found[-1], operands)
        found.append(block_fn(*operands))
    return jnp.stack(found)


def _mapped(block_fn: BlockFn, tiles: tuple[jax.Array, jax.Array], pairs: np.ndarray) -> jax.Array:
    """``(P, b, b[, O, O])``: the tiles of `pairs` ``(P, 2)`` under one `jax.lax.map`."""
    return jax.lax.map(lambda ij: block_fn(tiles[0][ij[0]], tiles[1][ij[1]]), jnp.asarray(pairs))


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
    tiles2 = tiles1 if x2 is None else _tiles(x2, block)
    t1, t2 = tiles1.shape[0], tiles2.shape[0]
    pairs = np.array([(i, j) for i in range(t1) for j in range(t2) if x2 is not None or j >= i])
    chain = jax.default_backend() == "cpu" and len(pairs) <= MAX_CHAINED_TILES
    computed = (_chained if chain else _mapped)(block_fn, (tiles1, tiles2), pairs)
    rows, cols = pairs[:, 0], pairs[:, 1]
    grid = jnp.zeros((t1, t2, *computed.shape[1:]), computed.dtype)
    if x2 is None:
        grid = grid.at[cols, rows].set(jax.vmap(_mirror)(computed))
    return _untile(grid.at[rows, cols].set(computed), n1, n2)
