"""NTK-vector products: ``Theta v = J1 (J2^T v)`` for each basis cotangent ``v``, never forming `J`.

For every sample of `x2` and every output, one VJP of `h` gives a parameter-shaped tangent, and one
JVP of `h` on `x1` along it gives a column of the kernel. Cost (Novak et al., 2022): ``N2 O [VJP] +
N1 N2 O [FP]``; memory ``N2 O P`` plus the JVP's activations. Best when `P` is large relative to the
forward pass (dense layers, many outputs in the full kernel).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ntk_nas._ntk.jacobians import FlatFn, Leaves, per_sample


def ntk_vector_products(
    h: FlatFn,
    leaves: Leaves,
    x1: jax.Array,
    x2: jax.Array | None,
    *,
    trace: bool,
    independent: bool,
) -> jax.Array:
    """The empirical NTK of `h` by NTK-vector products (a `KernelImplementation`)."""
    x2 = x1 if x2 is None else x2

    def jvp_on_x1(tangent: Leaves) -> jax.Array:
        return jax.jvp(lambda p: h(p, x1), (leaves,), (tangent,))[1]  # (N1, O)

    if independent:
        h_one = per_sample(h)

        def columns_of_sample(x: jax.Array) -> jax.Array:
            out, pullback = jax.vjp(lambda p: h_one(p, x), leaves)
            basis = jnp.eye(out.shape[0], dtype=out.dtype)
            return jax.vmap(lambda v: jvp_on_x1(pullback(v)[0]))(basis)  # (O2, N1, O1)

        columns = jax.vmap(columns_of_sample)(x2)  # (N2, O2, N1, O1)
    else:
        out, pullback = jax.vjp(lambda p: h(p, x2), leaves)
        n2, o = out.shape
        basis = jnp.eye(n2 * o, dtype=out.dtype).reshape(n2 * o, n2, o)
        columns = jax.vmap(lambda v: jvp_on_x1(pullback(v)[0]))(basis).reshape(n2, o, -1, o)
    kernel = jnp.transpose(columns, (2, 0, 3, 1))  # (N1, N2, O1, O2)
    return jnp.trace(kernel, axis1=2, axis2=3) if trace else kernel
