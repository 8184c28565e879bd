"""The "dot form" shared by all rules, and the two ways of contracting it.

Every structured use of a parameter ``W'`` (the parameter after view operations) is brought to
the form of a batched matrix product, per sample and output ``a``::

    y[b, s, f] = sum_c x[b, s, c] W'[b, c, f]          (b: batch, s: positions, c, f: features)

so that ``dW' = J[a, b, c, f] = sum_s x[b, s, c] g[a, b, s, f]`` with ``g = d out_a / d y``. A Dense
layer has one position, a convolution one per output pixel (``x`` are the input patches), a bias
has ``x = 1`` (``C = 1``), an elementwise scale ``C = F = 1`` with its features as batch axes.
The kernel of ``W'`` is then ``sum_b sum_{s,t} <x1_bs, x2_bt> <g1_abs, g2_dbt>`` and can be
contracted in two orders (Novak et al., 2022, section 4):

* ``"jacobian"``: build ``J`` per sample from ``x`` and ``g`` (``N O B S C F``), contract
  ``J1 J2^T`` (``N1 N2 O^2 B C F``). Best with many positions (convolutions).
* ``"pairwise"``: Gram matrices ``<x1_bs, x2_bt>`` (``N1 N2 B S^2 C``) and of ``g`` over ``f``,
  never forming ``J``. Best with few positions (Dense: ``N1 N2 (C + O^2 F)`` instead of
  ``N1 N2 O^2 C F``).

Uses that share one cotangent ``g`` with the same layout (a Dense kernel and its bias) add their
``x`` Gram matrices before meeting ``g`` once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True, eq=False)
class Layout:
    """How one use is brought to the dot form (all functions act on one sample).

    Attributes:
      saves: operand positions of the equation that `x_fn` needs.
      x_fn: saved operands -> ``x: (B, S, C)``; None means ``x = 1`` (``C = 1``).
      g_fn: ``(O, *y.shape) -> (O, B, S, F)``, the cotangent of the equation's output.
      j_to_operand: ``(O, B, C, F) -> (O, *W'.shape)``.
      sign: ``dy/dW'`` is ``sign`` times the dot form (``-1`` for ``y = z - W'``).
      g_key: equal keys have equal `g_fn` on equal cotangents.
      b, s, c, f: the sizes ``B, S, C, F``.
      rule: the rule's name, for introspection.
    """

    saves: tuple[int, ...]
    x_fn: Callable[..., jax.Array] | None
    g_fn: Callable[[jax.Array], jax.Array]
    j_to_operand: Callable[[jax.Array], jax.Array]
    sign: float
    g_key: Hashable
    b: int
    s: int
    c: int
    f: int
    rule: str


def _tokens(count: int) -> int:
    return max(count, 1)


def jacobian_cost(n: int, o: int, lay: Layout) -> float:
    """FLOPs to build ``J`` of one use for `n` samples."""
    return 2.0 * n * o * lay.b * lay.s * lay.c * lay.f


def pairwise_cost(
    n1: int, n2: int, o: int, trace: bool, b: int, s: int, f: int, cs: list[int]
) -> tuple[float, float]:
    """(FLOPs, largest intermediate in elements) of the pairwise contraction of one g-group."""
    grams = sum(2.0 * n1 * n2 * b * s * s * c for c in cs)
    o2 = o if trace else o * o
    g_first = 2.0 * n1 * n2 * o2 * b * s * s * f + 2.0 * n1 * n2 * o2 * b * s * s
    x_first = 2.0 * n1 * n2 * o * b * s * s * f + 2.0 * n1 * n2 * o2 * b * s * f
    if g_first <= x_first:
        return grams + g_first, float(n1 * n2 * max(o2 * b * s * s, 1))
    return grams + x_first, float(n1 * n2 * max(b * s * s, o * b * s * f))


def contraction_cost(n1: int, n2: int, o: int, trace: bool, size: int) -> float:
    """FLOPs of ``J1 J2^T`` for a parameter of `size` entries."""
    return 2.0 * n1 * n2 * o * (1 if trace else o) * size


def build_jacobian(x: jax.Array | None, g: jax.Array) -> jax.Array:
    """One sample: ``x: (B, S, C)`` or None, ``g: (O, B, S, F)`` -> ``J: (B * C, O, F)``.

    One GEMM ``x^T g`` over positions per batch index, in its natural output layout, which
    `contract_jacobians` reads without a copy.
    """
    if x is None:
        return jnp.swapaxes(jnp.sum(g, axis=2), 0, 1)  # (B, O, F): C = 1
    j = jnp.einsum("bsc,absf->bcaf", x, g)
    b, c, o, f = j.shape
    return j.reshape(b * c, o, f)


def concat_inputs(xs: list[jax.Array | None], g: jax.Array) -> jax.Array | None:
    """One sample: the inputs of uses sharing ``g: (O, B, S, F)`` side by side along ``C``
    (None, ``x = 1``, becomes a column of ones); None if that is the only input."""
    if len(xs) == 1:
        return xs[0]
    _, b, s, _ = g.shape
    ones = jnp.ones((b, s, 1), g.dtype)
    return jnp.concatenate([ones if x is None else x.astype(g.dtype) for x in xs], axis=2)


def jacobian_for_operand(j: jax.Array, b: int) -> jax.Array:
    """One sample: ``(B * C, O, F)`` from `build_jacobian` -> ``(O, B, C, F)``."""
    bc, o, f = j.shape
    return jnp.transpose(j.reshape(b, bc // b, o, f), (2, 0, 1, 3))


def contract_jacobians(j1: jax.Array, j2: jax.Array, trace: bool) -> jax.Array:
    """``J: (N, X, O, Y)`` (parameters ``X * Y``) on both sides -> ``(N1, N2[, O, O])``."""
    if trace:
        return jnp.einsum("nxay,mxay->nm", j1, j2)
    return jnp.einsum("nxay,mxby->nmab", j1, j2)


def gram(x1: jax.Array | None, x2: jax.Array | None, g1_shape: tuple, g2_shape: tuple) -> jax.Array:
    """``<x1_bs, x2_bt>``: ``(N1, N2, B, S1, S2)``; None is ``x = 1``."""
    if x1 is None or x2 is None:
        n1, _, b, s1, _ = g1_shape
        return jnp.ones((n1, g2_shape[0], b, s1, g2_shape[3]), jnp.float32)
    if x1.shape[1] == 1 and x1.shape[2] == 1:
        out = x1.reshape(x1.shape[0], -1) @ x2.reshape(x2.shape[0], -1).T
        return out[:, :, None, None, None]
    return jnp.einsum("nbsc,mbtc->nmbst", x1, x2)


def contract_pairwise(xgram: jax.Array, g1: jax.Array, g2: jax.Array, trace: bool) -> jax.Array:
    """``sum_{b,s,t} X[n,m,b,s,t] <g1[n,a,b,s], g2[m,d,b,t]>`` -> ``(N1, N2[, O, O])``.

    ``g: (N, O, B, S, F)``. With one position the Gram of ``g`` over ``f`` is a GEMM that the
    ``x`` Gram scales; otherwise the cheaper of (g1 g2 first) and (X g1 first) is used.
    """
    n1, o, b, s, f = g1.shape
    n2, o2, _, t, _ = g2.shape
    if s == 1 and t == 1:
        x = xgram[:, :, :, 0, 0]  # (N1, N2, B)
        if b == 1:
            if trace:
                return x[:, :, 0] * (g1.reshape(n1, o * f) @ g2.reshape(n2, o * f).T)
            inner = (g1.reshape(n1 * o, f) @ g2.reshape(n2 * o2, f).T).reshape(n1, o, n2, o2)
            return x[:, :, 0, None, None] * jnp.transpose(inner, (0, 2, 1, 3))
        g1, g2 = g1[:, :, :, 0], g2[:, :, :, 0]
        if trace:
            return jnp.einsum("nmb,nmb->nm", x, jnp.einsum("nabf,mabf->nmb", g1, g2))
        return jnp.einsum("nmb,nmadb->nmad", x, jnp.einsum("nabf,mdbf->nmadb", g1, g2))
    o_pairs = o if trace else o * o
    g_first = o_pairs * s * t * f + o_pairs * s * t
    x_first = o * s * t * f + o_pairs * t * f
    out = "nm" if trace else "nmad"
    second = "mabtf" if trace else "mdbtf"
    pair = "a" if trace else "ad"
    if g_first <= x_first:
        inner = jnp.einsum(f"nabsf,{second}->nm{pair}bst", g1, g2)
        return jnp.einsum(f"nmbst,nm{pair}bst->{out}", xgram, inner)
    half = jnp.einsum("nmbst,nabsf->nmabtf", xgram, g1)
    return jnp.einsum(f"nmabtf,{second}->{out}", half, g2)
