"""Jacobian contraction: build ``J(x1)`` and ``J(x2)`` per leaf, then contract them.

Cost (Novak et al., 2022, Table 1): ``N O [FP]`` to build each Jacobian plus ``N1 N2 O^2 P`` to
contract them (``N1 N2 O P`` for the trace). Memory: ``(N1 + N2) O P`` for the Jacobians. Best when
the forward pass is expensive relative to the number of parameters (convolutions, weight sharing).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ntk_nas._ntk.jacobians import FlatFn, Leaves, jacobian


def contract(j1: Leaves, j2: Leaves, *, trace: bool) -> jax.Array:
    """Sums ``J1 J2^T`` over leaves.

    Args:
      j1: per-leaf Jacobians ``(N1, O, P_l)``.
      j2: per-leaf Jacobians ``(N2, O, P_l)``.
      trace: contract the output axes too.

    Returns:
      ``(N1, N2)`` if `trace`, else ``(N1, N2, O, O)``.
    """
    equation = "nap,map->nm" if trace else "nap,mbp->nmab"
    terms = [jnp.einsum(equation, a, b) for a, b in zip(j1, j2, strict=True)]
    return sum(terms[1:], start=terms[0])


def jacobian_contraction(
    h: FlatFn,
    leaves: Leaves,
    x1: jax.Array,
    x2: jax.Array | None,
    *,
    trace: bool,
    independent: bool,
) -> jax.Array:
    """The empirical NTK of `h` by Jacobian contraction (a `KernelImplementation`); with `x2`
    None, the Jacobian of `x1` is built once."""
    j1 = jacobian(h, leaves, x1, independent=independent)
    j2 = j1 if x2 is None else jacobian(h, leaves, x2, independent=independent)
    return contract(j1, j2, trace=trace)
