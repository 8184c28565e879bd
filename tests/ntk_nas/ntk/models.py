"""Small models of every kind the engine must handle, and a dense float64 NTK reference."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.flatten_util import ravel_pytree


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.gelu(nn.LayerNorm()(nn.Dense(16)(x)))
        x = jnp.tanh(nn.Dense(12)(x))
        return nn.Dense(3)(x)


class CNN(nn.Module):
    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.relu(nn.Conv(6, (3, 3), strides=(2, 2))(x))
        x = nn.relu(nn.Conv(8, (3, 3), padding="VALID")(x))
        x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        x = nn.max_pool(nn.Conv(8, (1, 1), feature_group_count=2)(x), (1, 1))
        return nn.Dense(4)(x.reshape(x.shape[0], -1))


class ResNet(nn.Module):
    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.Conv(4, (3, 3), use_bias=False)(x)
        y = nn.relu(nn.BatchNorm(use_running_average=True)(x))
        y = nn.Conv(4, (3, 3), use_bias=False)(y)
        y = nn.BatchNorm(use_running_average=True)(y)
        x = nn.relu(x + y)
        return nn.Dense(3)(jnp.mean(x, axis=(1, 2)))


class Attention(nn.Module):
    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.Dense(8)(x)
        x = x + nn.MultiHeadDotProductAttention(num_heads=2, qkv_features=8)(nn.LayerNorm()(x))
        return nn.Dense(2)(jnp.mean(x, axis=1))


class Depthwise(nn.Module):
    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.relu(nn.Conv(6, (3, 3))(x))
        x = nn.tanh(nn.Conv(6, (3, 3), strides=(2, 2), feature_group_count=6)(x))  # depthwise
        return nn.Dense(3)(jnp.mean(x, axis=(1, 2)))


class Shared(nn.Module):
    """One Dense applied twice (weight sharing) and a parameter used through `exp` (no rule)."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dense = nn.Dense(5)
        log_temperature = self.param("log_temperature", nn.initializers.constant(0.1), (5,))
        x = dense(jnp.tanh(dense(x)))
        return nn.Dense(2)(jnp.tanh(x * jnp.exp(log_temperature)[None]))


class NnxMLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.first = nnx.Linear(5, 7, rngs=rngs)
        self.norm = nnx.BatchNorm(7, use_running_average=True, rngs=rngs)
        self.last = nnx.Linear(7, 3, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.last(jnp.tanh(self.norm(self.first(x))))


def plain_function(params: dict[str, Any], x: jax.Array) -> jax.Array:
    """A function of a nested dict that also carries an integer leaf (never differentiated)."""
    hidden = jnp.sin(x @ params["layer"]["w"] + params["layer"]["b"][None])
    return (hidden @ params["head"]) * params["steps"]


def plain_params(key: jax.Array) -> dict[str, Any]:
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "layer": {"w": jax.random.normal(k1, (5, 6)), "b": jax.random.normal(k2, (6,))},
        "head": jax.random.normal(k3, (6, 2)),
        "steps": jnp.asarray(2, jnp.int32),
    }


LINEN_CASES: dict[str, tuple[nn.Module, tuple[int, ...]]] = {
    "mlp": (MLP(), (5,)),
    "cnn": (CNN(), (12, 12, 3)),
    "resnet": (ResNet(), (6, 6, 2)),
    "attention": (Attention(), (4, 3)),
    "depthwise": (Depthwise(), (6, 6, 3)),
    "shared": (Shared(), (5,)),
}


@functools.cache
def linen_case(name: str, n1: int = 4, n2: int = 3) -> tuple[Callable, Any, jax.Array, jax.Array]:
    """(f, variables, x1, x2) for a linen model; batch_stats get non-trivial values."""
    module, shape = LINEN_CASES[name]
    k1, k2, k3 = jax.random.split(jax.random.key(len(name)), 3)
    x1 = jax.random.normal(k1, (n1, *shape))
    x2 = jax.random.normal(k2, (n2, *shape))
    variables = jax.jit(module.init)(k3, x1)
    if "batch_stats" in variables:
        leaves, treedef = jax.tree_util.tree_flatten(variables["batch_stats"])
        keys = jax.random.split(k3, len(leaves))
        noisy = [
            leaf + 0.3 * jax.random.uniform(k, leaf.shape)
            for k, leaf in zip(keys, leaves, strict=True)
        ]
        variables = {**variables, "batch_stats": jax.tree_util.tree_unflatten(treedef, noisy)}
    return module.apply, variables, x1, x2


def reference_ntk(
    f: Callable, diff: Any, rebuild: Callable[[Any], Any], x1: jax.Array, x2: jax.Array, output: str
) -> np.ndarray:
    """Dense float64 NTK: `jax.jacfwd` on the flattened parameters, contracted directly."""
    with jax.enable_x64(True):
        to64 = lambda t: jax.tree_util.tree_map(
            lambda a: jnp.asarray(a, jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a,
            t,
        )
        flat, unravel = ravel_pytree(to64(diff))

        def outputs(theta: jax.Array, x: jax.Array) -> jax.Array:
            y = f(rebuild(unravel(theta)), to64(x)).reshape(x.shape[0], -1)
            return y.sum(axis=1, keepdims=True) if output == "sum_logits" else y

        jacobian = jax.jit(jax.jacfwd(outputs))
        j1, j2 = np.asarray(jacobian(flat, x1)), np.asarray(jacobian(flat, x2))
    full = np.einsum("nap,mbp->nmab", j1, j2)
    return full if output == "full" else np.trace(full, axis1=2, axis2=3)


@functools.cache
def linen_reference(name: str) -> np.ndarray:
    """The full float64 reference kernel of `linen_case(name)`, computed once per session."""
    f, variables, x1, x2 = linen_case(name)
    return reference_ntk(
        f, variables["params"], lambda p: {**variables, "params": p}, x1, x2, "full"
    )


def reduce_reference(full: np.ndarray, output: str) -> np.ndarray:
    """The `output` kernel from the full ``(N1, N2, O, O)`` one."""
    if output == "full":
        return full
    if output == "trace":
        return np.trace(full, axis1=2, axis2=3)
    return full.sum(axis=(2, 3))


def relative_error(result: jax.Array, reference: np.ndarray) -> float:
    diff = np.asarray(result, np.float64) - reference
    return float(np.linalg.norm(diff) / np.linalg.norm(reference))
