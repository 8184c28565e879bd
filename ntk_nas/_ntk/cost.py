"""Static cost of one forward pass, read off the jaxpr of a single sample.

The cost model of `auto` needs the forward-pass FLOPs ``[FP]``, the activation memory, the memory
that a backward pass keeps and the largest intermediate per sample. They are counted from jaxprs
and abstract evaluation, so no compilation is needed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.extend as jex
import numpy as np


@dataclasses.dataclass(frozen=True)
class ForwardCost:
    """Cost of the forward pass of one sample.

    Attributes:
      flops: floating-point operations (a multiply-add counts 2).
      activation_bytes: bytes of every intermediate value, summed: the memory traffic of a pass.
      largest_intermediate_bytes: bytes of the largest intermediate value.
      residual_bytes: bytes that a reverse-mode pass keeps from the forward pass for the
        backward one (`jax.vjp`'s residuals): what a batch's backward pass holds in memory per
        sample, where XLA frees or fuses away the other intermediates.
      conv_flops: the part of `flops` in convolutions.
    """

    flops: float
    activation_bytes: float
    largest_intermediate_bytes: float
    residual_bytes: float
    conv_flops: float = 0.0


def _size(aval: Any) -> int:
    return math.prod(getattr(aval, "shape", ()))


def _nbytes(aval: Any) -> int:
    dtype = getattr(aval, "dtype", None)
    return _size(aval) * (np.dtype(dtype).itemsize if dtype is not None else 0)


def _equation_flops(eqn: jex.core.JaxprEqn) -> float:
    out = eqn.outvars[0].aval
    name = eqn.primitive.name
    if name == "dot_general":
        (lhs_contracting, _), _ = eqn.params["dimension_numbers"]
        lhs_shape = getattr(eqn.invars[0].aval, "shape", ())
        return 2.0 * _size(out) * math.prod(lhs_shape[d] for d in lhs_contracting)
    if name == "conv_general_dilated":
        rhs_shape = getattr(eqn.invars[1].aval, "shape", ())
        out_feature_dim = eqn.params["dimension_numbers"].rhs_spec[0]
        return 2.0 * _size(out) * math.prod(rhs_shape) / rhs_shape[out_feature_dim]
    return float(sum(_size(v.aval) for v in eqn.outvars))


def _jaxpr_cost(jaxpr: jex.core.Jaxpr) -> tuple[float, float, float, float]:
    flops = activations = largest = conv = 0.0
    for eqn in jaxpr.eqns:
        inner = list(jex.core.jaxprs_in_params(eqn.params))
        if inner:
            repeats = float(eqn.params.get("length", 1))
            for sub in inner:
                f, a, m, c = _jaxpr_cost(sub)
                flops, activations = flops + repeats * f, activations + repeats * a
                largest, conv = max(largest, m), conv + repeats * c
            continue
        eqn_flops = _equation_flops(eqn)
        flops += eqn_flops
        if eqn.primitive.name == "conv_general_dilated":
            conv += eqn_flops
        for var in eqn.outvars:
            activations += _nbytes(var.aval)
            largest = max(largest, float(_nbytes(var.aval)))
    return flops, activations, largest, conv


def _residual_bytes(closed: jex.core.ClosedJaxpr, num_params: int) -> float:
    """`residual_bytes` of a traced ``fn``; its first `num_params` inputs are the parameters.

    The jaxpr, not ``fn``, is differentiated: no second trace through the model's Python.
    """
    fn = jex.core.jaxpr_as_fun(closed)

    def residuals(params: list[Any], inputs: list[Any]) -> list[Any]:
        return jax.tree.leaves(jax.vjp(lambda p: fn(*p, *inputs), params)[1])

    avals = [jax.ShapeDtypeStruct(v.aval.shape, v.aval.dtype) for v in closed.jaxpr.invars]
    jaxpr = jax.make_jaxpr(residuals)(avals[:num_params], avals[num_params:]).jaxpr
    per_sample = set(jaxpr.invars[num_params:])
    for eqn in jaxpr.eqns:
        if any(isinstance(v, jex.core.Var) and v in per_sample for v in eqn.invars):
            per_sample.update(eqn.outvars)
    outputs = [v for v in jaxpr.outvars if isinstance(v, jex.core.Var) and v in per_sample]
    return float(sum(_nbytes(v.aval) for v in outputs))


def residual_bytes(fn: Callable[[Any, Any], Any], params: Any, x: Any) -> float:
    """Bytes per sample of the residuals of ``jax.vjp`` of ``fn(params, x)`` in `params`.

    The residuals that depend on the sample ``x: (1, ...)`` (may be abstract); those computed
    from the parameters alone, which a batch's backward pass keeps once, are left out.
    """
    return _residual_bytes(jax.make_jaxpr(fn)(params, x), len(jax.tree.leaves(params)))


def forward_cost(fn: Callable[[Any, Any], Any], params: Any, x: Any) -> ForwardCost:
    """Counts the cost of ``fn(params, x)`` for one sample ``x: (1, ...)`` (may be abstract)."""
    closed = jax.make_jaxpr(fn)(params, x)
    flops, activations, largest, conv = _jaxpr_cost(closed.jaxpr)
    residuals = _residual_bytes(closed, len(jax.tree.leaves(params)))
    return ForwardCost(flops, activations, largest, residuals, conv)
