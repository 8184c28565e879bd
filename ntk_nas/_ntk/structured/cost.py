"""The cost of structured derivatives, from the analysis of one sample (for ``auto``)."""

from __future__ import annotations

import dataclasses
import math

from ntk_nas._ntk.structured import forms
from ntk_nas._ntk.structured.kernel import FALLBACK, SHARED, Analysis


@dataclasses.dataclass(frozen=True)
class Group:
    """A cotangent group: its dot-form sizes and each member's ``C``."""

    b: int
    s: int
    f: int
    cs: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Summary:
    """What the cost of structured derivatives depends on, per sample.

    Attributes:
      groups: the cotangent groups of structured leaves.
      shared: for each shared leaf, the ``(B, S, C, F)`` of its uses and its size.
      fallback_params: parameters whose Jacobian is contracted.
      cotangent_elems: entries of all probed cotangents, per output.
      input_elems: entries of the rules' inputs (patches for convolutions).
    """

    groups: tuple[Group, ...]
    shared: tuple[tuple[tuple[tuple[int, int, int, int], ...], int], ...]
    fallback_params: int
    cotangent_elems: int
    input_elems: int


def summarise(analysis: Analysis, leaf_sizes: list[int]) -> Summary:
    groups = []
    for members in analysis.groups().values():
        layouts = [analysis.leaves[i].uses[u][1] for i, u in members]
        lay = layouts[0]
        groups.append(Group(lay.b, lay.s, lay.f, tuple(m.c for m in layouts)))
    shared = tuple(
        (tuple((lay.b, lay.s, lay.c, lay.f) for _, lay in plan.uses), leaf_sizes[i])
        for i, plan in enumerate(analysis.leaves)
        if plan.kind == SHARED
    )
    program = analysis.program
    cotangents = sum(
        math.prod(program.aval(program.eqns[e].outs[0]).shape) for e in analysis.probes
    )
    inputs = sum(lay.b * lay.s * lay.c for plan in analysis.leaves for _, lay in plan.uses)
    fallback = sum(leaf_sizes[i] for i, p in enumerate(analysis.leaves) if p.kind == FALLBACK)
    return Summary(tuple(groups), shared, fallback, cotangents, inputs)


def tile_cost(
    summary: Summary, na: int, nb: int, same: bool, o: int, trace: bool
) -> tuple[float, float, float]:
    """(GEMM FLOPs, elements moved, peak elements) of the rules on `na` x `nb` samples.

    The features pass (forward and ``O`` backward passes to the probes) is counted by the
    caller. Each group takes the cheaper of its two contractions (`forms`), as the kernel does.
    """
    distinct = na + (0 if same else nb)
    o_pairs = o if trace else o * o
    flops = 2.0 * na * nb * o_pairs * summary.fallback_params
    moved = 2.0 * distinct * (o * summary.fallback_params + summary.input_elems)
    peak = distinct * (o * (2.0 * summary.cotangent_elems + summary.fallback_params))
    peak += distinct * summary.input_elems
    largest = 0.0
    for group in summary.groups:
        pair, pair_peak = forms.pairwise_cost(
            na, nb, o, trace, group.b, group.s, group.f, list(group.cs)
        )
        size = group.b * sum(group.cs) * group.f
        build = 2.0 * distinct * o * group.b * group.s * sum(group.cs) * group.f
        jac = build + 2.0 * na * nb * o_pairs * size
        if pair < jac:
            flops += pair
            moved += pair_peak
            largest = max(largest, pair_peak)
        else:
            flops += jac
            moved += 2.0 * distinct * o * size
            peak += distinct * o * size
    for uses, size in summary.shared:
        flops += sum(2.0 * distinct * o * b * s * c * f for b, s, c, f in uses)
        flops += 2.0 * na * nb * o_pairs * size
        moved += 4.0 * distinct * o * size
        peak += distinct * o * size
    kernel = na * nb * (1 if trace else o * o)
    return flops, moved + kernel, peak + largest + kernel
