"""Tiny Flax models and batches for the scorer tests, and a dense float64 NTK reference."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util
from jax.flatten_util import ravel_pytree

from search_spaces import NB201Space


class MLP(nn.Module):
    """Dense -> BatchNorm -> relu -> Dense."""

    hidden: int = 12
    classes: int = 3

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = nn.Dense(self.hidden)(x)
        x = nn.BatchNorm(use_running_average=not train)(x)
        return nn.Dense(self.classes)(nn.relu(x))


class Scaled(nn.Module):
    """`inner`'s output times `factor`."""

    inner: nn.Module
    factor: float

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return self.factor * self.inner(x, train)


class ReluMLP(nn.Module):
    """Two relu layers, no normalisation: the codes can be worked out by hand."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = nn.relu(nn.Dense(4)(x))
        x = nn.relu(nn.Dense(3)(x))
        return nn.Dense(2)(x)


class Flat(nn.Module):
    """Logits flattened to one axis: not ``(N, C)``."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return nn.Dense(3)(x).reshape(-1)


class Linear(nn.Module):
    """One dense layer."""

    classes: int = 3

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return nn.Dense(self.classes)(x)


def batch(n: int = 8, features: int = 5, classes: int = 3, seed: int = 0) -> tuple[Any, Any]:
    """A float32 batch ``(x: (n, features), y: (n,))``."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, features)).astype(np.float32), np.arange(n) % classes


@dataclasses.dataclass(frozen=True)
class NB201Pair:
    """One NAS-Bench-201 cell built on its own and selected in the masked supernet (C=4, N=1,
    10 classes, 8x8x3 inputs), with a batch ``(x: (6, 8, 8, 3), labels: (6,))``."""

    built: nn.Module
    supernet: nn.Module
    mask: Any
    data: tuple[np.ndarray, np.ndarray]


def nb201_pair(arch: str) -> NB201Pair:
    """`NB201Pair` for the cell string `arch`."""
    space = NB201Space(input_shape=(8, 8, 3))
    sizes = {"C": 4, "N": 1, "num_classes": 10}
    masked, cell = space.masked(**sizes), space.from_str(arch)
    x = np.random.default_rng(2).normal(size=(6, 8, 8, 3)).astype(np.float32)
    return NB201Pair(
        space.build(cell, **sizes), masked.module, masked.select(cell), (x, np.arange(6) % 10)
    )


def init(module: nn.Module, x: np.ndarray, seed: int = 0) -> Any:
    return module.init(jax.random.key(seed), jnp.asarray(x[:1]))


def reference_ntk(
    module: nn.Module,
    variables: Any,
    x: np.ndarray,
    *,
    train: bool,
    output: str = "sum_logits",
    leaves: Collection[str] | None = None,
) -> np.ndarray:
    """``J J^T`` in float64 from `jax.jacfwd` of the flattened parameters named `leaves`.

    `train`: BatchNorm on batch statistics, differentiating through the whole batch at once.
    """
    with jax.enable_x64(True):
        v64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), variables)
        flat = traverse_util.flatten_dict(v64["params"])
        chosen = {path: a for path, a in flat.items() if leaves is None or path[-1] in leaves}
        theta, unravel = ravel_pytree(chosen)

        def f(theta: jax.Array) -> jax.Array:
            params = traverse_util.unflatten_dict({**flat, **unravel(theta)})
            new = {**v64, "params": params}
            x64 = jnp.asarray(x, jnp.float64)
            if train:
                out, _ = module.apply(new, x64, train=True, mutable=["batch_stats"])
            else:
                out = module.apply(new, x64, train=False)
            return out.reshape(x.shape[0], -1)

        jac = np.asarray(jax.jacfwd(f)(theta))  # (N, O, P)
    if output == "sum_logits":
        summed = jac.sum(axis=1)
        return summed @ summed.T
    return np.einsum("iop,jop->ij", jac, jac)


def condition(kernel: np.ndarray) -> float:
    eigs = np.linalg.eigvalsh(kernel)
    return float(eigs[-1] / eigs[0])
