"""Binary ReLU activation codes, read off the jaxpr, and their Hamming distances.

A ReLU is any call of ``jax.nn.relu`` (which ``flax.linen.relu`` and ``nn.relu`` are), whether
inside a module method or a plain function: it appears in the jaxpr of the forward pass as a ``jit``
equation named ``relu``. The forward pass is re-evaluated equation by equation (inside `jax.jit`, so
this costs only tracing time), descending into the bodies of ``jit``, ``custom_jvp_call``,
``custom_vjp_call``, ``closed_call`` and ``remat`` equations, and the input of every ReLU is kept.
ReLUs inside ``scan``, ``while`` or ``cond`` bodies are not seen, nor ``jnp.maximum(x, 0)`` written
by hand (a ``max`` with zero is not a reliable sign of a ReLU: BatchNorm clips its variance that
way). A ReLU input without the batch axis (N, ...) in front is skipped.

Each ReLU is kept with the module scope it was called in (from the equations' name stacks, which
Flax fills with module paths). A masked supernet computes every op and weighs the unused ones by
zero; it says which are in use: each module holding ops sows ``{op submodule's name: weight}``
into the collection :data:`ACTIVE_COLLECTION` under the name :data:`ACTIVE_NAME`. The ReLUs
inside an op of weight zero are left out of the codes, so that a supernet's codes are those of the
network it selects.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.extend as jex
import jax.numpy as jnp
import numpy as np

from scorers._model import forward, init_variables, per_module_cache
from scorers.base import BatchNormScorer, Variables

ACTIVE_COLLECTION, ACTIVE_NAME = "active", "ops"
"""Where a supernet sows its ops' weights (see above)."""
_RELU = "relu"
_CALLS = {
    "jit": "jaxpr",
    "pjit": "jaxpr",
    "closed_call": "call_jaxpr",
    "custom_jvp_call": "call_jaxpr",
    "custom_vjp_call": "call_jaxpr",
    "remat2": "jaxpr",
    "checkpoint": "jaxpr",
}
"""Call-like primitives whose body takes exactly the equation's inputs, and the body's param."""


def _body(eqn: jex.core.JaxprEqn) -> jex.core.ClosedJaxpr | None:
    body = eqn.params.get(_CALLS.get(eqn.primitive.name, ""))
    if isinstance(body, jex.core.Jaxpr):
        body = jex.core.ClosedJaxpr(body, ())
    if isinstance(body, jex.core.ClosedJaxpr) and len(body.jaxpr.invars) == len(eqn.invars):
        return body
    return None


Scope = tuple[str, ...]
"""Names of nested scopes, outermost first: a name stack (for a Flax module, the root module's
name and then the module path), or the module path of an op (without the root's name)."""


def _scope(outer: Scope, eqn: jex.core.JaxprEqn) -> Scope:
    """The scope of `eqn`, whose name stack is relative to the body it is in, at `outer`."""
    inner = str(eqn.source_info.name_stack)
    return outer + tuple(name for name in inner.split("/") if name)


def _evaluate(
    jaxpr: jex.core.Jaxpr,
    consts: list[Any],
    args: list[Any],
    relu_inputs: list[tuple[Scope, jax.Array]],
    outer: Scope = (),
) -> list[Any]:
    """Evaluates `jaxpr`, appending the input of every ReLU, with the full name stack of its call
    (under the `outer` one), to `relu_inputs` in program order."""
    env: dict[jex.core.Var, Any] = {}

    def read(atom: Any) -> Any:
        return atom.val if isinstance(atom, jex.core.Literal) else env[atom]

    env.update(zip(jaxpr.constvars, consts, strict=True))
    env.update(zip(jaxpr.invars, args, strict=True))
    for eqn in jaxpr.eqns:
        inputs = [read(atom) for atom in eqn.invars]
        body = _body(eqn)
        if body is not None:
            is_relu = eqn.primitive.name in ("jit", "pjit") and eqn.params.get("name") == _RELU
            scope = _scope(outer, eqn)
            if is_relu:
                relu_inputs.append((scope, inputs[0]))
            inner: list[tuple[Scope, jax.Array]] = [] if is_relu else relu_inputs  # once
            outputs = _evaluate(body.jaxpr, list(body.consts), inputs, inner, scope)
        else:
            result = eqn.primitive.bind(*inputs, **eqn.primitive.get_bind_params(eqn.params))
            outputs = result if eqn.primitive.multiple_results else [result]
        env.update(zip(eqn.outvars, outputs, strict=True))
    return [read(atom) for atom in jaxpr.outvars]


def relu_inputs(fn: Callable[..., Any], *args: Any) -> list[tuple[Scope, jax.Array]]:
    """The input of every ReLU that ``fn(*args)`` calls, in program order, with the name stack of
    the call (for a Flax module: the root module's name, then the module path)."""
    closed = jax.make_jaxpr(fn)(*args)
    captured: list[tuple[Scope, jax.Array]] = []
    _evaluate(closed.jaxpr, list(closed.consts), jax.tree.leaves(args), captured)
    return captured


def op_weights(
    module: nn.Module, variables: Variables, x: jax.Array, *, train: bool
) -> dict[Scope, jax.Array]:
    """The weights that `module` sows into :data:`ACTIVE_COLLECTION`, by the scope of their op
    (empty for a module that sows none: a built network)."""
    mutable = [ACTIVE_COLLECTION, "batch_stats"] if train else [ACTIVE_COLLECTION]
    _, state = module.apply(variables, x, train=train, mutable=mutable)
    weights: dict[Scope, jax.Array] = {}

    def collect(tree: Any, scope: Scope) -> None:
        for name, value in tree.items():
            if name != ACTIVE_NAME:
                collect(value, (*scope, name))
                continue
            sown = value[-1] if isinstance(value, tuple) else value  # `sow` appends by default
            weights.update({(*scope, op): jnp.asarray(w) for op, w in sown.items()})

    collect(state.get(ACTIVE_COLLECTION, {}), ())
    return weights


def is_active(path: Scope, weights: dict[Scope, jax.Array]) -> jax.Array:
    """1.0 unless the module path `path` (no root name) is inside an op of weight zero in
    `weights` (from `op_weights`); a float32 scalar."""
    inside = [w for op, w in weights.items() if path[: len(op)] == op]
    return jnp.prod(jnp.stack([(w != 0).astype(jnp.float32) for w in inside] + [jnp.ones(())]))


def relu_codes(
    module: nn.Module, variables: Variables, x: jax.Array, *, train: bool
) -> list[tuple[jax.Array, jax.Array]]:
    """Binary codes of every ReLU: 1 where its input is positive.

    Args:
      module: a Flax linen module.
      variables: its variables.
      x: inputs ``(N, ...)``.
      train: BatchNorm on batch statistics (True) or running statistics.

    Returns:
      One pair per ReLU call: its codes, float32 ``(N, A_l)`` (its input per sample, flattened),
      and whether it is active, a float32 scalar: 0.0 inside an op that a supernet weighs by zero.
    """
    n = x.shape[0]
    weights = op_weights(module, variables, x, train=train)
    inputs = relu_inputs(lambda v, x: forward(module, v, x, train=train), variables, x)
    return [
        ((a > 0).reshape(n, -1).astype(jnp.float32), is_active(scope[1:], weights))
        for scope, a in inputs
        if a.ndim >= 1 and a.shape[0] == n
    ]


def hamming_distances(codes: jax.Array, units: jax.Array | None = None) -> jax.Array:
    """``(N, N)`` Hamming distances between the rows of binary `codes` ``(N, A)``, counting only
    the units where ``units: (A,)`` (0.0 or 1.0) is 1 if given.

    Exact while ``A < 2**24`` (float32 integers); zero exactly when two codes are equal.
    """
    highest = jax.lax.Precision.HIGHEST
    ones, zeros = codes, 1 - codes
    counted = ones if units is None else ones * units[None, :]
    return jnp.matmul(counted, zeros.T, precision=highest) + jnp.matmul(
        zeros, counted.T, precision=highest
    )


def joined_codes(
    module: nn.Module, variables: Variables, x: jax.Array, *, train: bool
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Every ReLU's codes side by side (see `relu_codes`).

    Returns:
      ``(codes, units, relus)``: float32 codes ``(N, A)`` of all `A` units; whether each unit is
      active, float32 ``(A,)`` (0.0 inside an op that a supernet weighs by zero); and the number
      of active ReLU calls, a float32 scalar.
    """
    codes = relu_codes(module, variables, x, train=train)
    joined = jnp.concatenate([jnp.zeros((x.shape[0], 0)), *(c for c, _ in codes)], axis=1)
    units = jnp.concatenate([jnp.zeros((0,)), *(jnp.full((c.shape[1],), a) for c, a in codes)])
    relus = jnp.sum(jnp.stack([a for _, a in codes] + [jnp.zeros(())]))
    return joined, units, relus


@per_module_cache
def code_distances(
    module: nn.Module, train: bool
) -> Callable[[Variables, jax.Array], tuple[jax.Array, jax.Array, jax.Array]]:
    """A compiled ``f(variables, x: (N, ...)) -> (distances, units, relus)`` for `module`.

    ``distances``: ``(N, N)`` Hamming distances of the samples' codes over the active ReLUs;
    ``units``: the code length `A` (active units); ``relus``: the number of active ReLU calls.
    """

    def f(variables: Variables, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        codes, units, relus = joined_codes(module, variables, x, train=train)
        return hamming_distances(codes, units), jnp.sum(units), relus

    return jax.jit(f)


@dataclasses.dataclass(frozen=True)
class CodeScorer(BatchNormScorer):
    """A score of the samples' ReLU codes, from their Hamming distances; subclasses `_value`.

    Extras: ``units`` (code length), ``relus`` (ReLU calls).
    """

    #: The codes of a masked supernet are those of the network it selects: the unselected ops'
    #: ReLUs are left out (the supernet sows each op's weight, see `ACTIVE_COLLECTION`), and the
    #: selected ones see the built network's values.
    mask_invariant: ClassVar[bool] = True

    def _score(
        self,
        module: nn.Module,
        variables: Variables | None,
        x: jax.Array,
        y: np.ndarray,
        key: jax.Array,
    ) -> tuple[float, dict[str, float]]:
        variables = init_variables(module, variables, x, key)
        distances, units, relus = code_distances(module, self.train)(variables, x)
        value = self._value(np.asarray(distances), int(units))
        return value, {"units": float(units), "relus": float(relus)}

    @abc.abstractmethod
    def _value(self, distances: np.ndarray, units: int) -> float:
        """The score from ``(N, N)`` Hamming distances over codes of length `units`."""
