"""``conv_general_dilated`` with the parameter as its kernel: any spatial rank, strides, padding,
input and kernel dilation, and feature groups (grouped and depthwise convolutions).

The dot form takes the input's patches as ``x``: positions ``S`` are the (batch-of-one and)
output pixels, ``C`` a window of input channels of one group, the groups are the batch axis
``B`` and ``F`` the output channels per group. Patches are gathered with ``kh * kw`` strided
slices of the padded (and, for input dilation, interior-padded) input.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
from jax import lax

from ntk_nas._ntk.structured.forms import Layout
from ntk_nas._ntk.structured.graph import Eqn, Program
from ntk_nas._ntk.structured.rules.dot import inverse


def conv_general_dilated(program: Program, eqn: Eqn, position: int) -> Layout | None:
    params = eqn.params
    if position != 1 or params["batch_group_count"] != 1:
        return None
    numbers = params["dimension_numbers"]
    lhs_spec, rhs_spec, out_spec = numbers.lhs_spec, numbers.rhs_spec, numbers.out_spec
    w_shape = tuple(program.aval(eqn.ins[1]).shape)
    y_shape = tuple(program.aval(eqn.outs[0]).shape)
    groups = int(params["feature_group_count"])
    spatial = len(lhs_spec) - 2
    window = [w_shape[d] for d in rhs_spec[2:]]
    out_sizes = [y_shape[d] for d in out_spec[2:]]
    c_group, c_out = w_shape[rhs_spec[1]], w_shape[rhs_spec[0]]
    f_group = c_out // groups
    k = math.prod(window)
    s = y_shape[out_spec[0]] * math.prod(out_sizes)
    strides = tuple(params["window_strides"])
    lhs_dilation = tuple(params["lhs_dilation"] or (1,) * spatial)
    rhs_dilation = tuple(params["rhs_dilation"] or (1,) * spatial)
    padding = tuple(params["padding"])

    def x_fn(lhs: jax.Array) -> jax.Array:
        x = jnp.transpose(lhs, [lhs_spec[0], *lhs_spec[2:], lhs_spec[1]])
        pads = [(lo, hi, d - 1) for (lo, hi), d in zip(padding, lhs_dilation, strict=True)]
        x = lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), *pads, (0, 0, 0)])
        slices = []
        for offsets in itertools.product(*(range(size) for size in window)):
            start = [o * d for o, d in zip(offsets, rhs_dilation, strict=True)]
            stop = [
                b + (n - 1) * st + 1 for b, n, st in zip(start, out_sizes, strides, strict=True)
            ]
            slices.append(
                lax.slice(x, (0, *start, 0), (x.shape[0], *stop, x.shape[-1]), (1, *strides, 1))
            )
        patches = jnp.stack(slices, axis=-2).reshape(s, k, groups, c_group)
        return jnp.transpose(patches, (2, 0, 1, 3)).reshape(groups, s, k * c_group)

    def g_fn(g: jax.Array) -> jax.Array:
        order = [out_spec[0], *out_spec[2:], out_spec[1]]
        moved = jnp.transpose(g, [0, *(1 + d for d in order)])  # (O, batch, pixels..., F)
        split = moved.reshape(g.shape[0], s, groups, f_group)
        return jnp.transpose(split, (0, 2, 1, 3))  # (O, G, S, F / G)

    canonical = [*rhs_spec[2:], rhs_spec[1], rhs_spec[0]]

    def to_operand(j: jax.Array) -> jax.Array:
        o = j.shape[0]
        split = j.reshape(o, groups, *window, c_group, f_group)
        perm = [0, *range(2, 3 + spatial), 1, 3 + spatial]
        canon = jnp.transpose(split, perm).reshape(o, *window, c_group, c_out)
        return jnp.transpose(canon, [0, *(1 + p for p in inverse(canonical))])

    if groups == 1:
        key: tuple = ("axes", (), (out_spec[0], *out_spec[2:]), (out_spec[1],))
    else:
        key = ("conv", tuple(out_spec), groups)
    return Layout(
        saves=(0,),
        x_fn=x_fn,
        g_fn=g_fn,
        j_to_operand=to_operand,
        sign=1.0,
        g_key=key,
        b=groups,
        s=s,
        c=k * c_group,
        f=f_group,
        rule="conv_general_dilated",
    )
