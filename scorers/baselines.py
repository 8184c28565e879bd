"""Size baselines: `params` (parameter count) and `flops` (forward FLOPs of one sample)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.extend as jex
import numpy as np

from scorers._model import forward
from scorers.base import BaseScorer, Direction, Variables


def _shapes(
    module: nn.Module, variables: Variables | None, x: jax.Array, key: jax.Array
) -> Variables:
    """The variables, or their shapes from an abstract initialisation (nothing is computed)."""
    return variables if variables is not None else jax.eval_shape(module.init, key, x[:1])


def count_params(variables: Variables) -> int:
    """The number of scalars in the ``"params"`` collection."""
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(variables["params"]))


def _shape(atom: Any) -> tuple[int, ...]:
    return tuple(getattr(atom.aval, "shape", ()))


def _equation_flops(eqn: jex.core.JaxprEqn) -> int:
    """FLOPs of a ``dot_general`` or ``conv_general_dilated`` (a multiply-add counts 2), else 0."""
    out = math.prod(_shape(eqn.outvars[0]))
    if eqn.primitive.name == "dot_general":
        (contracting, _), _ = eqn.params["dimension_numbers"]
        lhs = _shape(eqn.invars[0])
        return 2 * out * math.prod(lhs[d] for d in contracting)
    if eqn.primitive.name == "conv_general_dilated":
        rhs = _shape(eqn.invars[1])
        out_features = rhs[eqn.params["dimension_numbers"].rhs_spec[0]]
        return 2 * out * math.prod(rhs) // out_features
    return 0


def jaxpr_flops(jaxpr: jex.core.Jaxpr) -> int:
    """Matrix-multiply and convolution FLOPs of `jaxpr`, nested bodies included.

    A ``scan`` body counts ``length`` times; every branch of a ``cond`` counts, and a ``while``
    body once (its trip count is unknown).
    """
    total = 0
    for eqn in jaxpr.eqns:
        repeats = eqn.params.get("length", 1) if eqn.primitive.name == "scan" else 1
        inner = sum(jaxpr_flops(body) for body in jex.core.jaxprs_in_params(eqn.params))
        total += _equation_flops(eqn) + repeats * inner
    return total


def forward_flops(module: nn.Module, variables: Variables, x: jax.Array) -> int:
    """FLOPs of the forward pass of one sample ``x[:1]`` (running BatchNorm statistics);
    `variables` may be arrays or `jax.ShapeDtypeStruct` (only traced, never run)."""

    def one(variables: Variables, x: jax.Array) -> jax.Array:
        return forward(module, variables, x, train=False)

    return jaxpr_flops(jax.make_jaxpr(one)(variables, x[:1]).jaxpr)


@dataclasses.dataclass(frozen=True)
class Params(BaseScorer):
    """The parameter count (higher is better, as a baseline: bigger networks of a NAS-Bench
    space tend to be more accurate).

    References:
      Abdelfattah, Mehrotra, Dudziak, Lane. Zero-Cost Proxies for Lightweight NAS. ICLR 2021
      (params and FLOPs as baselines).
    """

    direction: ClassVar[Direction] = "maximize"
    name: str = "params"

    def _score(
        self,
        module: nn.Module,
        variables: Variables | None,
        x: jax.Array,
        y: np.ndarray,
        key: jax.Array,
    ) -> tuple[float, dict[str, float]]:
        return float(count_params(_shapes(module, variables, x, key))), {}


@dataclasses.dataclass(frozen=True)
class Flops(BaseScorer):
    """Forward FLOPs of one sample (higher is better, as a baseline), counted from the jaxpr.

    Only ``dot_general`` (dense layers, matmuls) and ``conv_general_dilated`` count, a
    multiply-add as 2 FLOPs; NAS-Bench-201's tables list multiply-adds, half of this.

    References:
      Abdelfattah, Mehrotra, Dudziak, Lane. Zero-Cost Proxies for Lightweight NAS. ICLR 2021
      (params and FLOPs as baselines).
    """

    direction: ClassVar[Direction] = "maximize"
    name: str = "flops"

    def _score(
        self,
        module: nn.Module,
        variables: Variables | None,
        x: jax.Array,
        y: np.ndarray,
        key: jax.Array,
    ) -> tuple[float, dict[str, float]]:
        return float(forward_flops(module, _shapes(module, variables, x, key), x)), {}
