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
PAIRWISE = "pairwise"
JACOBIAN = "jacobian"


def strategies(analysis: Analysis, n1: int, n2: int, same: bool, trace: bool) -> dict:
    """Cotangent group key -> ``"pairwise"`` or ``"jacobian"``, whichever needs fewer FLOPs."""
    chosen = {}
    o = analysis.outputs
    for key, members in analysis.groups().items():
        layouts = [analysis.leaves[i].uses[u][1] for i, u in members]
        lay = layouts[0]
        pair, _ = forms.pairwise_cost(n1, n2, o, trace, lay.b, lay.s, lay.f, [m.c for m in layouts])
        distinct = n1 + (0 if same else n2)
        jac = sum(
            forms.jacobian_cost(distinct, o, m)
            + forms.contraction_cost(n1, n2, o, trace, m.b * m.c * m.f)
            for m in layouts
        )
        chosen[key] = PAIRWISE if pair < jac else JACOBIAN
    return chosen


def features(
    analysis: Analysis, fn_leaves: Leaves, xs: jax.Array, chosen: dict[Hashable, str]
) -> Features:
    """What the contraction needs from the samples `xs`, computed per sample (vmapped).

    ``("g", key)``, ``("x", leaf, use)``: cotangents ``(N, O, B, S, F)`` and rule inputs
    ``(N, B, S, C)`` of pairwise groups; ``("j", key)``: ``J (N, B * C, O, F)`` of a Jacobian
    group (its members' ``C`` side by side); ``("leaf", leaf)``: ``J (N, 1, O, P)`` of a shared
    or fallback leaf. Jacobians are built in the per-sample function, so cotangents die early.
    """
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

        avals = [program.aval(program.eqns[e].outs[0]) for e in analysis.probes]
        zeros = [jnp.zeros(aval.shape, aval.dtype) for aval in avals]
        out, pullback, saved = jax.vjp(run, zeros, [fn_leaves[i] for i in fallback], has_aux=True)
        basis = jnp.eye(out.shape[0], dtype=out.dtype)
        g_probes, j_fallback = jax.vmap(pullback)(basis)
        g_of = dict(zip(analysis.probes, g_probes, strict=True))
        found: Features = {}
        g_forms: dict[Hashable, jax.Array] = {}

        def g_form(use: graph.Use, layout: Layout) -> jax.Array:
            key = analysis.g_key(use, layout)
            if key not in g_forms:
                g_forms[key] = layout.g_fn(g_of[analysis.probe_of[use.eqn]])
            return g_forms[key]

        def x_form(use: graph.Use, layout: Layout) -> jax.Array | None:
            if layout.x_fn is None:
                return None
            return layout.x_fn(*(saved[(use.eqn, p)] for p in layout.saves))

        for i, jac in zip(fallback, j_fallback, strict=True):
            found[("leaf", i)] = jac.reshape(1, jac.shape[0], -1)
        for key, members in analysis.groups().items():
            first_use, first_layout = analysis.leaves[members[0][0]].uses[0]
            g = g_form(first_use, first_layout)
            xs = [x_form(*analysis.leaves[i].uses[u]) for i, u in members]
            if chosen[key] == PAIRWISE:
                found[("g", key)] = g
                found.update(
                    {("x", i, u): x for (i, u), x in zip(members, xs, strict=True) if x is not None}
                )
            else:
                # One GEMM for the whole group: the members' inputs side by side (a bias is a
                # column of ones), so the cotangent is read once.
                found[("j", key)] = forms.build_jacobian(forms.concat_inputs(xs, g), g)
        for i, plan in enumerate(analysis.leaves):
            if plan.kind == SHARED:
                total = None
                for use, layout in plan.uses:
                    j = forms.build_jacobian(x_form(use, layout), g_form(use, layout))
                    operand = layout.j_to_operand(forms.jacobian_for_operand(j, layout.b))
                    _, transpose = jax.vjp(graph.chain_fn(program, use), fn_leaves[i])
                    mapped = jax.vmap(lambda t, tr=transpose: tr(t)[0])(operand * layout.sign)
                    total = mapped if total is None else total + mapped
                assert total is not None
                found[("leaf", i)] = total.reshape(1, total.shape[0], -1)
        return found

    return jax.vmap(one)(xs)


def contract(
    analysis: Analysis,
    f1: Features,
    f2: Features | None,
    chosen: dict[Hashable, str],
    trace: bool,
) -> jax.Array:
    """The kernel ``(N1, N2[, O, O])`` from the features of both sides (`f2` None: `f1`)."""
    f2 = f1 if f2 is None else f2
    terms: list[jax.Array] = []
    for key, members in analysis.groups().items():
        if chosen[key] == PAIRWISE:
            g1, g2 = f1[("g", key)], f2[("g", key)]
            xgram = None
            for i, u in members:
                x1, x2 = f1.get(("x", i, u)), f2.get(("x", i, u))
                part = forms.gram(x1, x2, g1.shape, g2.shape).astype(g1.dtype)
                xgram = part if xgram is None else xgram + part
            assert xgram is not None
            terms.append(forms.contract_pairwise(xgram, g1, g2, trace))
        else:
            terms.append(forms.contract_jacobians(f1[("j", key)], f2[("j", key)], trace))
    for index, plan in enumerate(analysis.leaves):
        if plan.kind in (SHARED, FALLBACK):
            terms.append(forms.contract_jacobians(f1[("leaf", index)], f2[("leaf", index)], trace))
    return sum(terms[1:], start=terms[0])


def structured_view(
    h: FlatFn, x: jax.Array, independent: bool
) -> tuple[Callable[[Leaves, jax.Array], jax.Array], jax.ShapeDtypeStruct]:
    """The function structured derivatives analyses, and its (abstract) sample: `h` on one
    sample, or on the whole batch `x` when samples are coupled."""
    if independent:
        return per_sample(h), jax.ShapeDtypeStruct(x.shape[1:], x.dtype)
    return (lambda p, z: h(p, z).reshape(-1)), jax.ShapeDtypeStruct(x.shape, x.dtype)


def structured_derivatives(
    h: FlatFn,
    leaves: Leaves,
    x1: jax.Array,
    x2: jax.Array | None,
    *,
    trace: bool,
    independent: bool,
) -> jax.Array:
    """The empirical NTK of `h` by structured derivatives (a `KernelImplementation`)."""
    if independent:
        fn, xs1, xs2 = per_sample(h), x1, x2
    else:
        fn = lambda p, x: h(p, x).reshape(-1)
        xs1, xs2 = x1[None], None if x2 is None else x2[None]
    analysis = analyse(fn, leaves, jax.ShapeDtypeStruct(xs1.shape[1:], xs1.dtype))
    n1, n2 = xs1.shape[0], xs1.shape[0] if xs2 is None else xs2.shape[0]
    chosen = strategies(analysis, n1, n2, xs2 is None, trace and independent)
    f1 = features(analysis, leaves, xs1, chosen)
    if independent:
        f2 = None if xs2 is None else features(analysis, leaves, xs2, chosen)
        return contract(analysis, f1, f2, chosen, trace)
    # Coupled samples: each batch is one "sample" with N * O outputs.
    f2 = None
    if xs2 is not None:
        analysis2 = analyse(fn, leaves, jax.ShapeDtypeStruct(xs2.shape[1:], xs2.dtype))
        f2 = features(analysis2, leaves, xs2, chosen)
    full = contract(analysis, f1, f2, chosen, False)[0, 0]
    o = full.shape[0] // x1.shape[0]
    m = x1.shape[0] if x2 is None else x2.shape[0]
    kernel = jnp.transpose(full.reshape(x1.shape[0], o, m, o), (0, 2, 1, 3))
    return jnp.trace(kernel, axis1=2, axis2=3) if trace else kernel


def describe(h: FlatFn, leaves: Leaves, x: jax.Array, *, independent: bool) -> list[str]:
    """The rule each leaf takes (see `LeafPlan.rule`), in leaf order."""
    fn, sample = structured_view(h, x, independent)
    return [plan.rule for plan in analyse(fn, leaves, sample).leaves]
