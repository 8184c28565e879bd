"""Turn Flax linen / nnx models and plain functions into `f(params, x)` with differentiable leaves.

The engine differentiates a pytree of floating-point leaves. This module decides which leaves those
are, and how to put the tree back together:

* A mapping with a top-level ``"params"`` entry (Flax linen variables) differentiates only that
  entry; other collections (``batch_stats``, ...) are held fixed.
* An ``nnx.Module`` is split into its graph definition and state; only ``nnx.Param`` variables are
  differentiated.
* In every case, integer and boolean leaves are never differentiated.
* Leaves stored in a floating type narrower than float32 (bfloat16, float16) are differentiated as
  float32 copies of the same values, so every implementation returns the same float32 kernel, to
  float32 accuracy; the model then sees float32 parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from ntk_nas._ntk.errors import NTKInputError

Params = Any
ApplyFn = Callable[[Params, jax.Array], jax.Array]

_LINEN_PARAMS = "params"


def from_nnx(module: nnx.Module) -> tuple[ApplyFn, Params]:
    """Splits an ``nnx.Module`` into a pure ``f(variables, x)`` and its variables.

    Args:
      module: an nnx module called as ``module(x)``.

    Returns:
      ``(f, variables)`` where ``variables = {"params": nnx.Param state, "rest": other state}``,
      so that only the ``nnx.Param`` leaves are differentiated.
    """
    graphdef, param_state, rest_state = nnx.split(module, nnx.Param, ...)  # type: ignore[misc]

    def apply(variables: Params, x: jax.Array) -> jax.Array:
        model = nnx.merge(graphdef, variables[_LINEN_PARAMS], variables["rest"])
        return model(x)

    return apply, {_LINEN_PARAMS: param_state, "rest": rest_state}


def _is_differentiable(leaf: Any) -> bool:
    return jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)


def _widened(leaf: Any) -> Any:
    """`leaf` in at least float32 (the same values): a bfloat16 or float16 leaf as float32."""
    dtype = jnp.result_type(leaf)
    wide = jnp.promote_types(dtype, jnp.float32)
    if wide == dtype:
        return leaf
    if isinstance(leaf, jax.ShapeDtypeStruct):
        return jax.ShapeDtypeStruct(leaf.shape, wide)
    return jnp.asarray(leaf, wide)


def partition(params: Params) -> tuple[list[jax.Array], Callable[[list[jax.Array]], Params]]:
    """Splits `params` into its differentiable leaves and a function that puts them back.

    Args:
      params: any pytree (Flax linen variables, nnx variables from `from_nnx`, a dict, ...).

    Returns:
      ``(leaves, combine)``: the differentiable leaves (in at least float32), and
      ``combine(new_leaves)`` that returns `params` with those leaves replaced. Pure and
      traceable: safe to call inside `jax.jit`.

    Raises:
      NTKInputError: if `params` has no differentiable (floating-point) leaf.
    """
    selected = params[_LINEN_PARAMS] if _has_params_collection(params) else params
    leaves, treedef = jax.tree_util.tree_flatten(selected)
    positions = [i for i, leaf in enumerate(leaves) if _is_differentiable(leaf)]
    if not positions:
        kinds = sorted({str(jnp.result_type(leaf)) for leaf in leaves}) or ["no leaves at all"]
        raise NTKInputError(
            "the model has no differentiable parameters: every parameter leaf is an integer or "
            f"boolean array (dtypes found: {', '.join(kinds)})"
        )

    def combine(new_leaves: list[jax.Array]) -> Params:
        merged = list(leaves)
        for position, leaf in zip(positions, new_leaves, strict=True):
            merged[position] = leaf
        rebuilt = jax.tree_util.tree_unflatten(treedef, merged)
        if selected is params:
            return rebuilt
        return {**params, _LINEN_PARAMS: rebuilt}

    return [_widened(leaves[i]) for i in positions], combine


def leaf_names(params: Params) -> list[str]:
    """The paths of the leaves that `partition` differentiates, in its order."""
    selected = params[_LINEN_PARAMS] if _has_params_collection(params) else params
    flat, _ = jax.tree_util.tree_flatten_with_path(selected)
    return ["/".join(_key_name(k) for k in path) for path, leaf in flat if _is_differentiable(leaf)]


def _key_name(key: Any) -> str:
    for attribute in ("key", "name", "idx"):
        if hasattr(key, attribute):
            return str(getattr(key, attribute))
    return str(key)


def _has_params_collection(params: Params) -> bool:
    return isinstance(params, Mapping) and _LINEN_PARAMS in params
