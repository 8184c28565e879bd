"""Structured derivatives: the NTK from each parameter's use, never through its full Jacobian.

1. `analyse` traces `h` on one sample (the whole batch when samples are coupled), flattens the
   jaxpr, and for every parameter leaf finds the equations that consume it (through no-op casts,
   reshapes, transposes and broadcasts). A leaf whose every use has a rule is *structured*; a leaf
   with an unsupported use (or that reaches the output through views only) *falls back* to its
   Jacobian.
2. `features` runs the program once per sample with a zero probe added to each structured use's
   output, and takes ``O`` VJPs (one per output) w.r.t. the probes and the fallback leaves: this
   gives the cotangents ``g`` of every use at once and the fallback leaves' Jacobians, plus the
   operands the rules need (saved from the same forward pass).
3. `contract` sums the kernel over leaves: uses that share a cotangent layout form a group that
   is contracted pairwise or through ``J``, whichever costs fewer FLOPs (see `forms`); a leaf used
   several times (weight sharing) or through a broadcast sums the Jacobians of its uses, mapped
   back through its views; fallback leaves contract their Jacobians.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Hashable
from typing import Any

import jax
import jax.numpy as jnp

from ntk_nas._ntk.jacobians import FlatFn, Leaves, per_sample
from ntk_nas._ntk.structured import forms, graph
from ntk_nas._ntk.structured.forms import Layout
from ntk_nas._ntk.structured.rules import RULES

STRUCTURED = "structured"
SHARED = "shared"
FALLBACK = "fallback"
UNUSED = "unused"


@dataclasses.dataclass(frozen=True, eq=False)
class LeafPlan:
    """How one leaf's kernel is computed.

    Attributes:
      kind: ``"structured"`` (one use, reached through a bijective view chain: it joins a
        cotangent group), ``"shared"`` (several uses or a broadcast view, all with rules: the
        Jacobians of its uses are summed), ``"fallback"`` (its Jacobian from the VJPs), or
        ``"unused"``.
      uses: the uses and their layouts (empty for fallback and unused leaves).
      reason: why a leaf falls back.
    """

    kind: str
    uses: tuple[tuple[graph.Use, Layout], ...]
    reason: str = ""

    @property
    def rule(self) -> str:
        if self.kind in (STRUCTURED, SHARED):
            names = "+".join(layout.rule for _, layout in self.uses)
            return names if self.kind == STRUCTURED else f"shared({names})"
        return f"{FALLBACK}: {self.reason}" if self.kind == FALLBACK else UNUSED


@dataclasses.dataclass(frozen=True, eq=False)
class Analysis:
    """The structure of ``h`` on one sample; see the module docstring."""

    program: graph.Program
    leaves: tuple[LeafPlan, ...]
    probes: tuple[int, ...]
    probe_of: dict[int, int]
    saves: dict[int, tuple[int, ...]]
    outputs: int

    def g_key(self, use: graph.Use, layout: Layout) -> Hashable:
        return (self.probe_of[use.eqn], layout.g_key)

    def groups(self) -> dict[Hashable, list[tuple[int, int]]]:
        """Cotangent key -> (leaf, use) of the structured leaves sharing it."""
        found: dict[Hashable, list[tuple[int, int]]] = {}
        for index, plan in enumerate(self.leaves):
            if plan.kind == STRUCTURED:
                use, layout = plan.uses[0]
                found.setdefault(self.g_key(use, layout), []).append((index, 0))
        return found

    def layout_of_key(self, key: Hashable) -> Layout:
        index, position = self.groups()[key][0]
        return self.leaves[index].uses[position][1]


def _plan_leaf(program: graph.Program, value: int, readers: dict) -> LeafPlan:
    uses = graph.find_uses(program, value, readers)
    if uses is None:
        return LeafPlan(FALLBACK, (), "a view of it is an output of f")
    if not uses:
        return LeafPlan(UNUSED, ())
    laid: list[tuple[graph.Use, Layout]] = []
    for use in uses:
        eqn = program.eqns[use.eqn]
        rule = RULES.get(eqn.name)
        layout = None if rule is None else rule(program, eqn, use.position)
        if layout is None:
            return LeafPlan(FALLBACK, (), f"used by {eqn.name} (operand {use.position})")
        laid.append((use, layout))
    single = len(laid) == 1 and graph.chain_is_bijective(program, laid[0][0])
    return LeafPlan(STRUCTURED if single else SHARED, tuple(laid))


def _aliases(program: graph.Program, probed: set[int], readers: dict) -> dict[int, int]:
    """Use equation -> the equation whose probe gives its cotangent.

    A use whose output is read only by a probed ``add`` (a bias) of the same shape has the same
    cotangent as that add's output, so the two share one probe (and a Dense kernel and its bias
    one cotangent group).
    """
    outputs = {a for a in program.outputs if not isinstance(a, graph.Const)}
    alias: dict[int, int] = {}
    for index in sorted(probed):
        out = program.eqns[index].outs[0]
        read = readers.get(out, [])
        if out in outputs or len(read) != 1:
            continue
        reader, position = read[0]
        eqn = program.eqns[reader]
        same_shape = program.aval(eqn.outs[0]).shape == program.aval(out).shape
        if (
            reader in probed
            and same_shape
            and (eqn.name == "add" or (eqn.name, position) == ("sub", 0))
        ):
            alias[index] = reader
    resolved: dict[int, int] = {}
    for index in probed:
        target = index
        while target in alias:
            target = alias[target]
        resolved[index] = target
    return resolved


def analyse(fn: Callable[[Leaves, jax.Array], jax.Array], leaves: Leaves, x: Any) -> Analysis:
    """Analyses ``fn(leaves, x) -> (O,)`` for one sample `x` (may be abstract)."""
    closed = jax.make_jaxpr(fn)(leaves, x)
    program = graph.flatten(closed)
    readers = graph.consumers(program)
    plans = tuple(_plan_leaf(program, program.inputs[i], readers) for i in range(len(leaves)))
    probed = {use.eqn for plan in plans for use, _ in plan.uses}
    saves: dict[int, set[int]] = {}
    for plan in plans:
        for use, layout in plan.uses:
            saves.setdefault(use.eqn, set()).update(layout.saves)
    probe_of = _aliases(program, probed, readers)
    (out_aval,) = [program.aval(a) for a in program.outputs]
    return Analysis(
        program=program,
        leaves=plans,
        probes=tuple(sorted(set(probe_of.values()))),
        probe_of=probe_of,
        saves={k: tuple(sorted(v)) for k, v in saves.items()},
        outputs=math.prod(out_aval.shape),
    )


Features = dict[Hashable, jax.Array]


def features(analysis: Analysis, fn_leaves: Leaves, xs: jax.Array) -> Features:
    """Per-sample cotangents, rule inputs and fallback Jacobians for the samples `xs`."""
    program = analysis.program
    fallback = [i for i, p in enumerate(analysis.leaves) if p.kind == FALLBACK]

    def one(x: jax.Array) -> Features:
        def run(probes: list[jax.Array], fb: list[jax.Array]):
            args = list(fn_leaves)
            for i, leaf in zip(fallback, fb, strict=True):
                args[i] = leaf
            probe_map = dict(zip(analysis.probes, probes, strict=True))
            outs, saved = graph.evaluate(program, [*args, x], probe_map, analysis.saves)
            return outs[0].reshape(-1), saved

        zeros = [
            jnp.zeros(
                program.aval(program.eqns[e].outs[0]).shape,
                program.aval(program.eqns[e].outs[0]).dtype,
            )
            for e in analysis.probes
        ]
        out, pullback, saved = jax.vjp(run, zeros, [fn_leaves[i] for i in fallback], has_aux=True)
        basis = jnp.eye(out.shape[0], dtype=out.dtype)
        g_probes, j_fallback = jax.vmap(pullback)(basis)
        g_of = dict(zip(analysis.probes, g_probes, strict=True))
        found: Features = {}
        for i, jac in zip(fallback, j_fallback, strict=True):
            found[("fallback", i)] = jac.reshape(jac.shape[0], -1)
        for i, plan in enumerate(analysis.leaves):
            for u, (use, layout) in enumerate(plan.uses):
                key = analysis.g_key(use, layout)
                if ("g", key) not in found:
                    found[("g", key)] = layout.g_fn(g_of[analysis.probe_of[use.eqn]])
                if layout.x_fn is not None:
                    operands = [saved[(use.eqn, p)] for p in layout.saves]
                    found[("x", i, u)] = layout.x_fn(*operands)
        return found

    return jax.vmap(one)(xs)


def _group_strategy(
    analysis: Analysis, key: Hashable, n1: int, n2: int, same: bool, trace: bool
) -> tuple[str, float]:
    """("pairwise" | "jacobian", FLOPs) for one cotangent group."""
    members = analysis.groups()[key]
    layouts = [analysis.leaves[i].uses[u][1] for i, u in members]
    lay, o = layouts[0], analysis.outputs
    pair, _ = forms.pairwise_cost(n1, n2, o, trace, lay.b, lay.s, lay.f, [m.c for m in layouts])
    build = sum(forms.jacobian_cost(n1 + (0 if same else n2), o, m) for m in layouts)
    jac = build + sum(forms.contraction_cost(n1, n2, o, trace, m.b * m.c * m.f) for m in layouts)
    return ("pairwise", pair) if pair < jac else ("jacobian", jac)


def _jacobian_of_leaf(
    analysis: Analysis, index: int, feats: Features, leaf: jax.Array
) -> jax.Array:
    """``(N, O, P_leaf)``: the Jacobian of a shared leaf, summed over its uses."""
    plan = analysis.leaves[index]
    total = None
    for u, (use, layout) in enumerate(plan.uses):
        g = feats[("g", analysis.g_key(use, layout))]
        j = forms.build_jacobian(feats.get(("x", index, u)), g)
        operand = jax.vmap(layout.j_to_operand)(j) * layout.sign  # (N, O, *W'.shape)
        _, transpose = jax.vjp(graph.chain_fn(analysis.program, use), leaf)
        mapped = jax.vmap(jax.vmap(lambda t, tr=transpose: tr(t)[0]))(operand)
        total = mapped if total is None else total + mapped
    assert total is not None
    return total.reshape(total.shape[0], total.shape[1], -1)


def contract(
    analysis: Analysis,
    leaves: Leaves,
    f1: Features,
    f2: Features | None,
    n1: int,
    n2: int,
    trace: bool,
    analysis2: Analysis | None = None,
) -> jax.Array:
    """The kernel ``(N1, N2[, O, O])`` from the features of both sides (`f2` None: `f1`).

    `analysis2` is the analysis of the second side when its shapes differ (coupled samples).
    """
    same = f2 is None
    f2 = f1 if f2 is None else f2
    analysis2 = analysis if analysis2 is None else analysis2
    terms: list[jax.Array] = []
    for key, members in analysis.groups().items():
        strategy, _ = _group_strategy(analysis, key, n1, n2, same, trace)
        g1, g2 = f1[("g", key)], f2[("g", key)]
        if strategy == "pairwise":
            xgram = None
            for i, u in members:
                x1, x2 = f1.get(("x", i, u)), f2.get(("x", i, u))
                part = forms.gram(x1, x2, g1.shape, g2.shape).astype(g1.dtype)
                xgram = part if xgram is None else xgram + part
            assert xgram is not None
            terms.append(forms.contract_pairwise(xgram, g1, g2, trace))
            continue
        for i, u in members:
            j1 = forms.build_jacobian(f1.get(("x", i, u)), g1)
            j2 = j1 if same else forms.build_jacobian(f2.get(("x", i, u)), g2)
            terms.append(forms.contract_jacobians(j1, j2, trace))
    for index, plan in enumerate(analysis.leaves):
        if plan.kind == SHARED:
            j1 = _jacobian_of_leaf(analysis, index, f1, leaves[index])
            j2 = j1 if same else _jacobian_of_leaf(analysis2, index, f2, leaves[index])
        elif plan.kind == FALLBACK:
            j1, j2 = f1[("fallback", index)], f2[("fallback", index)]
        else:
            continue
        terms.append(forms.contract_jacobians(j1, j2, trace))
    return sum(terms[1:], start=terms[0])


def structured_derivatives(
    h: FlatFn,
    leaves: Leaves,
    x1: jax.Array,
    x2: jax.Array | None,
    *,
    trace: bool,
    independent: bool,
) -> jax.Array:
    """The empirical NTK of `h` by structured derivatives.

    Args:
      h: ``(leaves, x: (N, ...)) -> (N, O)``.
      leaves: differentiable parameter leaves.
      x1: ``(N1, ...)`` inputs.
      x2: ``(N2, ...)`` inputs, or None for `x1`.
      trace: return the trace over outputs.
      independent: samples do not interact in `h`.

    Returns:
      ``(N1, N2)`` if `trace`, else ``(N1, N2, O, O)``.
    """
    if independent:
        fn, xs1, xs2 = per_sample(h), x1, x2
    else:
        fn = lambda p, x: h(p, x).reshape(-1)
        xs1, xs2 = x1[None], None if x2 is None else x2[None]
    analysis = analyse(fn, leaves, jax.ShapeDtypeStruct(xs1.shape[1:], xs1.dtype))
    f1 = features(analysis, leaves, xs1)
    if independent:
        f2 = None if xs2 is None else features(analysis, leaves, xs2)
        n2 = xs1.shape[0] if xs2 is None else xs2.shape[0]
        return contract(analysis, leaves, f1, f2, xs1.shape[0], n2, trace)
    # Coupled samples: each batch is one "sample" with N * O outputs.
    analysis2, f2 = analysis, None
    if xs2 is not None:
        analysis2 = analyse(fn, leaves, jax.ShapeDtypeStruct(xs2.shape[1:], xs2.dtype))
        f2 = features(analysis2, leaves, xs2)
    full = contract(analysis, leaves, f1, f2, 1, 1, False, analysis2)[0, 0]
    o = full.shape[0] // x1.shape[0]
    m = x1.shape[0] if x2 is None else x2.shape[0]
    kernel = jnp.transpose(full.reshape(x1.shape[0], o, m, o), (0, 2, 1, 3))
    return jnp.trace(kernel, axis1=2, axis2=3) if trace else kernel


def describe(h: FlatFn, leaves: Leaves, x: jax.Array, *, independent: bool) -> list[str]:
    """The rule each leaf takes (see `LeafPlan.rule`), in leaf order."""
    if independent:
        fn, sample = per_sample(h), jax.ShapeDtypeStruct(x.shape[1:], x.dtype)
    else:
        fn, sample = (lambda p, z: h(p, z).reshape(-1)), jax.ShapeDtypeStruct(x.shape, x.dtype)
    return [plan.rule for plan in analyse(fn, leaves, sample).leaves]
