"""Size baselines: `params` (parameter count) and `flops` (forward FLOPs of one sample)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Literal, get_args

import flax.linen as nn
import jax
import jax.extend as jex
import numpy as np

from scorers._model import forward
from scorers.base import BaseScorer, Direction, ScorerError, Variables, check_choice

FlopsCounter = Literal["jaxpr", "xla"]
"""How `Flops` counts: matrix multiplies and convolutions read off the jaxpr, or XLA's cost
analysis of the whole forward pass."""


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


def xla_flops(module: nn.Module, variables: Variables, x: jax.Array) -> float:
    """XLA's count of the FLOPs of the forward pass of one sample ``x[:1]`` (running BatchNorm
    statistics): the cost analysis of the lowered (not compiled, so not optimised) computation;
    `variables` may be arrays or `jax.ShapeDtypeStruct` (only traced, never run).

    Every op counts (bias additions, normalisation, activations, pooling), and a convolution only
    the taps that fall inside its input, not those on the zero padding.

    Raises:
      ScorerError: if the backend's cost analysis has no ``"flops"``.
    """

    def one(variables: Variables, x: jax.Array) -> jax.Array:
        return forward(module, variables, x, train=False)

    sample = jax.ShapeDtypeStruct((1, *x.shape[1:]), x.dtype)
    analysis: Any = jax.jit(one).lower(variables, sample).cost_analysis()
    if isinstance(analysis, list | tuple):  # one entry per computation in older JAX versions
        analysis = analysis[0] if analysis else None
    if not analysis or "flops" not in analysis:
        raise ScorerError(
            f"XLA's cost analysis on {jax.default_backend()} gave no flops (got {analysis!r}); "
            "use Flops(counter='jaxpr')"
        )
    return float(analysis["flops"])


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
    """Forward FLOPs of one sample (higher is better, as a baseline; AZ-NAS's "complexity").

    Attributes:
      counter: ``"jaxpr"`` (default): only ``dot_general`` (dense layers, matmuls) and
        ``conv_general_dilated`` count, read off the jaxpr (`forward_flops`), a multiply-add as 2
        FLOPs, zero padding included; NAS-Bench-201's tables list multiply-adds, half of this.
        ``"xla"``: XLA's cost analysis of the lowered forward pass (`xla_flops`), every op
        counted and the padding not: a little less than ``"jaxpr"`` for padded convolutions,
        a little more for networks of dense layers (biases, activations).

    Not mask invariant: a masked supernet computes every op.

    References:
      Abdelfattah, Mehrotra, Dudziak, Lane. Zero-Cost Proxies for Lightweight NAS. ICLR 2021
      (params and FLOPs as baselines).
    """

    direction: ClassVar[Direction] = "maximize"
    name: str = "flops"
    counter: FlopsCounter = "jaxpr"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("counter", self.counter, get_args(FlopsCounter))

    def _score(
        self,
        module: nn.Module,
        variables: Variables | None,
        x: jax.Array,
        y: np.ndarray,
        key: jax.Array,
    ) -> tuple[float, dict[str, float]]:
        shapes = _shapes(module, variables, x, key)
        if self.counter == "xla":
            return xla_flops(module, shapes, x), {}
        return float(forward_flops(module, shapes, x)), {}
