"""The cost model behind ``implementation="auto"`` and the choice of block size.

Each implementation's FLOPs and peak memory are estimated from the problem's sizes and the cost of
one forward pass (Novak et al., 2022, Table 1), for the largest tile of samples that fits the memory
budget; the cheapest implementation that fits wins.
"""

from __future__ import annotations

import dataclasses
import math

from ntk_nas._ntk.cost import ForwardCost
from ntk_nas._ntk.errors import NTKInputError
from ntk_nas._ntk.implementations import Implementation


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
    """

    n1: int
    n2: int
    symmetric: bool
    outputs: int
    params: int
    itemsize: int
    trace: bool
    forward: ForwardCost


@dataclasses.dataclass(frozen=True)
class Plan:
    """An implementation, its tile size and its estimated cost."""

    implementation: Implementation
    block: int
    flops: float
    peak_bytes: float


def _tile_cost(
    impl: Implementation, p: Problem, na: int, nb: int, same: bool
) -> tuple[float, float]:
    """(FLOPs, peak bytes) of one call on ``na`` x ``nb`` samples."""
    o, fp, act = p.outputs, p.forward.flops, p.forward.activation_bytes
    kernel_bytes = na * nb * (1 if p.trace else o * o) * p.itemsize
    distinct = na + (0 if same else nb)
    if impl in (Implementation.JACOBIAN_CONTRACTION, Implementation.STRUCTURED_DERIVATIVES):
        flops = distinct * (1 + 2 * o) * fp + 2.0 * na * nb * o * (1 if p.trace else o) * p.params
        peak = distinct * o * p.params * p.itemsize + max(na, nb) * (1 + o) * act + kernel_bytes
        return flops, peak
    if impl is Implementation.NTK_VECTOR_PRODUCTS:
        flops = nb * (1 + 2 * o) * fp + 2.0 * nb * o * na * fp
        peak = nb * o * (p.params * p.itemsize + 2 * na * p.forward.largest_intermediate_bytes)
        return flops, peak + nb * act + kernel_bytes
    raise NTKInputError(f"no cost model for implementation {impl.value!r}")


def plan_cost(impl: Implementation, p: Problem, block: int) -> Plan:
    """Total cost of `impl` when the kernel is computed in tiles of `block` samples."""
    n = max(p.n1, p.n2)
    if block >= n:
        flops, peak = _tile_cost(impl, p, p.n1, p.n2, p.symmetric)
        return Plan(impl, n, flops, peak)
    flops, peak = _tile_cost(impl, p, block, block, same=False)
    t1, t2 = math.ceil(p.n1 / block), math.ceil(p.n2 / block)
    tiles = t1 * (t1 + 1) // 2 if p.symmetric else t1 * t2
    full_kernel = t1 * t2 * block * block * (1 if p.trace else p.outputs**2) * p.itemsize
    return Plan(impl, block, tiles * flops, peak + 2 * full_kernel)


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
        return min((plan_cost(c, p, block) for c in candidates), key=lambda plan: plan.flops)
    plans = [plan for c in candidates if (plan := _largest_fitting(c, p, budget)) is not None]
    if not plans:
        smallest = min(plan_cost(c, p, 1).peak_bytes for c in candidates)
        raise NTKInputError(
            f"the NTK needs an estimated {smallest / 2**30:.2f} GiB even one sample at a time, "
            "over "
            f"the memory budget of {budget / 2**30:.2f} GiB (max_memory_bytes={budget}); raise "
            "max_memory_bytes, or use fewer outputs or a smaller model"
        )
    return min(plans, key=lambda plan: plan.flops)
