"""Scores from the spectrum of the empirical NTK at initialisation: `ntk_cond` (TE-NAS),
`ntk_trace` and `ntk_eig_spectrum`.

The ``N x N`` kernel of one batch is computed by the engine (`ntk_nas.empirical_ntk_fn`) for several
initialisations, or several architectures of one masked supernet (vmapped in one call on an
accelerator where the engine's memory plan allows it, one compiled program called for each on
CPU), and its eigenvalues are taken on the host in float64.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal, get_args

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import ntk_nas
from scorers._model import (
    Init,
    forward,
    init_variables,
    merge_params,
    needs_init,
    per_module_cache,
    split_params,
    with_batch_statistics,
)
from scorers.base import (
    BatchNormScorer,
    BNMode,
    Direction,
    ScorerError,
    Variables,
    check_choice,
)

Output = Literal["sum_logits", "trace"]
Aggregate = Literal["mean", "median"]
Preset = Literal["default", "tenas"]

TENAS_LEAVES = frozenset({"kernel", "scale"})
"""Flax's names for what PyTorch calls ``weight``: conv/dense kernels and normalisation scales."""

_IMPLEMENTATIONS = tuple(i.value for i in ntk_nas.Implementation)
_AGGREGATES: dict[str, Callable[[np.ndarray], float]] = {
    "mean": lambda v: float(np.mean(v)),
    "median": lambda v: float(np.median(v)),
}


FlatVariables = dict[tuple[str, ...], Any]


@dataclasses.dataclass(frozen=True)
class _Compiled:
    """The compiled pieces for one module and kernel definition.

    Attributes:
      kernel_fn: the engine's kernel function of ``(split params, x)``.
      kernel: ``(variables, x) -> (N, N)``, one kernel.
      kernels: ``(shared, stacked, x, chunk) -> (M, N, N)``: the kernels of the flat variables
        ``shared`` merged with each entry of ``stacked`` (leaves ``(M, ...)``), vmapped `chunk`
        at a time (None: one at a time, without vmap).
      leaves: the differentiated parameters' leaf names (None: all).
      parallel: memo of `_fits_in_parallel`.
      spread: memo of `_spread`, per tuple of devices.
    """

    kernel_fn: ntk_nas.NTKFunction
    kernel: Callable[[Variables, jax.Array], jax.Array]
    kernels: Callable[..., jax.Array]
    leaves: frozenset[str] | None
    parallel: dict[tuple[Any, ...], bool]
    spread: dict[tuple[jax.Device, ...], Callable[..., jax.Array]]

    def run(
        self,
        inits: Sequence[Variables],
        x: jax.Array,
        devices: Sequence[jax.Device] | None = None,
    ) -> np.ndarray:
        """The kernels ``(len(inits), N, N)`` of `inits` (variables of one structure).

        The leaves that are the same array in every entry (e.g. a masked supernet's parameters,
        shared by its masks) are passed once; only the others are stacked: vmapping over a
        parameter turns each convolution into a grouped one. With several `devices`, each
        computes one kernel at a time of its share (`_across`). Otherwise, on an accelerator
        they are vmapped in one call where they fit in memory at once, padded to a power of two
        so that few programs serve every count. Otherwise (and always on CPU) one compiled
        program runs them one at a time: on CPU a vmapped NTK was slower per kernel than the
        loop, with the parameters shared or not (8 NB201 masks, C=8, N=1, batch 16).
        """
        count = len(inits)
        spread = devices is not None and len(devices) > 1
        if count > 1 and (spread or jax.default_backend() != "cpu"):
            flats = [traverse_util.flatten_dict(v) for v in inits]
            varying = _varying(flats)
            if not varying:  # the same variables in every entry
                return np.repeat(np.asarray(self.kernel(inits[0], x))[None], count, axis=0)
            if spread:
                return self._across(flats, varying, x, tuple(devices or ()))
            size = 1 << (count - 1).bit_length()
            if self._fits_in_parallel(inits[0], x, size):
                padded = [*flats, *[flats[-1]] * (size - count)]
                shared, stacked = _shared_and_stacked(padded, varying)
                return np.asarray(self.kernels(shared, stacked, x, chunk=size))[:count]
        return np.stack([np.asarray(self.kernel(v, x)) for v in inits])

    def _across(
        self,
        flats: Sequence[FlatVariables],
        varying: Sequence[tuple[str, ...]],
        x: jax.Array,
        devices: tuple[jax.Device, ...],
    ) -> np.ndarray:
        """`run` with the kernels split across `devices`, each device looping over its share
        (padded to a power of two per device, so that few programs serve every count). Not
        vmapped: JAX 0.10 cannot batch a convolution's kernel under an output sharding."""
        count = len(flats)
        per_device = 1 << (-(-count // len(devices)) - 1).bit_length()
        padded = [*flats, *[flats[-1]] * (per_device * len(devices) - count)]
        shared, stacked = _shared_and_stacked(padded, varying)
        mesh = Mesh(np.array(devices), ("archs",))
        replicated, split = PartitionSpec(), PartitionSpec("archs")
        if devices not in self.spread:
            self.spread[devices] = jax.jit(
                jax.shard_map(
                    functools.partial(self.kernels, chunk=None),
                    mesh=mesh,
                    in_specs=(replicated, split, replicated),
                    out_specs=split,
                    check_vma=False,
                )
            )
        found = self.spread[devices](
            jax.device_put(shared, NamedSharding(mesh, replicated)),
            jax.device_put(stacked, NamedSharding(mesh, split)),
            jax.device_put(x, NamedSharding(mesh, replicated)),
        )
        return np.asarray(found)[:count]

    def _fits_in_parallel(self, variables: Variables, x: jax.Array, count: int) -> bool:
        """Whether `count` kernels fit in memory at once: the engine's plan for ``count * N``
        samples (more memory than `count` kernels of ``N``) needs no tiling."""
        key = (x.shape, x.dtype, count)
        if key not in self.parallel:
            split = split_params(variables, self.leaves)
            samples = jnp.zeros((count * x.shape[0], *x.shape[1:]), x.dtype)
            try:
                plan = self.kernel_fn.plan(split, samples)
            except ntk_nas.NTKInputError:  # a batch-coupled kernel over the memory budget
                self.parallel[key] = False
            else:
                self.parallel[key] = plan.block >= samples.shape[0]
        return self.parallel[key]


def _varying(flats: Sequence[FlatVariables]) -> list[tuple[str, ...]]:
    """The paths whose leaf is not the same array in every one of `flats`."""
    return [path for path, leaf in flats[0].items() if any(f[path] is not leaf for f in flats)]


def _shared_and_stacked(
    flats: Sequence[FlatVariables], varying: Sequence[tuple[str, ...]]
) -> tuple[FlatVariables, FlatVariables]:
    """``(shared, stacked)``: the leaves of `flats` outside `varying` (`_varying`), taken from
    the first, and those of `varying` stacked on a new leading axis ``(len(flats), ...)``."""
    stacked = set(varying)
    shared = {path: leaf for path, leaf in flats[0].items() if path not in stacked}
    return shared, _stack([{path: f[path] for path in varying} for f in flats])


@jax.jit
def _stack(variables: Sequence[Any]) -> Any:
    """Trees of one structure stacked leaf by leaf on a new leading axis, in one compiled
    call (eagerly, each leaf is a dispatch of its own: thousands per supernet)."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *variables)


@per_module_cache
def _compile(
    module: nn.Module,
    output: Output,
    train: bool,
    leaves: frozenset[str] | None,
    implementation: str,
    precision: str | None,
) -> _Compiled:
    def apply(split: dict[str, Any], x: jax.Array) -> jax.Array:
        return forward(module, merge_params(split), x, train=train)

    kernel_fn = ntk_nas.empirical_ntk_fn(
        apply,
        output=output,
        implementation=implementation,
        independent_samples=not train,
        check_finite=False,
        precision=precision,
    )

    def kernel(variables: Variables, x: jax.Array) -> jax.Array:
        return kernel_fn(split_params(variables, leaves), x)

    def kernels(
        shared: FlatVariables, stacked: FlatVariables, x: jax.Array, chunk: int | None
    ) -> jax.Array:
        def one(varying: FlatVariables) -> jax.Array:
            return kernel(traverse_util.unflatten_dict({**shared, **varying}), x)

        return jax.lax.map(one, stacked, batch_size=chunk)

    return _Compiled(
        kernel_fn=kernel_fn,
        kernel=jax.jit(kernel),
        kernels=jax.jit(kernels, static_argnames="chunk"),
        leaves=leaves,
        parallel={},
        spread={},
    )


def ntk_kernels(
    module: nn.Module,
    variables: Variables | None,
    x: jax.Array,
    key: jax.Array,
    *,
    output: Output = "sum_logits",
    bn: BNMode = "train",
    leaves: frozenset[str] | None = None,
    repeats: int = 1,
    implementation: str = "auto",
    precision: str | None = "float32",
    devices: Sequence[jax.Device] | None = None,
    init: Init = "model",
) -> np.ndarray:
    """Empirical NTKs of `module` on one batch, one per initialisation.

    Args:
      module: a Flax linen module called as ``module.apply(variables, x, train=...)``.
      variables: its variables (then ``repeats`` is 1); or None, or collections without
        ``"params"`` (e.g. a masked supernet's op mask), to initialise the parameters `repeats`
        times from ``jax.random.split(key, repeats)``.
      x: inputs ``(N, ...)``.
      key: PRNG key for the initialisations.
      output: ``"sum_logits"``: the NTK of ``sum_o f_o``; ``"trace"``: summed over outputs.
      bn: BatchNorm on batch statistics (``"train"``: the exact NTK of the batch-coupled
        network), on batch statistics held constant (``"decoupled"``: per-sample gradients), or
        on running statistics (``"eval"``).
      leaves: differentiate only the parameters with these leaf names (None: all).
      repeats: initialisations when `variables` holds no parameters.
      implementation: the engine's implementation (``"auto"``, ``"jacobian_contraction"``,
        ``"ntk_vector_products"``, ``"structured_derivatives"``).
      precision: the engine's precision of float32 matrix products and convolutions
        (``ntk_nas.PRECISIONS``; ``"tensorfloat32"`` uses a GPU's tensor cores).
      devices: spread the initialisations over these devices, one kernel per device at a time.
      init: the initialisers of the parameters it initialises (`scorers._model.Init`).

    Returns:
      ``(R, N, N)`` kernels in the engine's dtype (float32 unless x64 is enabled), R = 1 when
      `variables` holds parameters, else `repeats`.

    Raises:
      ScorerError: if the engine rejects the model or the batch.
    """
    return ntk_kernels_many(
        module,
        [variables],
        x,
        key,
        output=output,
        bn=bn,
        leaves=leaves,
        repeats=repeats,
        implementation=implementation,
        precision=precision,
        devices=devices,
        init=init,
    )[0]


def ntk_kernels_many(
    module: nn.Module,
    variables: Sequence[Variables | None],
    x: jax.Array,
    key: jax.Array,
    *,
    output: Output = "sum_logits",
    bn: BNMode = "train",
    leaves: frozenset[str] | None = None,
    repeats: int = 1,
    implementation: str = "auto",
    precision: str | None = "float32",
    devices: Sequence[jax.Device] | None = None,
    init: Init = "model",
) -> np.ndarray:
    """`ntk_kernels` for each entry of `variables` (e.g. many op masks of one masked supernet),
    batched where that pays, or spread over `devices`, one kernel per device at a time (see
    `_Compiled.run`).

    All entries must have the same structure (the same module and collections). Every entry
    without parameters is initialised from the same keys, so masks of one supernet share them.

    Returns:
      ``(M, R, N, N)`` kernels for M entries (see `ntk_kernels` for R).
    """
    compiled = _compile(module, output, bn == "train", leaves, implementation, precision)
    try:
        count = repeats if needs_init(variables[0]) else 1
        keys = jax.random.split(key, count)
        inits = [init_variables(module, v, x, k, init) for v in variables for k in keys]
        if bn == "decoupled":
            inits = [with_batch_statistics(module, v, x) for v in inits]
        found = compiled.run(inits, x, devices)
        return found.reshape(len(variables), count, *found.shape[1:])
    except ntk_nas.NTKInputError as error:
        raise ScorerError(f"the NTK engine rejected the model or batch: {error}") from error


def eigenvalues(kernel: np.ndarray) -> np.ndarray | None:
    """Ascending eigenvalues ``(N,)`` of a symmetric kernel ``(N, N)``, in float64 on the host;
    None when the kernel holds NaN or inf."""
    k = np.asarray(kernel, np.float64)
    if not np.isfinite(k).all():
        return None
    return np.linalg.eigvalsh((k + k.T) / 2)


def condition_number(eigs: np.ndarray, eps: float, degenerate: float = math.inf) -> float:
    """``lambda_max / lambda_min`` of a positive semi-definite kernel.

    Args:
      eigs: ascending eigenvalues ``(N,)``.
      eps: the machine epsilon of the kernel's dtype.
      degenerate: the value for an all-zero kernel (0 / 0).

    Returns:
      The condition number; ``inf`` when ``lambda_min <= lambda_max * N * eps`` (singular up to
      round-off, which also covers round-off making ``lambda_min`` negative).
    """
    lambda_min, lambda_max = float(eigs[0]), float(eigs[-1])
    if lambda_max <= 0:
        return degenerate
    if lambda_min <= lambda_max * eigs.size * eps:
        return math.inf
    return lambda_max / lambda_min


def ntk_cost(
    module: nn.Module,
    variables: Variables | None,
    x: jax.Array | jax.ShapeDtypeStruct,
    *,
    output: Output = "sum_logits",
    bn: BNMode = "train",
    leaves: frozenset[str] | None = None,
    implementation: str = "auto",
    precision: str | None = "float32",
) -> float:
    """The engine's estimated cost of one empirical NTK of `module` on `x`, in its units (GEMM
    FLOPs; ``ntk_nas`` ``Plan.cost``), for the arguments of `ntk_kernels`.

    Only shapes are used: parameters missing from `variables` are taken from the shapes that
    ``module.init`` would give, and nothing is computed.
    """
    compiled = _compile(module, output, bn == "train", leaves, implementation, precision)
    full = variables
    if full is None or needs_init(full):
        initial = jax.eval_shape(lambda key, x: module.init(key, x[:1]), jax.random.key(0), x)
        full = {**initial, **(variables or {})}
    plan = compiled.kernel_fn.plan(
        split_params(full, leaves), jax.ShapeDtypeStruct(x.shape, x.dtype)
    )
    return plan.cost


@dataclasses.dataclass(frozen=True)
class _NTKScorer(BatchNormScorer):
    """Computes the kernels and aggregates per-initialisation summaries; subclasses `_summary`.

    Attributes:
      output: ``"sum_logits"`` (the NTK of the sum of logits, as TE-NAS) or ``"trace"``.
      repeats: initialisations averaged when `variables` is None.
      aggregate: ``"mean"`` or ``"median"`` over the initialisations.
      bn: ``"decoupled"`` (default: BatchNorm on the batch's statistics held constant, so the
        samples' gradients are independent), ``"train"`` (batch statistics differentiated
        through: the exact NTK of the batch-coupled network, as TE-NAS) or ``"eval"`` (running
        statistics). On 300 NAS-Bench-201 cells (README) ``decoupled`` ranked nearly as well as
        ``train`` at a twentieth of its cost per cell, and better than ``eval``.
      leaves: leaf names of the differentiated parameters (None: all parameters).
      implementation: the engine's implementation.
      precision: the engine's precision of float32 matrix products and convolutions
        (``"float32"``: full float32 on every backend; ``"tensorfloat32"``: a GPU's tensor
        cores, faster and less exact).
      init: ``"model"`` (the model's initialisers) or ``"kaiming_fan_out"`` (kernels redrawn
        from PyTorch's Kaiming-normal fan-out, as TE-NAS does) for the parameters it initialises.
    """

    mask_invariant: ClassVar[bool] = True
    function_only: ClassVar[bool] = True
    bn_modes: ClassVar[tuple[BNMode, ...]] = get_args(BNMode)
    bn: BNMode = "decoupled"
    output: Output = "sum_logits"
    repeats: int = 3
    aggregate: Aggregate = "median"
    leaves: frozenset[str] | None = None
    implementation: str = "auto"
    precision: str | None = "float32"
    init: Init = "model"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("output", self.output, get_args(Output))
        check_choice("init", self.init, get_args(Init))
        check_choice("aggregate", self.aggregate, get_args(Aggregate))
        check_choice("implementation", self.implementation, _IMPLEMENTATIONS)
        check_choice("precision", self.precision, ntk_nas.PRECISIONS)
        if self.repeats < 1:
            raise ScorerError(f"repeats must be a positive integer, got {self.repeats}")
        if self.leaves is not None:
            object.__setattr__(self, "leaves", frozenset(self.leaves))

    def _score(
        self,
        module: nn.Module,
        variables: Variables | None,
        x: jax.Array,
        y: np.ndarray,
        key: jax.Array,
    ) -> tuple[float, dict[str, float]]:
        return self._score_many(module, [variables], x, y, key, None)[0]

    def _score_many(
        self,
        module: nn.Module,
        variables: Sequence[Variables | None],
        x: jax.Array,
        y: np.ndarray,
        key: jax.Array,
        devices: Sequence[jax.Device] | None,
    ) -> list[tuple[float, dict[str, float]]]:
        kernels = ntk_kernels_many(
            module,
            variables,
            x,
            key,
            repeats=self.repeats,
            devices=devices,
            init=self.init,
            **self._kernel_options,
        )
        return [self._aggregate(k) for k in kernels]

    @property
    def _kernel_options(self) -> dict[str, Any]:
        """The options of `ntk_kernels` and `ntk_cost` that this scorer sets."""
        return {
            "output": self.output,
            "bn": self.bn,
            "leaves": self.leaves,
            "implementation": self.implementation,
            "precision": self.precision,
        }

    def estimated_cost(
        self, module: nn.Module, variables: Variables | None, x: jax.Array | jax.ShapeDtypeStruct
    ) -> float:
        """The engine's estimated cost of this scorer's kernels of `module` on `x` (`ntk_cost`
        times `repeats` where `variables` leaves the parameters to be initialised)."""
        count = self.repeats if needs_init(variables) else 1
        return count * ntk_cost(module, variables, x, **self._kernel_options)

    def _aggregate(self, kernels: np.ndarray) -> tuple[float, dict[str, float]]:
        """``(value, extras)`` from one architecture's kernels ``(R, N, N)``."""
        summaries = [self._summary(k) for k in kernels]
        combine = _AGGREGATES[self.aggregate]
        aggregated = {
            name: combine(np.array([s[name] for s in summaries])) for name in summaries[0]
        }
        value = aggregated.pop("value")
        return value, self._finish(value, aggregated)

    @abc.abstractmethod
    def _summary(self, kernel: np.ndarray) -> dict[str, float]:
        """``{"value": ..., extras...}`` of one kernel ``(N, N)``."""

    def _finish(self, value: float, extras: dict[str, float]) -> dict[str, float]:
        """Extras derived from the aggregated value."""
        return extras


@dataclasses.dataclass(frozen=True)
class NTKCond(_NTKScorer):
    """Condition number ``lambda_max / lambda_min`` of the NTK at initialisation (lower is better).

    Extras: ``lambda_max``, ``lambda_min``, ``trace`` (aggregated like the value) and
    ``log10_cond``. A kernel singular up to round-off scores ``inf`` (the worst rank); so does a
    kernel with NaN or inf, or an all-zero one (`degenerate`; TE-NAS's 0 / 0 gives NaN there,
    which it maps to 1e5). Build it with `ntk_cond` for the presets.

    References:
      Chen, Gong, Wang. Neural Architecture Search on ImageNet in Four GPU Hours: A Theoretically
      Inspired Perspective (TE-NAS). ICLR 2021.
    """

    direction: ClassVar[Direction] = "minimize"
    name: str = "ntk_cond"
    degenerate: float = math.inf

    def _summary(self, kernel: np.ndarray) -> dict[str, float]:
        eigs = eigenvalues(kernel)
        if eigs is None:
            nan = math.nan
            return {"value": self.degenerate, "lambda_max": nan, "lambda_min": nan, "trace": nan}
        eps = float(np.finfo(kernel.dtype).eps)
        return {
            "value": condition_number(eigs, eps, self.degenerate),
            "lambda_max": float(eigs[-1]),
            "lambda_min": float(eigs[0]),
            "trace": float(eigs.sum()),
        }

    def _finish(self, value: float, extras: dict[str, float]) -> dict[str, float]:
        return {**extras, "log10_cond": math.log10(value) if value > 0 else math.inf}


@dataclasses.dataclass(frozen=True)
class NTKTrace(_NTKScorer):
    """Trace of the NTK at initialisation (higher is better), or ``trace / N`` with `normalize`.

    Extras: ``trace`` and ``trace_per_sample``. A kernel with NaN or inf scores ``-inf``.

    References:
      Shu, Cai, Dai, Ooi, Low. NASI: Label- and Data-agnostic Neural Architecture Search at
      Initialization. ICLR 2022.
    """

    direction: ClassVar[Direction] = "maximize"
    name: str = "ntk_trace"
    normalize: bool = False

    def _summary(self, kernel: np.ndarray) -> dict[str, float]:
        k = np.asarray(kernel, np.float64)
        trace = float(np.trace(k)) if np.isfinite(k).all() else math.nan
        per_sample = trace / k.shape[0]
        return {
            "value": per_sample if self.normalize else trace,
            "trace": trace,
            "trace_per_sample": per_sample,
        }


@dataclasses.dataclass(frozen=True)
class NTKEigSpectrum(_NTKScorer):
    """The top `top_k` eigenvalues of the NTK at initialisation, for analysis.

    The value is ``lambda_max`` (direction "maximize" only to satisfy the interface); extras
    ``eig_1`` >= ``eig_2`` >= ... (each aggregated over initialisations; NaN beyond N or for a
    kernel with NaN or inf).

    References:
      Jacot, Gabriel, Hongler. Neural Tangent Kernel: Convergence and Generalization in Neural
      Networks. NeurIPS 2018.
    """

    direction: ClassVar[Direction] = "maximize"
    name: str = "ntk_eig_spectrum"
    top_k: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.top_k < 1:
            raise ScorerError(f"top_k must be a positive integer, got {self.top_k}")

    def _summary(self, kernel: np.ndarray) -> dict[str, float]:
        top = np.full(self.top_k, math.nan)
        eigs = eigenvalues(kernel)
        if eigs is not None:
            descending = eigs[::-1][: self.top_k]
            top[: descending.size] = descending
        named = {f"eig_{i + 1}": float(e) for i, e in enumerate(top)}
        return {"value": named["eig_1"], **named}


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "tenas": {
        "name": "ntk_cond_tenas",
        "output": "sum_logits",
        "bn": "train",
        "leaves": TENAS_LEAVES,
        "batch_size": 72,
        "repeats": 3,
        "aggregate": "mean",
        "degenerate": 1e5,
        "init": "kaiming_fan_out",
    },
}
"""Option sets of `ntk_cond`; options passed explicitly override them."""


def ntk_cond(preset: Preset = "default", **options: Any) -> NTKCond:
    """The `NTKCond` scorer with a preset's options, overridden by `options`.

    Presets:
      ``"default"``: every parameter differentiated, BatchNorm on the batch's statistics held
        constant (``bn="decoupled"``; ``bn="train"`` for the exact NTK of the batch-coupled
        network), the sum-of-logits kernel, the median over 3 initialisations, the whole batch;
        a degenerate kernel scores ``inf``.
      ``"tenas"``: TE-NAS's definition (``lib/procedures/ntk.py`` of VITA-Group/TENAS): per-sample
        gradients of the sum of logits of the network in training mode, over the parameters
        PyTorch names ``weight`` (Flax ``kernel`` and normalisation ``scale``; biases excluded),
        on one mini-batch of 72 (their NAS-Bench-201 setting), the mean over 3 initialisations,
        1e5 where TE-NAS's condition number is NaN (an all-zero or non-finite kernel), and
        TE-NAS's re-initialisation of the kernels, Kaiming-normal fan-out.

    Raises:
      ScorerError: for an unknown preset, option or option value.
    """
    check_choice("preset", preset, PRESETS)
    fields = [field.name for field in dataclasses.fields(NTKCond)]
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ScorerError(f"ntk_cond takes no option {', '.join(unknown)}; its options: {fields}")
    return NTKCond(**{**PRESETS[preset], **options})
