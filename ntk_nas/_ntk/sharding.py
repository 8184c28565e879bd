"""Rows of the kernel across devices: each device computes the kernel of its share of ``x1``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ntk_nas._ntk.errors import NTKInputError

MeshSpec = Mesh | Literal["local"] | None
KernelFn = Callable[[Any, jax.Array, jax.Array], jax.Array]


def resolve_mesh(mesh: MeshSpec) -> Mesh | None:
    """A mesh, ``"local"`` (every local device on one axis ``"samples"``) or None (no sharding).

    Raises:
      NTKInputError: for anything else.
    """
    if mesh is None or isinstance(mesh, Mesh):
        return mesh
    if mesh == "local":
        return jax.make_mesh((jax.local_device_count(),), ("samples",))
    raise NTKInputError(f"mesh must be a jax.sharding.Mesh, 'local' or None, got {mesh!r}")


def sharded_rows(
    kernel_fn: KernelFn, mesh: Mesh, params: Any, x1: jax.Array, x2: jax.Array
) -> jax.Array:
    """``kernel_fn(params, x1, x2)`` with the samples of `x1` split across every device of `mesh`.

    `x1` is padded (repeating its last sample) to a multiple of the device count, each device
    computes ``kernel_fn(params, its rows of x1, x2)``, and the padding rows are dropped; `params`
    and `x2` are replicated. Valid for models whose samples are independent.

    Returns:
      The kernel, ``(N1, N2, ...)``.
    """
    n1, devices = x1.shape[0], mesh.size
    padding = -n1 % devices
    if padding:
        x1 = jnp.concatenate([x1, jnp.broadcast_to(x1[-1:], (padding, *x1.shape[1:]))])
    rows, replicated = PartitionSpec(mesh.axis_names), PartitionSpec()
    specs = (replicated, rows, replicated)
    args = [
        jax.reshard(arg, NamedSharding(mesh, spec))
        for arg, spec in zip((params, x1, x2), specs, strict=True)
    ]
    # No collectives run inside, so the per-device kernel needs no varying-axis typing.
    sharded = jax.shard_map(kernel_fn, mesh=mesh, in_specs=specs, out_specs=rows, check_vma=False)
    return jax.reshard(sharded(*args), NamedSharding(mesh, replicated))[:n1]
