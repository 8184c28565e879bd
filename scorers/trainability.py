"""AZ-NAS `trainability`: how close each block's input-output Jacobian is to an isometry.

For consecutive blocks ``l-1 -> l`` (the blocks of `scorers.isotropy`, outputs ``f_{l-1}``,
``f_l``; the image, the first block's input, is not used), a Rademacher cotangent ``g_out`` (entries
+-1, shaped like ``f_l``) is pulled back to ``g_in = J^T g_out``, ``J = d f_l / d f_{l-1}`` along
every path between the two (a zero perturbation is added to each block's output and differentiated,
one vjp per pair, all pairs vmapped). When ``f_l`` is smaller than ``f_{l-1}`` by integer strides,
``g_in`` is rearranged space-to-depth (`space_to_depth`). With ``P`` positions (``B * H * W`` of
``g_out``, ``B`` for dense features) and ``M = g_in^T g_out / P`` (``C_in' x C_out``), the pair's
score is ``2 - sigma - 1 / sigma`` for the largest singular value ``sigma`` of ``M`` (0 at
``sigma = 1``, negative otherwise; `pair_trainability`), ``-inf`` for an exact identity block
(``g_in == g_out``), and the score is the mean over pairs.

Pairs whose shapes do not match (different ranks or batch sizes, a spatial size not an integer
multiple of the next block's) are skipped. AZ-NAS's code takes ``1 / (sigma + 1e-6)``; here a block
whose Jacobian is zero (``sigma = 0``: a cell of ``none`` ops) scores ``-inf``, as an identity.

Cost: one forward pass and one backward pass per pair, vmapped (memory: a copy of the blocks'
outputs and of the backward pass's cotangents per pair).

References:
  Lee, Ham. AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search. CVPR 2024.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from scorers._model import init_variables, per_module_cache
from scorers.base import BatchNormScorer, Direction, ScorerError, Variables
from scorers.isotropy import block_order, child_calls

#: The cotangents are drawn from ``jax.random.fold_in(key, PROBE_STREAM)``, the parameters
#: initialised from ``key`` itself (as by every scorer).
PROBE_STREAM = 1

#: ``(L, matrices, identities)``: the number of blocks and, for each pair scored,
#: ``M: (C_in', C_out)`` and whether the block passed the cotangent through unchanged.
PairMatrices = tuple[jax.Array, list[jax.Array], list[jax.Array]]


def pair_strides(inputs: tuple[int, ...], outputs: tuple[int, ...]) -> tuple[int, ...] | None:
    """The integer strides ``(s_1, ...)`` from features ``inputs: (B, *S_in, C_in)`` to
    ``outputs: (B, *S_out, C_out)``, ``S_in = s * S_out`` axis by axis (``()`` for dense
    features ``(B, C)``); None when the ranks or batch sizes differ or a spatial size is not an
    integer multiple."""
    if len(inputs) != len(outputs) or inputs[0] != outputs[0]:
        return None
    spatial = list(zip(inputs[1:-1], outputs[1:-1], strict=True))
    if any(o < 1 or i % o for i, o in spatial):
        return None
    return tuple(i // o for i, o in spatial)


def space_to_depth(g: jax.Array, strides: tuple[int, ...]) -> jax.Array:
    """Rearranges ``g: (B, s_1 H_1, ..., s_k H_k, C)`` to ``(B, H_1, ..., H_k, s_1 ... s_k C)``:
    each output position gets the ``s_1 x ... x s_k`` window of input positions it covers, stacked
    along channels (PyTorch's ``PixelUnshuffle``, up to the order of the channels)."""
    batch, channels = g.shape[0], g.shape[-1]
    sizes = [n // s for n, s in zip(g.shape[1:-1], strides, strict=True)]
    split = g.reshape(batch, *(d for n, s in zip(sizes, strides, strict=True) for d in (n, s)), -1)
    k = len(strides)
    order = (0, *(1 + 2 * a for a in range(k)), *(2 + 2 * a for a in range(k)), 1 + 2 * k)
    return split.transpose(order).reshape(batch, *sizes, math.prod(strides) * channels)


def pair_matrix(g_in: jax.Array, g_out: jax.Array, strides: tuple[int, ...]) -> jax.Array:
    """``M = g_in'^T g_out / P``: ``(C_in', C_out)`` for ``g_in: (B, *S_in, C_in)`` rearranged by
    `space_to_depth` to ``g_in': (B, *S_out, C_in')`` and ``g_out: (B, *S_out, C_out)``, over the
    ``P = B * prod(S_out)`` positions; at least float32."""
    dtype = jnp.promote_types(g_out.dtype, jnp.float32)
    rows = space_to_depth(g_in, strides) if any(s > 1 for s in strides) else g_in
    a = rows.reshape(-1, rows.shape[-1]).astype(dtype)
    b = g_out.reshape(-1, g_out.shape[-1]).astype(dtype)
    return jnp.matmul(a.T, b, precision=jax.lax.Precision.HIGHEST) / b.shape[0]


def pair_trainability(sigma: float) -> float:
    """``2 - sigma - 1 / sigma`` for a largest singular value ``sigma >= 0``: 0 at ``sigma = 1``,
    negative otherwise, ``-inf`` at 0 and at ``inf``, NaN for NaN."""
    if sigma == 0:
        return -math.inf
    return 2.0 - sigma - 1.0 / sigma


def largest_singular_value(matrix: np.ndarray) -> float:
    """The largest singular value of ``matrix: (m, n)`` in float64 on the host; NaN when it holds
    NaN or inf."""
    m = np.asarray(matrix, np.float64)
    if not np.isfinite(m).all():
        return math.nan
    return float(np.linalg.svd(m, compute_uv=False)[0])


def rademacher_cotangents(
    key: jax.Array, shapes: Sequence[jax.ShapeDtypeStruct]
) -> list[jax.Array]:
    """One Rademacher array (entries +-1) per block, shaped like the block's output: block ``l``'s
    from ``jax.random.split(key, L)[l]``."""
    keys = jax.random.split(key, len(shapes))
    return [jax.random.rademacher(k, s.shape, s.dtype) for k, s in zip(keys, shapes, strict=True)]


def _block_shapes(
    module: nn.Module, variables: Variables, x: jax.Array, train: bool
) -> tuple[list[int], list[jax.ShapeDtypeStruct]]:
    """The blocks' indices among the direct children's calls (`block_order`) and their output
    shapes, from an abstract forward pass."""
    order: list[int] = []

    def outputs(variables: Variables, x: jax.Array) -> list[jax.Array]:
        calls, y = child_calls(module, variables, x, train=train)
        order.extend(block_order(calls, y))
        return [calls[i][1] for i in order]

    shapes = jax.eval_shape(outputs, variables, x)
    return order, shapes


def block_pairs(shapes: Sequence[jax.ShapeDtypeStruct]) -> list[tuple[int, tuple[int, ...]]]:
    """``(b, strides)`` for each pair of consecutive blocks ``b-1 -> b`` whose shapes match
    (`pair_strides`)."""
    found = [(b, pair_strides(shapes[b - 1].shape, shapes[b].shape)) for b in range(1, len(shapes))]
    return [(b, strides) for b, strides in found if strides is not None]


def block_pair_matrices(
    module: nn.Module, variables: Variables, x: jax.Array, key: jax.Array, *, train: bool
) -> tuple[int, list[np.ndarray], list[bool]]:
    """For each pair of consecutive blocks that `block_pairs` keeps, `pair_matrix` of the
    pulled-back cotangent, and whether it came back unchanged (an identity block).

    Args:
      module: a Flax linen module called as ``module.apply(variables, x, train=...)``.
      variables: its variables.
      x: inputs ``(N, ...)``.
      key: the cotangents' key (`rademacher_cotangents`).
      train: BatchNorm on batch statistics or on the running statistics.

    Returns:
      ``(L, matrices, identities)``: the number of blocks, the matrices ``(C_in', C_out)`` on the
      host and the identity flags, one per pair kept.
    """
    blocks, matrices, identities = jax.device_get(_compiled(module, train)(variables, x, key))
    return int(blocks), list(matrices), [bool(same) for same in identities]


@per_module_cache
def _compiled(
    module: nn.Module, train: bool
) -> Callable[[Variables, jax.Array, jax.Array], PairMatrices]:
    """A compiled ``f(variables, x, key) -> (L, matrices, identities)`` (see
    `block_pair_matrices`)."""

    def f(variables: Variables, x: jax.Array, key: jax.Array) -> PairMatrices:
        order, shapes = _block_shapes(module, variables, x, train)
        pairs = block_pairs(shapes)
        if not pairs:
            return jnp.asarray(len(order)), [], []

        def blocks(deltas: list[jax.Array]) -> list[jax.Array]:
            added = dict(zip(order, deltas, strict=True))

            def perturb(i: int, out: Any) -> Any:
                return out + added[i] if i in added else out

            calls, _ = child_calls(module, variables, x, train=train, perturb=perturb)
            return [calls[i][1] for i in order]

        zeros = [jnp.zeros(s.shape, s.dtype) for s in shapes]
        _, pullback = jax.vjp(blocks, zeros)
        g = rademacher_cotangents(key, shapes)

        targeted = {b for b, _ in pairs}

        def pull(target: jax.Array) -> list[jax.Array]:
            """The cotangents of the perturbations for ``g[target]`` on block ``target`` alone."""
            cotangents = [
                jnp.where(target == b, g[b], 0) if b in targeted else jnp.zeros_like(g[b])
                for b in range(len(g))
            ]
            (found,) = pullback(cotangents)
            return found

        pulled = jax.vmap(pull)(jnp.array([b for b, _ in pairs]))
        matrices, identities = [], []
        for p, (b, strides) in enumerate(pairs):
            g_in, g_out = pulled[b - 1][p], g[b]
            matrices.append(pair_matrix(g_in, g_out, strides))
            same = g_in.shape == g_out.shape
            identities.append(jnp.all(g_in == g_out) if same else jnp.asarray(False))
        return jnp.asarray(len(order)), matrices, identities

    return jax.jit(f)


@dataclasses.dataclass(frozen=True)
class Trainability(BatchNormScorer):
    """trainability (higher is better): the mean over consecutive blocks of ``2 - sigma -
    1 / sigma``, ``sigma`` the largest singular value of the block's Jacobian seen through random
    cotangents (see `scorers.trainability`); needs two blocks. Extras: ``blocks`` (their number),
    ``pairs`` (the pairs scored).

    The cotangents are drawn from ``jax.random.fold_in(key, PROBE_STREAM)``. BatchNorm in training
    mode by default, as AZ-NAS scores the network (the Jacobians then couple the samples).

    Example:
      >>> import jax, numpy as np, search_spaces
      >>> space = search_spaces.get("nb201")
      >>> cell = space.from_str("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|"
      ...                       "+|skip_connect~0|nor_conv_3x3~1|none~2|")
      >>> net = space.build(cell, C=4, N=1)
      >>> x = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype(np.float32)
      >>> score = Trainability()(net, None, (x, np.zeros(4, int)), key=jax.random.key(0))
      >>> score.value < 0, score.extras["pairs"]
      (True, 7.0)

    References:
      Lee, Ham. AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search. CVPR 2024.
    """

    direction: ClassVar[Direction] = "maximize"
    #: The score depends on the network only through its blocks' outputs and the Jacobians of each
    #: block's output with respect to the previous one's. With a one-hot mask, each cell of
    #: `NB201MaskedNetwork` computes the built network's block outputs, and the unselected ops
    #: (finite, times exact zeros) add exact zeros to the Jacobians (tested on sample cells in
    #: both BatchNorm modes).
    mask_invariant: ClassVar[bool] = True
    name: str = "trainability"

    def _score(
        self,
        module: nn.Module,
        variables: Variables | None,
        x: jax.Array,
        y: np.ndarray,
        key: jax.Array,
    ) -> tuple[float, dict[str, float]]:
        variables = init_variables(module, variables, x, key)
        probe = jax.random.fold_in(key, PROBE_STREAM)
        blocks, matrices, identities = block_pair_matrices(
            module, variables, x, probe, train=self.train
        )
        if blocks < 2:
            raise ScorerError(
                f"{self.name} needs at least 2 blocks, found {blocks}: blocks are the outputs of "
                "the model's direct submodules that are floating arrays of rank >= 2, the "
                "network's output excepted"
            )
        if not matrices:
            raise ScorerError(
                f"{self.name} found no pair of consecutive blocks with matching shapes among "
                f"{blocks} blocks: the outputs (B, *S, C) of consecutive blocks must have the same "
                "rank and batch size, and each spatial size a multiple of the next block's"
            )
        scores = [
            -math.inf if same else pair_trainability(largest_singular_value(m))
            for m, same in zip(matrices, identities, strict=True)
        ]
        return float(np.mean(scores)), {"blocks": float(blocks), "pairs": float(len(scores))}
