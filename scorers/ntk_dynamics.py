"""Predicted training loss of the linearised network, from the NTK at initialisation.

Under gradient flow on ``L = 1/2 sum_n ||f(x_n) - y_n||^2`` the linearised network's outputs on the
training batch follow ``f_t = y + exp(-Theta t) (f_0 - y)`` (Jacot et al., 2018; Lee et al., 2019),
with ``Theta`` the NTK on that batch. The eigendecomposition of ``Theta`` gives the predicted loss
after any time without training. Time is measured in units of ``1 / lambda_max``, so that
architectures whose kernels differ only in scale compare at the same effective learning rate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import ClassVar, Literal, get_args

import flax.linen as nn
import jax
import numpy as np

import ntk_nas
from scorers._model import forward, init_variables, per_module_cache, with_batch_statistics
from scorers.base import BatchNormScorer, BNMode, Direction, ScorerError, Variables, check_choice
from scorers.ntk import condition_number

Kernel = Literal["trace", "full"]


def predicted_residual(kernel: np.ndarray, residual: np.ndarray, time: float) -> np.ndarray:
    """``exp(-Theta t) r_0`` for a symmetric PSD kernel.

    Args:
      kernel: ``(M, M)`` kernel, float64.
      residual: ``(M, K)`` initial residuals ``f_0 - y``.
      time: ``t`` in units of ``1 / lambda_max``.

    Returns:
      ``(M, K)`` residuals at time ``t``.
    """
    eigs, vectors = np.linalg.eigh((kernel + kernel.T) / 2)
    eigs = np.clip(eigs, 0.0, None)
    decay = np.exp(-time * eigs / max(eigs[-1], np.finfo(np.float64).tiny))
    return vectors @ (decay[:, None] * (vectors.T @ residual))


@per_module_cache
def _compiled(
    module: nn.Module, train: bool, kernel: Kernel
) -> tuple[Callable[[Variables, jax.Array], jax.Array], ntk_nas.NTKFunction]:
    """The jitted forward pass and the NTK function of `module`, built once per configuration."""

    def apply(variables: Variables, x: jax.Array) -> jax.Array:
        return forward(module, variables, x, train=train)

    kernel_fn = ntk_nas.empirical_ntk_fn(
        apply, output=kernel, independent_samples=not train, check_finite=False
    )
    return jax.jit(apply), kernel_fn


@dataclasses.dataclass(frozen=True)
class NTKDynamics(BatchNormScorer):
    """Predicted training loss after `time` of linearised gradient flow (lower is better).

    The loss is ``1/2 mean_n ||f_t(x_n) - onehot(y_n)||^2`` on the scoring batch. ``kernel="trace"``
    uses the approximation ``Theta ~ (Theta_trace / O) (x) I_O``; ``"full"`` the whole
    ``(N O, N O)`` kernel. Extras: ``initial_loss``, ``cond`` (of the kernel used), ``trace``.
    BatchNorm: ``bn`` as for the NTK scorers (default ``"decoupled"``).

    References:
      Jacot, Gabriel, Hongler. Neural Tangent Kernel. NeurIPS 2018. Lee et al. Wide Neural
      Networks of Any Depth Evolve as Linear Models Under Gradient Descent. NeurIPS 2019.
    """

    direction: ClassVar[Direction] = "minimize"
    mask_invariant: ClassVar[bool] = True
    function_only: ClassVar[bool] = True
    bn_modes: ClassVar[tuple[BNMode, ...]] = get_args(BNMode)
    bn: BNMode = "decoupled"
    name: str = "ntk_dynamics"
    time: float = 100.0
    kernel: Kernel = "trace"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("kernel", self.kernel, get_args(Kernel))
        if not self.time >= 0:
            raise ScorerError(f"time must be non-negative, got {self.time}")

    def _score(
        self,
        module: nn.Module,
        variables: Variables | None,
        x: jax.Array,
        y: np.ndarray,
        key: jax.Array,
    ) -> tuple[float, dict[str, float]]:
        variables = init_variables(module, variables, x, key)
        if self.bn == "decoupled":
            variables = with_batch_statistics(module, variables, x)
        apply, kernel_fn = _compiled(module, self.train, self.kernel)
        f0 = np.asarray(apply(variables, x), np.float64)
        n, outputs = f0.shape[0], f0.reshape(f0.shape[0], -1).shape[1]
        if y.min() < 0 or y.max() >= outputs:
            raise ScorerError(f"labels must lie in [0, {outputs}), got {y.min()}..{y.max()}")
        residual = f0.reshape(n, outputs) - np.eye(outputs)[y]
        theta = np.asarray(kernel_fn(variables, x), np.float64)
        if not np.isfinite(theta).all() or not np.isfinite(residual).all():
            return math.inf, {"initial_loss": math.nan, "cond": math.inf, "trace": math.nan}
        if self.kernel == "full":
            theta = theta.transpose(0, 2, 1, 3).reshape(n * outputs, n * outputs)
            final = predicted_residual(theta, residual.reshape(-1, 1), self.time)
        else:
            theta = theta / outputs
            final = predicted_residual(theta, residual, self.time)
        eigs = np.linalg.eigvalsh((theta + theta.T) / 2)
        extras = {
            "initial_loss": 0.5 * float(np.sum(residual**2)) / n,
            "cond": condition_number(eigs, float(np.finfo(np.float32).eps)),
            "trace": float(np.trace(theta)),
        }
        return 0.5 * float(np.sum(final**2)) / n, extras
