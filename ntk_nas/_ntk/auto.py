"""The cost model behind ``implementation="auto"`` and the choice of block size.

Each implementation's FLOPs, bytes moved and peak memory are estimated from the problem's sizes,
the cost of one forward pass (Novak et al., 2022, Table 1) and, for structured derivatives, the
rules each parameter takes, for the largest tile of samples that fits the memory budget. The
implementation with the lowest estimated time that fits wins, in units of GEMM FLOPs::

    cost = GEMM FLOPs + passes * (FP + (CONV_FACTOR - 1) * FP_conv)
           + weight-gradient passes * (FP + (WGRAD_CONV_FACTOR - 1) * FP_conv)
           + FLOPS_PER_BYTE * bytes

where ``passes`` counts forward and input-gradient passes through the network (``FP`` each, of
which ``FP_conv`` in convolutions), and weight-gradient passes are Jacobian contraction's
per-sample weight gradients (a vmapped convolution weight gradient becomes a grouped convolution,
far slower than the GEMMs structured derivatives uses for the same product). FLOPs alone mislead:
Jacobians are written and read at memory speed, and convolutions run below GEMM speed. The
constants were calibrated on CPU with ``experiments/bench_ntk.py --sweep`` (see README, Speed);
on GPUs the weight-gradient factor is `GPU_WGRAD_CONV_FACTOR`.
"""

from __future__ import annotations

import dataclasses
import math

from ntk_nas._ntk.cost import ForwardCost
from ntk_nas._ntk.errors import NTKInputError
from ntk_nas._ntk.implementations import Implementation
from ntk_nas._ntk.structured.cost import Summary, tile_cost

FLOPS_PER_BYTE = 64.0
CONV_FACTOR = 2.5
WGRAD_CONV_FACTOR = 6.0
#: `WGRAD_CONV_FACTOR` on GPUs, where a grouped convolution is slower still against GEMMs. Fitted
#: to one measurement, so that the model's ratio equals the time's: Jacobian contraction took
#: 1.95x structured derivatives' time for NAS-Bench-201's masked supernet (C=16, N=5, batch 64,
#: summed logits) on one H200 (README, Scoring at scale). With `WGRAD_CONV_FACTOR` the model
#: put it at 0.88x.
GPU_WGRAD_CONV_FACTOR = 45.0


def wgrad_conv_factor(backend: str) -> float:
    """The weight-gradient convolution factor of the cost model on `backend` (e.g. ``"cpu"``,
    ``"gpu"``, as `jax.default_backend` names it)."""
    return GPU_WGRAD_CONV_FACTOR if backend == "gpu" else WGRAD_CONV_FACTOR


@dataclasses.dataclass(frozen=True)
class Problem:
    """The sizes that set an NTK's cost.

    Attributes:
      n1, n2: samples in `x1` and `x2`.
      symmetric: `x2` is `x1`.
      outputs: `O`, outputs per sample after flattening (1 for ``sum_logits``).
      params: `P`, differentiable parameters.
      itemsize: bytes per float.
      trace: the kernel is traced over outputs.
      forward: cost of one sample's forward pass.
      structured: the structure that structured derivatives would use (None: not a candidate).
      wgrad_conv_factor: the cost of a per-sample convolution weight gradient per FLOP, in
        GEMM FLOPs (`wgrad_conv_factor` of the backend).
    """

    n1: int
    n2: int
    symmetric: bool
    outputs: int
    params: int
    itemsize: int
    trace: bool
    forward: ForwardCost
    structured: Summary | None = None
    wgrad_conv_factor: float = WGRAD_CONV_FACTOR


@dataclasses.dataclass(frozen=True)
class Plan:
    """An implementation, its tile size and its estimated cost.

    Attributes:
      implementation: the implementation.
      block: samples per tile.
      flops: estimated floating-point operations.
      peak_bytes: estimated peak memory.
      bytes_moved: estimated memory traffic.
      cost: the estimated time in GEMM-FLOP units (see the module docstring), what ``auto``
        minimises.
    """

    implementation: Implementation
    block: int
    flops: float
    peak_bytes: float
    bytes_moved: float = 0.0
    cost: float = 0.0


@dataclasses.dataclass(frozen=True)
class TileCost:
    """Cost of one call on a tile: GEMM FLOPs, network passes, bytes moved, peak bytes."""

    gemm_flops: float
    passes: float
    bytes_moved: float
    peak_bytes: float
    wgrad_passes: float = 0.0

    def flops(self, forward: ForwardCost) -> float:
        return self.gemm_flops + (self.passes + self.wgrad_passes) * forward.flops

    def cost(self, forward: ForwardCost, wgrad_conv_factor: float) -> float:
        per_pass = forward.flops + (CONV_FACTOR - 1) * forward.conv_flops
        per_wgrad = forward.flops + (wgrad_conv_factor - 1) * forward.conv_flops
        return (
            self.gemm_flops
            + self.passes * per_pass
            + self.wgrad_passes * per_wgrad
            + FLOPS_PER_BYTE * self.bytes_moved
        )


def _tile_cost(impl: Implementation, p: Problem, na: int, nb: int, same: bool) -> TileCost:
    """The cost of one call on ``na`` x ``nb`` samples."""
    o, act = p.outputs, p.forward.activation_bytes
    # Held per sample by a reverse pass with `o` cotangents: the residuals, and the cotangents'
    # working buffers.
    held = p.forward.residual_bytes + 2 * o * p.forward.largest_intermediate_bytes
    o_pairs = 1 if p.trace else o
    kernel_bytes = na * nb * (1 if p.trace else o * o) * p.itemsize
    distinct = na + (0 if same else nb)
    if impl is Implementation.JACOBIAN_CONTRACTION:
        # Forward, then per output a backward pass: input and per-sample weight gradients.
        gemm = 2.0 * na * nb * o * o_pairs * p.params
        jacobians = distinct * o * p.params * p.itemsize
        moved = 2 * jacobians + distinct * (1 + o) * act + kernel_bytes
        peak = 2 * jacobians + max(na, nb) * held + kernel_bytes  # Jacobians, and flattened
        return TileCost(gemm, distinct * (1 + o), moved, peak, wgrad_passes=distinct * o)
    if impl is Implementation.NTK_VECTOR_PRODUCTS:
        # Per column: a VJP on x2 and a JVP (about 2 passes) on all of x1.
        passes = nb * (1 + 2 * o) + 2.0 * nb * o * na
        moved = nb * o * (2 * p.params * p.itemsize + 2 * na * act) + kernel_bytes
        # Each column's JVP runs through the VJP's linearisation on all of x1.
        peak = nb * o * (p.params * p.itemsize + na * held)
        return TileCost(0.0, passes, moved, peak + kernel_bytes)
    if impl is Implementation.STRUCTURED_DERIVATIVES and p.structured is not None:
        # Forward, then per output a backward pass to the probes (input gradients only); the
        # rules' Jacobians and Gram matrices are GEMMs.
        # Fallback leaves get per-sample weight gradients in the same backward passes.
        gemm, moved, peak = tile_cost(p.structured, na, nb, same, o, p.trace)
        moved = moved * p.itemsize + distinct * (1 + o) * act
        peak = peak * p.itemsize + max(na, nb) * held
        fallback = p.structured.fallback_params / max(p.params, 1)
        return TileCost(gemm, distinct * (1 + o), moved, peak, distinct * o * fallback)
    raise NTKInputError(f"no cost model for implementation {impl.value!r}")


def _plan(impl: Implementation, block: int, tile: TileCost, p: Problem, tiles: int) -> Plan:
    flops, cost = tiles * tile.flops(p.forward), tiles * tile.cost(p.forward, p.wgrad_conv_factor)
    return Plan(impl, block, flops, tile.peak_bytes, tiles * tile.bytes_moved, cost)


def plan_cost(impl: Implementation, p: Problem, block: int) -> Plan:
    """Total cost of `impl` when the kernel is computed in tiles of `block` samples."""
    n = max(p.n1, p.n2)
    if block >= n:
        return _plan(impl, n, _tile_cost(impl, p, p.n1, p.n2, p.symmetric), p, 1)
    tile = _tile_cost(impl, p, block, block, same=False)
    t1, t2 = math.ceil(p.n1 / block), math.ceil(p.n2 / block)
    tiles = t1 * (t1 + 1) // 2 if p.symmetric else t1 * t2
    full_kernel = t1 * t2 * block * block * (1 if p.trace else p.outputs**2) * p.itemsize
    tile = dataclasses.replace(tile, peak_bytes=tile.peak_bytes + 2 * full_kernel)
    return _plan(impl, block, tile, p, tiles)


def _largest_fitting(impl: Implementation, p: Problem, budget: int) -> Plan | None:
    block = max(p.n1, p.n2)
    while block >= 1:
        plan = plan_cost(impl, p, block)
        if plan.peak_bytes <= budget:
            return plan
        block = block // 2 if block > 1 else 0
    return None


def choose(
    p: Problem, candidates: tuple[Implementation, ...], budget: int, block: int | None
) -> Plan:
    """The cheapest plan among `candidates` that fits `budget` bytes.

    Args:
      p: the problem's sizes.
      candidates: implementations to consider.
      budget: peak memory allowed, in bytes.
      block: a tile size to use as given, or None to pick the largest that fits.

    Raises:
      NTKInputError: if no candidate fits the budget even one sample at a time.
    """
    if block is not None:
        return min((plan_cost(c, p, block) for c in candidates), key=lambda plan: plan.cost)
    plans = [plan for c in candidates if (plan := _largest_fitting(c, p, budget)) is not None]
    if not plans:
        smallest = min(plan_cost(c, p, 1).peak_bytes for c in candidates)
        raise NTKInputError(
            f"the NTK needs an estimated {smallest / 2**30:.2f} GiB even one sample at a time, "
            "over "
            f"the memory budget of {budget / 2**30:.2f} GiB (max_memory_bytes={budget}); raise "
            "max_memory_bytes, or use fewer outputs or a smaller model"
        )
    return min(plans, key=lambda plan: plan.cost)
