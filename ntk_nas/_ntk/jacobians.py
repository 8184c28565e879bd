"""The protocol every NTK implementation follows, and the per-sample views of `f` they share.

Every implementation works on ``h(leaves, x) -> (N, O)``: the model with its outputs flattened and
only its differentiable leaves as parameters. When samples are independent (no coupling through
the batch, e.g. no BatchNorm in training mode) a sample is pushed through `h` as a batch of one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import jax

Leaves = list[jax.Array]
FlatFn = Callable[[Leaves, jax.Array], jax.Array]


class KernelImplementation(Protocol):
    """One way of computing the empirical NTK of `h`."""

    def __call__(
        self,
        h: FlatFn,
        leaves: Leaves,
        x1: jax.Array,
        x2: jax.Array | None,
        *,
        trace: bool,
        independent: bool,
    ) -> jax.Array:
        """The empirical NTK ``J(x1) J(x2)^T`` of `h`.

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
        ...


def per_sample(h: FlatFn) -> Callable[[Leaves, jax.Array], jax.Array]:
    """``h`` on one sample: ``(leaves, x: (...)) -> (O,)``."""

    def h_one(leaves: Leaves, x: jax.Array) -> jax.Array:
        return h(leaves, x[None])[0]

    return h_one


def jacobian(h: FlatFn, leaves: Leaves, x: jax.Array, *, independent: bool) -> Leaves:
    """The Jacobian of ``h(leaves, x)`` as one array per leaf.

    Args:
      h: ``(leaves, x: (N, ...)) -> (N, O)``.
      leaves: differentiable parameter leaves, each of shape ``S_l``.
      x: ``(N, ...)`` inputs.
      independent: samples do not interact in `h`; take per-sample Jacobians with `vmap`.

    Returns:
      One array per leaf of shape ``(N, O, prod(S_l))``.
    """
    if independent:
        jac = jax.vmap(jax.jacrev(per_sample(h)), in_axes=(None, 0))(leaves, x)
    else:
        jac = jax.jacrev(h)(leaves, x)
    n, o = x.shape[0], jac[0].shape[1]
    return [j.reshape(n, o, -1) for j in jac]
