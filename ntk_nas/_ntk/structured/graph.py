"""A flat view of a jaxpr, an interpreter that adds probes, and where each parameter is used.

`flatten` inlines nested ``jit`` / ``closed_call`` jaxprs so that every primitive a parameter
reaches is visible, and gives each value an integer id. `find_uses` follows a parameter through
*view* operations that do not change its values (no-op casts such as Flax's
``convert_element_type``, reshape, transpose, squeeze, broadcast) to the equations that really
consume it. `evaluate` runs the flat program, adding a zero "probe" to chosen equations' outputs
(differentiating w.r.t. a probe gives the cotangent of that intermediate value) and saving chosen
operands for the rules.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.extend as jex
import jax.numpy as jnp

_INLINED = frozenset({"jit", "pjit", "closed_call", "core_call"})
_VIEWS = frozenset(
    {
        "convert_element_type",
        "reshape",
        "transpose",
        "broadcast_in_dim",
        "squeeze",
        "copy",
        "copy_p",
    }
)


@dataclasses.dataclass(frozen=True)
class Const:
    """A literal or closed-over constant operand."""

    value: Any


Atom = int | Const


@dataclasses.dataclass(frozen=True, eq=False)
class Eqn:
    """One primitive application; operands are value ids or constants."""

    primitive: Any
    params: Mapping[str, Any]
    ins: tuple[Atom, ...]
    outs: tuple[int, ...]
    ctx: Any

    @property
    def name(self) -> str:
        return str(self.primitive.name)

    def bind(self, *args: Any) -> Any:
        params = self.primitive.get_bind_params(dict(self.params))
        manager = getattr(self.ctx, "manager", None)
        if manager is None:
            return self.primitive.bind(*args, **params)
        with manager:
            return self.primitive.bind(*args, **params)


@dataclasses.dataclass(frozen=True, eq=False)
class Program:
    """A jaxpr with nested calls inlined; `inputs` are the ids of its arguments, in order."""

    eqns: tuple[Eqn, ...]
    inputs: tuple[int, ...]
    outputs: tuple[Atom, ...]
    avals: Mapping[int, Any]

    def aval(self, atom: Atom) -> Any:
        if isinstance(atom, Const):
            return jax.typeof(atom.value)
        return self.avals[atom]


def flatten(closed: jex.core.ClosedJaxpr) -> Program:
    """Inlines every nested ``jit``/``closed_call`` of `closed` into one flat `Program`."""
    eqns: list[Eqn] = []
    avals: dict[int, Any] = {}
    counter = iter(range(1 << 62))

    def fresh(aval: Any) -> int:
        ident = next(counter)
        avals[ident] = aval
        return ident

    def walk(jaxpr: jex.core.Jaxpr, consts: Sequence[Atom], args: Sequence[Atom]) -> list[Atom]:
        env: dict[Any, Atom] = {}
        env.update(zip(jaxpr.constvars, consts, strict=True))
        env.update(zip(jaxpr.invars, args, strict=True))

        def read(v: Any) -> Atom:
            return Const(v.val) if isinstance(v, jex.core.Literal) else env[v]

        for eqn in jaxpr.eqns:
            ins = [read(v) for v in eqn.invars]
            name = eqn.primitive.name
            inner = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
            if name in _INLINED and inner is not None:
                if isinstance(inner, jex.core.ClosedJaxpr):
                    sub, sub_consts = inner.jaxpr, [Const(c) for c in inner.consts]
                else:
                    sub, sub_consts = inner, []
                outs = walk(sub, sub_consts, ins)
                env.update(zip(eqn.outvars, outs, strict=True))
                continue
            out_ids = tuple(fresh(v.aval) for v in eqn.outvars)
            env.update(zip(eqn.outvars, out_ids, strict=True))
            eqns.append(Eqn(eqn.primitive, eqn.params, tuple(ins), out_ids, eqn.ctx))
        return [read(v) for v in jaxpr.outvars]

    inputs = [fresh(v.aval) for v in closed.jaxpr.invars]
    outputs = walk(closed.jaxpr, [Const(c) for c in closed.consts], inputs)
    return Program(tuple(eqns), tuple(inputs), tuple(outputs), avals)


def evaluate(
    program: Program,
    args: Sequence[Any],
    probes: Mapping[int, jax.Array],
    save: Mapping[int, Sequence[int]],
) -> tuple[list[Any], dict[tuple[int, int], Any]]:
    """Runs `program` on `args`.

    Args:
      program: the flat program.
      args: one value per program input.
      probes: equation index -> array added to that equation's (single) output.
      save: equation index -> operand positions whose values are returned.

    Returns:
      ``(outputs, saved)`` with ``saved[(equation index, position)]`` the saved operands.
    """
    env: dict[int, Any] = dict(zip(program.inputs, args, strict=True))
    saved: dict[tuple[int, int], Any] = {}

    def read(atom: Atom) -> Any:
        return atom.value if isinstance(atom, Const) else env[atom]

    for index, eqn in enumerate(program.eqns):
        ins = [read(a) for a in eqn.ins]
        for position in save.get(index, ()):
            saved[(index, position)] = ins[position]
        out = eqn.bind(*ins)
        outs = list(out) if eqn.primitive.multiple_results else [out]
        if index in probes:
            outs[0] = outs[0] + probes[index]
        env.update(zip(eqn.outs, outs, strict=True))
    return [read(a) for a in program.outputs], saved


@dataclasses.dataclass(frozen=True)
class Use:
    """A parameter reaching operand `position` of equation `eqn` through view equations `chain`."""

    eqn: int
    position: int
    chain: tuple[int, ...]


def _is_view(eqn: Eqn, program: Program) -> bool:
    if eqn.name not in _VIEWS or len(eqn.ins) != 1 or len(eqn.outs) != 1:
        return False
    if eqn.name == "convert_element_type":
        before, after = program.aval(eqn.ins[0]).dtype, program.aval(eqn.outs[0]).dtype
        return bool(jnp.issubdtype(before, jnp.floating) and jnp.issubdtype(after, jnp.floating))
    return True


def consumers(program: Program) -> dict[int, list[tuple[int, int]]]:
    """Value id -> the (equation index, operand position) pairs that read it."""
    found: dict[int, list[tuple[int, int]]] = {}
    for index, eqn in enumerate(program.eqns):
        for position, atom in enumerate(eqn.ins):
            if not isinstance(atom, Const):
                found.setdefault(atom, []).append((index, position))
    return found


def find_uses(
    program: Program, value: int, readers: Mapping[int, list[tuple[int, int]]]
) -> list[Use] | None:
    """The non-view uses of `value`, or None if a view of it is an output of the program."""
    outputs = {a for a in program.outputs if not isinstance(a, Const)}
    uses: list[Use] = []
    stack: list[tuple[int, tuple[int, ...]]] = [(value, ())]
    while stack:
        current, chain = stack.pop()
        if current in outputs:
            return None
        for index, position in readers.get(current, ()):
            eqn = program.eqns[index]
            if _is_view(eqn, program):
                stack.append((eqn.outs[0], (*chain, index)))
            else:
                uses.append(Use(index, position, chain))
    return sorted(uses, key=lambda u: (u.eqn, u.position))


def chain_is_bijective(program: Program, use: Use) -> bool:
    """The chain only reorders values (no broadcast to a larger size)."""
    return all(
        math.prod(program.aval(program.eqns[i].ins[0]).shape)
        == math.prod(program.aval(program.eqns[i].outs[0]).shape)
        for i in use.chain
    )


def chain_fn(program: Program, use: Use) -> Callable[[jax.Array], jax.Array]:
    """The parameter -> operand map of `use` (its view equations applied in order)."""

    def apply(w: jax.Array) -> jax.Array:
        for index in use.chain:
            w = program.eqns[index].bind(w)
        return w

    return apply
