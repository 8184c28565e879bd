"""Binary ReLU activation codes, read off the jaxpr, and their Hamming distances.

A ReLU is any call of ``jax.nn.relu`` (which ``flax.linen.relu`` and ``nn.relu`` are), whether
inside a module method or a plain function: it appears in the jaxpr of the forward pass as a ``jit``
equation named ``relu``. The forward pass is re-evaluated equation by equation (inside `jax.jit`, so
this costs only tracing time), descending into the bodies of ``jit``, ``custom_jvp_call``,
``custom_vjp_call``, ``closed_call`` and ``remat`` equations, and the input of every ReLU is kept.
ReLUs inside ``scan``, ``while`` or ``cond`` bodies are not seen, nor ``jnp.maximum(x, 0)`` written
by hand (a ``max`` with zero is not a reliable sign of a ReLU: BatchNorm clips its variance that
way). A ReLU input without the batch axis (N, ...) in front is skipped.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.extend as jex
import jax.numpy as jnp
import numpy as np

from scorers._model import forward, init_variables, per_module_cache
from scorers.base import BatchNormScorer, Variables

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


def _evaluate(
    jaxpr: jex.core.Jaxpr, consts: list[Any], args: list[Any], relu_inputs: list[jax.Array]
) -> list[Any]:
    """Evaluates `jaxpr`, appending the input of every ReLU to `relu_inputs` in program order."""
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
            if is_relu:
                relu_inputs.append(inputs[0])
            inner: list[jax.Array] = [] if is_relu else relu_inputs  # a relu wrapping relu: once
            outputs = _evaluate(body.jaxpr, list(body.consts), inputs, inner)
        else:
            result = eqn.primitive.bind(*inputs, **eqn.primitive.get_bind_params(eqn.params))
            outputs = result if eqn.primitive.multiple_results else [result]
        env.update(zip(eqn.outvars, outputs, strict=True))
    return [read(atom) for atom in jaxpr.outvars]


def relu_inputs(fn: Callable[..., Any], *args: Any) -> list[jax.Array]:
    """The inputs of every ReLU that ``fn(*args)`` calls, in program order."""
    closed = jax.make_jaxpr(fn)(*args)
    captured: list[jax.Array] = []
    _evaluate(closed.jaxpr, list(closed.consts), jax.tree.leaves(args), captured)
    return captured


def relu_codes(
    module: nn.Module, variables: Variables, x: jax.Array, *, train: bool
) -> list[jax.Array]:
    """Binary codes of every ReLU: 1 where its input is positive.

    Args:
      module: a Flax linen module.
      variables: its variables.
      x: inputs ``(N, ...)``.
      train: BatchNorm on batch statistics (True) or running statistics.

    Returns:
      One float32 array ``(N, A_l)`` per ReLU call (its input per sample, flattened).
    """
    n = x.shape[0]
    inputs = relu_inputs(lambda v, x: forward(module, v, x, train=train), variables, x)
    return [
        (a > 0).reshape(n, -1).astype(jnp.float32)
        for a in inputs
        if a.ndim >= 1 and a.shape[0] == n
    ]


def hamming_distances(codes: jax.Array) -> jax.Array:
    """``(N, N)`` Hamming distances between the rows of binary `codes` ``(N, A)``.

    Exact while ``A < 2**24`` (float32 integers); zero exactly when two codes are equal.
    """
    highest = jax.lax.Precision.HIGHEST
    ones, zeros = codes, 1 - codes
    return jnp.matmul(ones, zeros.T, precision=highest) + jnp.matmul(
        zeros, ones.T, precision=highest
    )


@per_module_cache
def code_distances(
    module: nn.Module, train: bool
) -> Callable[[Variables, jax.Array], tuple[jax.Array, jax.Array, jax.Array]]:
    """A compiled ``f(variables, x: (N, ...)) -> (distances, units, relus)`` for `module`.

    ``distances``: ``(N, N)`` Hamming distances of the samples' codes over all ReLUs; ``units``:
    the code length `A`; ``relus``: the number of ReLU calls.
    """

    def f(variables: Variables, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        codes = relu_codes(module, variables, x, train=train)
        joined = jnp.concatenate([jnp.zeros((x.shape[0], 0)), *codes], axis=1)
        return hamming_distances(joined), jnp.asarray(joined.shape[1]), jnp.asarray(len(codes))

    return jax.jit(f)


@dataclasses.dataclass(frozen=True)
class CodeScorer(BatchNormScorer):
    """A score of the samples' ReLU codes, from their Hamming distances; subclasses `_value`.

    Extras: ``units`` (code length), ``relus`` (ReLU calls).
    """

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
