"""Per-sample views of `f` shared by the implementations.

Every implementation works on ``h(leaves, x) -> (N, O)``: the model with its outputs flattened and
only its differentiable leaves as parameters. When samples are independent (no coupling through
the batch, e.g. no BatchNorm in training mode) a sample is pushed through `h` as a batch of one.
"""

from __future__ import annotations

from collections.abc import Callable

import jax

Leaves = list[jax.Array]
FlatFn = Callable[[Leaves, jax.Array], jax.Array]


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
