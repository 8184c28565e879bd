"""Zero-cost proxies: `grad_norm`, `snip`, `synflow` and `jacob_cov`.

Definitions follow the zero-cost-proxies paper and its released code (SamsungLabs/zero-cost-nas):
the gradient proxies sum over the weights of conv and dense layers only (Flax leaves named
``kernel``; no biases, no normalisation parameters); the loss is the mean cross-entropy of one
batch; BatchNorm runs on batch statistics (the network in training mode), except for synflow, which
removes BatchNorm as the released code does (``bn=False``).

References:
  Abdelfattah, Mehrotra, Dudziak, Lane. Zero-Cost Proxies for Lightweight NAS. ICLR 2021.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from scorers._model import (
    FlatParams,
    forward,
    init_variables,
    merge_params,
    per_module_cache,
    split_params,
)
from scorers.base import BaseScorer, BatchNormScorer, Direction, ScorerError, Variables

WEIGHTS = frozenset({"kernel"})
"""Flax's name for the weights of conv and dense layers."""

Saliency = Callable[[FlatParams, FlatParams], jax.Array]


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy of ``logits: (N, C)`` against integer ``labels: (N,)``."""
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None], axis=1))


def grad_norm_saliency(weights: FlatParams, grads: FlatParams) -> jax.Array:
    """``sum_l ||dL/dW_l||_2`` over weight tensors (the L2 norm of each layer's gradient)."""
    return sum((jnp.linalg.norm(g.ravel()) for g in grads.values()), jnp.zeros(()))


def snip_saliency(weights: FlatParams, grads: FlatParams) -> jax.Array:
    """``sum |dL/dW * W|`` over all weights (the gradient with respect to a unit mask)."""
    return sum((jnp.sum(jnp.abs(grads[k] * w)) for k, w in weights.items()), jnp.zeros(()))


def check_labels(y: np.ndarray) -> jax.Array:
    """Integer class labels ``(N,)`` as a device array; `ScorerError` otherwise."""
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
        raise ScorerError(
            f"labels y must be non-negative integers of shape (N,), got dtype {y.dtype} and "
            f"shape {y.shape}"
        )
    return jnp.asarray(y)


@per_module_cache
def _loss_saliency(
    module: nn.Module, train: bool, saliency: Saliency
) -> Callable[[Variables, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]:
    """Compiled ``f(variables, x, y) -> (saliency, number of classes)``."""

    def f(variables: Variables, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        split = split_params(variables, WEIGHTS)

        def loss(weights: FlatParams) -> tuple[jax.Array, int]:
            logits = forward(module, merge_params({**split, "params": weights}), x, train=train)
            if logits.ndim != 2:
                raise ScorerError(f"the model's output must be logits (N, C), got {logits.shape}")
            return cross_entropy(logits, y), logits.shape[1]

        grads, classes = jax.grad(loss, has_aux=True)(split["params"])
        return saliency(split["params"], grads), jnp.asarray(classes)

    return jax.jit(f)


@dataclasses.dataclass(frozen=True)
class _LossSaliency(BatchNormScorer):
    """A sum over weights of the cross-entropy's gradient; subclasses set `saliency`."""

    direction: ClassVar[Direction] = "maximize"

    @staticmethod
    @abc.abstractmethod
    def saliency(weights: FlatParams, grads: FlatParams) -> jax.Array:
        """The score from the weights and their gradients."""

    def _score(
        self,
        module: nn.Module,
        variables: Variables | None,
        x: jax.Array,
        y: np.ndarray,
        key: jax.Array,
    ) -> tuple[float, dict[str, float]]:
        labels = check_labels(y)
        variables = init_variables(module, variables, x, key)
        fn = _loss_saliency(module, self.train, self.saliency)
        value, classes = fn(variables, x, labels)
        if int(labels.max()) >= int(classes):
            raise ScorerError(
                f"labels reach {int(labels.max())} but the model has {classes} classes"
            )
        return float(value), {}


@dataclasses.dataclass(frozen=True)
class GradNorm(_LossSaliency):
    """grad_norm (higher is better): ``sum_l ||dL/dW_l||_2`` over conv/dense weights.

    References:
      Abdelfattah, Mehrotra, Dudziak, Lane. Zero-Cost Proxies for Lightweight NAS. ICLR 2021.
    """

    name: str = "grad_norm"
    saliency = staticmethod(grad_norm_saliency)


@dataclasses.dataclass(frozen=True)
class Snip(_LossSaliency):
    """snip (higher is better): ``sum |dL/dW * W|`` over conv/dense weights.

    References:
      Lee, Ajanthan, Torr. SNIP: Single-shot Network Pruning based on Connection Sensitivity.
      ICLR 2019. Abdelfattah et al. Zero-Cost Proxies for Lightweight NAS. ICLR 2021.
    """

    name: str = "snip"
    saliency = staticmethod(snip_saliency)


def _skip_batchnorm(next_fun: Callable[..., Any], args: Any, kwargs: Any, context: Any) -> Any:
    """A Flax method interceptor that makes every BatchNorm the identity."""
    if isinstance(context.module, nn.BatchNorm) and context.method_name == "__call__":
        return args[0]
    return next_fun(*args, **kwargs)


@per_module_cache
def _synflow(module: nn.Module) -> Callable[[Variables, jax.Array], jax.Array]:
    """Compiled ``f(variables, ones: (1, ...)) -> synflow`` (call it with x64 enabled)."""

    def f(variables: Variables, ones: jax.Array) -> jax.Array:
        positive = jax.tree.map(lambda a: jnp.abs(a).astype(jnp.float64), variables)
        split = split_params(positive, WEIGHTS)

        def total(weights: FlatParams) -> jax.Array:
            with nn.intercept_methods(_skip_batchnorm):
                out = forward(module, merge_params({**split, "params": weights}), ones, train=False)
            return jnp.sum(out)

        grads = jax.grad(total)(split["params"])
        return snip_saliency(split["params"], grads)

    return jax.jit(f)


@dataclasses.dataclass(frozen=True)
class Synflow(BaseScorer):
    """synflow (higher is better): ``sum |W * dR/dW|`` over conv/dense weights, data-free.

    ``R = sum f(1; |theta|)``: the output summed for an all-ones input of one sample, with every
    parameter replaced by its absolute value, BatchNorm removed (the identity) and everything in
    float64 (the released code's choices; float32 overflows on deep networks). The batch supplies
    only the input shape.

    References:
      Tanaka, Kunin, Yamins, Ganguli. Pruning neural networks without any data by iteratively
      conserving synaptic flow. NeurIPS 2020. Abdelfattah et al. Zero-Cost Proxies for
      Lightweight NAS. ICLR 2021.
    """

    direction: ClassVar[Direction] = "maximize"
    name: str = "synflow"

    def _score(
        self,
        module: nn.Module,
        variables: Variables | None,
        x: jax.Array,
        y: np.ndarray,
        key: jax.Array,
    ) -> tuple[float, dict[str, float]]:
        variables = init_variables(module, variables, x, key)
        with jax.enable_x64(True):
            value = _synflow(module)(variables, jnp.ones(x[:1].shape, jnp.float64))
            return float(value), {}


def jacob_cov_score(jacobian: np.ndarray, k: float = 1e-5) -> float:
    """``-sum_i (log(v_i + k) + 1 / (v_i + k))`` over the eigenvalues ``v`` of the correlation
    matrix of the rows of ``jacobian: (N, D)``.

    Returns ``-inf`` when a row is constant (its correlation is undefined; e.g. a dead network).
    Round-off negative eigenvalues are clipped to 0.
    """
    centred = np.asarray(jacobian, np.float64)
    centred = centred - centred.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    if not np.all(norms > 0):
        return -math.inf
    unit = centred / norms
    v = np.maximum(np.linalg.eigvalsh(unit @ unit.T), 0.0)
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


@per_module_cache
def _input_jacobian(module: nn.Module, train: bool) -> Callable[[Variables, jax.Array], jax.Array]:
    """Compiled ``f(variables, x: (N, ...)) -> (N, D)``: ``d sum(f(x)) / dx`` per sample."""

    def f(variables: Variables, x: jax.Array) -> jax.Array:
        grad = jax.grad(lambda x: jnp.sum(forward(module, variables, x, train=train)))(x)
        return grad.reshape(x.shape[0], -1)

    return jax.jit(f)


@dataclasses.dataclass(frozen=True)
class JacobCov(BatchNormScorer):
    """jacob_cov (higher is better): how uncorrelated the input gradients of the samples are.

    The Jacobian row of sample ``i`` is ``d sum_o f_o / d x_i`` (the gradient of the summed
    outputs of the whole batch, as the released code computes it, so with BatchNorm in training
    mode it includes the coupling through batch statistics); the score is `jacob_cov_score` of
    their correlation matrix with ``k = 1e-5``. This is the zero-cost-proxies paper's version
    (from the first version of Mellor et al.'s NASWOT paper), not NASWOT's final kernel.

    References:
      Mellor, Turner, Storkey, Crowley. Neural Architecture Search without Training. arXiv
      2006.04647v1, 2020. Abdelfattah et al. Zero-Cost Proxies for Lightweight NAS. ICLR 2021.
    """

    direction: ClassVar[Direction] = "maximize"
    name: str = "jacob_cov"

    def _score(
        self,
        module: nn.Module,
        variables: Variables | None,
        x: jax.Array,
        y: np.ndarray,
        key: jax.Array,
    ) -> tuple[float, dict[str, float]]:
        variables = init_variables(module, variables, x, key)
        jacobian = _input_jacobian(module, self.train)(variables, x)
        return jacob_cov_score(np.asarray(jacobian)), {}
