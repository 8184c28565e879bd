"""``dot_general`` (Dense, DenseGeneral, einsum, attention projections): any contracting and batch
dimensions, with the parameter as either operand."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ntk_nas._ntk.structured.forms import Layout
from ntk_nas._ntk.structured.graph import Eqn, Program


def inverse(perm: list[int]) -> list[int]:
    out = [0] * len(perm)
    for i, p in enumerate(perm):
        out[p] = i
    return out


def axes_to_operand(shape: tuple[int, ...], order: list[int]):
    """``(O, B, C, F)`` whose flattened axes are `shape`'s `order` -> ``(O, *shape)``."""

    def to_operand(j: jax.Array) -> jax.Array:
        split = j.reshape(j.shape[0], *(shape[d] for d in order))
        return jnp.transpose(split, [0, *(1 + p for p in inverse(order))])

    return to_operand


def g_by_axes(y_shape: tuple[int, ...], b: list[int], s: list[int], f: list[int]):
    """``(O, *y_shape) -> (O, B, S, F)`` taking `b`, `s`, `f` axes of y in that order."""
    sizes = [math.prod(y_shape[d] for d in axes) for axes in (b, s, f)]

    def g_fn(g: jax.Array) -> jax.Array:
        moved = jnp.transpose(g, [0, *(1 + d for d in (*b, *s, *f))])
        return moved.reshape(g.shape[0], *sizes)

    return g_fn


def dot_general(program: Program, eqn: Eqn, position: int) -> Layout | None:
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    shapes = [tuple(program.aval(a).shape) for a in eqn.ins]
    y_shape = tuple(program.aval(eqn.outs[0]).shape)
    if position == 1:
        xc, xb, wc, wb = list(lc), list(lb), list(rc), list(rb)
    else:
        xc, xb, wc, wb = list(rc), list(rb), list(lc), list(lb)
    x_shape, w_shape = shapes[1 - position], shapes[position]
    x_free = [d for d in range(len(x_shape)) if d not in xc and d not in xb]
    w_free = [d for d in range(len(w_shape)) if d not in wc and d not in wb]
    nb = len(xb)
    y_b = list(range(nb))
    if position == 1:
        y_s = list(range(nb, nb + len(x_free)))
        y_f = list(range(nb + len(x_free), len(y_shape)))
    else:
        y_f = list(range(nb, nb + len(w_free)))
        y_s = list(range(nb + len(w_free), len(y_shape)))
    b = math.prod(x_shape[d] for d in xb)
    s = math.prod(x_shape[d] for d in x_free)
    c = math.prod(x_shape[d] for d in xc)
    f = math.prod(w_shape[d] for d in w_free)

    def x_fn(x: jax.Array) -> jax.Array:
        return jnp.transpose(x, [*xb, *x_free, *xc]).reshape(b, s, c)

    return Layout(
        saves=(1 - position,),
        x_fn=x_fn,
        g_fn=g_by_axes(y_shape, y_b, y_s, y_f),
        j_to_operand=axes_to_operand(w_shape, [*wb, *wc, *w_free]),
        sign=1.0,
        g_key=("axes", tuple(y_b), tuple(y_s), tuple(y_f)),
        b=b,
        s=s,
        c=c,
        f=f,
        rule="dot_general",
    )
