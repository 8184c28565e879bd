"""Biases (``add``, ``sub``) and elementwise scales (``mul``: LayerNorm / BatchNorm scales),
with the parameter broadcast over the axes where its operand has size 1."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ntk_nas._ntk.structured.forms import Layout
from ntk_nas._ntk.structured.graph import Eqn, Program
from ntk_nas._ntk.structured.rules.dot import g_by_axes


def _split(program: Program, eqn: Eqn, position: int):
    """(y shape, W' shape, broadcast axes, parameter axes) or None."""
    y_shape = tuple(program.aval(eqn.outs[0]).shape)
    w_shape = tuple(program.aval(eqn.ins[position]).shape)
    if len(w_shape) == 0:
        return y_shape, w_shape, list(range(len(y_shape))), []
    if len(w_shape) != len(y_shape) or any(
        w not in (1, y) for w, y in zip(w_shape, y_shape, strict=True)
    ):
        return None
    s = [d for d, w in enumerate(w_shape) if w == 1]
    f = [d for d, w in enumerate(w_shape) if w != 1]
    return y_shape, w_shape, s, f


def _bias(program: Program, eqn: Eqn, position: int, sign: float) -> Layout | None:
    split = _split(program, eqn, position)
    if split is None:
        return None
    y_shape, w_shape, s, f = split

    def to_operand(j: jax.Array) -> jax.Array:
        return j.reshape(j.shape[0], *w_shape)

    return Layout(
        saves=(),
        x_fn=None,
        g_fn=g_by_axes(y_shape, [], s, f),
        j_to_operand=to_operand,
        sign=sign,
        g_key=("axes", (), tuple(s), tuple(f)),
        b=1,
        s=math.prod(y_shape[d] for d in s),
        c=1,
        f=math.prod(y_shape[d] for d in f),
        rule=eqn.name,
    )


def add(program: Program, eqn: Eqn, position: int) -> Layout | None:
    return _bias(program, eqn, position, 1.0)


def sub(program: Program, eqn: Eqn, position: int) -> Layout | None:
    return _bias(program, eqn, position, 1.0 if position == 0 else -1.0)


def mul(program: Program, eqn: Eqn, position: int) -> Layout | None:
    split = _split(program, eqn, position)
    if split is None or len(eqn.ins) != 2:
        return None
    y_shape, w_shape, s, f = split
    b_size, s_size = math.prod(y_shape[d] for d in f), math.prod(y_shape[d] for d in s)

    def x_fn(z: jax.Array) -> jax.Array:
        full = jnp.broadcast_to(z, y_shape)
        return jnp.transpose(full, [*f, *s]).reshape(b_size, s_size, 1)

    def to_operand(j: jax.Array) -> jax.Array:
        return j.reshape(j.shape[0], *w_shape)

    return Layout(
        saves=(1 - position,),
        x_fn=x_fn,
        g_fn=g_by_axes(y_shape, f, s, []),
        j_to_operand=to_operand,
        sign=1.0,
        g_key=("scale", tuple(f), tuple(s)),
        b=b_size,
        s=s_size,
        c=1,
        f=1,
        rule="mul",
    )
