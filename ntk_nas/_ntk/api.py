"""The public entry points of the engine: `empirical_ntk_fn` and `empirical_ntk`."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, Literal, get_args

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import Mesh

from ntk_nas._ntk import adapters, auto
from ntk_nas._ntk.blocks import blocked, default_memory_budget
from ntk_nas._ntk.contraction import jacobian_contraction
from ntk_nas._ntk.cost import forward_cost
from ntk_nas._ntk.errors import NonFiniteKernelError, NTKInputError
from ntk_nas._ntk.implementations import Implementation
from ntk_nas._ntk.jacobians import FlatFn, KernelImplementation, Leaves
from ntk_nas._ntk.sharding import MeshSpec, resolve_mesh, sharded_rows
from ntk_nas._ntk.structured import describe, structured_derivatives
from ntk_nas._ntk.structured import kernel as structured_kernel
from ntk_nas._ntk.structured.cost import summarise
from ntk_nas._ntk.structured.kernel import structured_view
from ntk_nas._ntk.vector_products import ntk_vector_products

Output = Literal["full", "trace", "sum_logits"]
Params = Any
Model = Callable[[Params, jax.Array], jax.Array] | nnx.Module
#: The ``precision`` values of `empirical_ntk_fn` (names of `jax.default_matmul_precision`).
PRECISIONS = ("float32", "tensorfloat32", "bfloat16", None)

_KERNELS: dict[Implementation, KernelImplementation] = {
    Implementation.JACOBIAN_CONTRACTION: jacobian_contraction,
    Implementation.NTK_VECTOR_PRODUCTS: ntk_vector_products,
    Implementation.STRUCTURED_DERIVATIVES: structured_derivatives,
}
_CONCRETE = tuple(_KERNELS)


def _parse_output(output: str) -> Output:
    valid = get_args(Output)
    if output not in valid:
        raise NTKInputError(f"unknown output {output!r}; valid outputs: {', '.join(valid)}")
    return output  # type: ignore[return-value]


def _parse_implementation(implementation: str | Implementation) -> Implementation:
    try:
        return Implementation(implementation)
    except ValueError:
        valid = ", ".join(i.value for i in Implementation)
        raise NTKInputError(
            f"unknown implementation {implementation!r}; valid implementations: {valid}"
        ) from None


def _check_inputs(x1: jax.Array, x2: jax.Array | None) -> None:
    if x1.ndim < 1:
        raise NTKInputError(f"x1 must have a batch axis, got a scalar of shape {x1.shape}")
    if x2 is not None and x2.shape[1:] != x1.shape[1:]:
        raise NTKInputError(
            f"x1 and x2 must have the same feature shape, got x1 {x1.shape} and x2 {x2.shape}"
        )


def _output_shape(apply: Callable[..., jax.Array], params: Params, x: jax.Array, name: str) -> Any:
    try:
        out = jax.eval_shape(apply, params, x)
    except Exception as error:
        raise NTKInputError(
            f"f failed on {name} of shape {x.shape} and dtype {x.dtype}: "
            f"{type(error).__name__}: {error}"
        ) from error
    if not isinstance(out, jax.ShapeDtypeStruct):
        raise NTKInputError(f"f must return one array, got {type(out).__name__} on {name}")
    if out.ndim < 1 or out.shape[0] != x.shape[0]:
        raise NTKInputError(
            f"f must return an output of shape (N, ...) with N = {x.shape[0]} (the batch size of "
            f"{name}), got shape {out.shape}"
        )
    return out


@dataclasses.dataclass(frozen=True)
class _Setup:
    """Everything the kernel needs, derived from the arguments at trace time."""

    h: FlatFn
    leaves: Leaves
    problem: auto.Problem


def _abstract(x: Any) -> Any:
    """`x` as something `jax.eval_shape` takes: None, a shape struct, or an array."""
    return x if x is None or isinstance(x, jax.ShapeDtypeStruct) else jnp.asarray(x)


def _setup(
    apply: Callable[..., jax.Array],
    params: Params,
    x1: jax.Array,
    x2: jax.Array | None,
    output: Output,
    implementation: Implementation = Implementation.AUTO,
    independent: bool = True,
) -> _Setup:
    _check_inputs(x1, x2)
    out = _output_shape(apply, params, x1, "x1")
    if x2 is not None:
        _output_shape(apply, params, x2, "x2")
    leaves, combine = adapters.partition(params)
    sum_logits = output == "sum_logits"

    def h(new_leaves: Leaves, x: jax.Array) -> jax.Array:
        y = apply(combine(new_leaves), x).reshape(x.shape[0], -1)
        return y.sum(axis=1, keepdims=True) if sum_logits else y

    structured = None
    if implementation in (Implementation.AUTO, Implementation.STRUCTURED_DERIVATIVES):
        fn, sample = structured_view(h, x1, independent)
        analysis = structured_kernel.analyse(fn, leaves, sample)
        structured = summarise(analysis, [leaf.size for leaf in leaves])
    problem = auto.Problem(
        n1=x1.shape[0],
        n2=x1.shape[0] if x2 is None else x2.shape[0],
        symmetric=x2 is None,
        outputs=1 if sum_logits else math.prod(out.shape[1:]),
        params=sum(leaf.size for leaf in leaves),
        itemsize=jnp.dtype(out.dtype).itemsize,
        trace=output != "full",
        forward=forward_cost(h, leaves, x1[:1]),  # one sample
        structured=structured,
        wgrad_conv_factor=auto.wgrad_conv_factor(jax.default_backend()),
    )
    return _Setup(h, leaves, problem)


@dataclasses.dataclass(frozen=True)
class NTKFunction:
    """A compiled empirical-NTK function, ``fn(params, x1, x2=None) -> kernel``.

    Made by `empirical_ntk_fn`. Call it with the model's parameters and inputs ``x1: (N1, ...)``
    and ``x2: (N2, ...)`` (None: ``x2 = x1``). For an nnx model, pass ``params=None`` to use the
    module's current state. `plan` tells, without computing, which implementation and tile size a
    call would use and its estimated FLOPs and peak memory.
    """

    apply: Callable[..., jax.Array]
    nnx_module: nnx.Module | None
    output: Output
    implementation: Implementation
    independent_samples: bool
    max_memory_bytes: int | None
    block_size: int | None
    check_finite: bool
    mesh: Mesh | None = None
    precision: str | None = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", jax.jit(self._call))

    def _call(self, params: Params, x1: jax.Array, x2: jax.Array | None) -> jax.Array:
        with jax.default_matmul_precision(self.precision):  # traced, so it holds for f too
            if self.mesh is None:
                return self._kernel(params, x1, x2)
            return sharded_rows(self._kernel, self.mesh, params, x1, x1 if x2 is None else x2)

    def _params(self, params: Params) -> Params:
        if self.nnx_module is None:
            if params is None:
                raise NTKInputError("params is None; pass the parameters of f")
            return params
        return adapters.from_nnx(self.nnx_module)[1] if params is None else params

    def _plan(self, setup: _Setup) -> auto.Plan:
        candidates = (
            _CONCRETE if self.implementation is Implementation.AUTO else (self.implementation,)
        )
        budget = self.max_memory_bytes or default_memory_budget()
        problem = setup.problem
        if self.independent_samples:
            return auto.choose(problem, candidates, budget, self.block_size)
        if self.block_size is not None:
            raise NTKInputError(
                f"block_size={self.block_size} needs independent samples: with "
                "independent_samples=False every output depends on the whole batch"
            )
        plan = auto.choose(problem, candidates, budget, max(problem.n1, problem.n2))
        if plan.peak_bytes > budget:
            raise NTKInputError(
                f"the NTK of a batch-coupled model needs an estimated {plan.peak_bytes / 2**30:.2f}"
                f" GiB, over the memory budget of {budget / 2**30:.2f} GiB; use a smaller batch "
                "or raise max_memory_bytes"
            )
        return plan

    def plan(self, params: Params, x1: Any, x2: Any = None) -> auto.Plan:
        """The implementation, tile size, FLOPs and peak bytes that a call would use.

        Only shapes are used: `params`, `x1` and `x2` may be arrays or `jax.ShapeDtypeStruct`s
        (e.g. from ``jax.eval_shape(module.init, ...)``), and nothing is computed.
        """
        found: list[auto.Plan] = []

        def probe(params: Params, x1: jax.Array, x2: jax.Array | None) -> None:
            setup = _setup(
                self.apply,
                params,
                x1,
                x2,
                self.output,
                self.implementation,
                self.independent_samples,
            )
            found.append(self._plan(setup))

        jax.eval_shape(probe, self._params(params), _abstract(x1), _abstract(x2))
        return found[0]

    def _kernel(self, params: Params, x1: jax.Array, x2: jax.Array | None) -> jax.Array:
        setup = _setup(
            self.apply, params, x1, x2, self.output, self.implementation, self.independent_samples
        )
        plan = self._plan(setup)
        kernel = _KERNELS[plan.implementation]
        trace = self.output != "full"

        def block_fn(xa: jax.Array, xb: jax.Array | None) -> jax.Array:
            return kernel(
                setup.h, setup.leaves, xa, xb, trace=trace, independent=self.independent_samples
            )

        return blocked(block_fn, x1, x2, plan.block)

    def structured_rules(self, params: Params, x1: jax.typing.ArrayLike) -> dict[str, str]:
        """Which rule of structured derivatives each parameter leaf takes, by leaf path.

        A rule name per use of the leaf (``"dot_general"``, ``"conv_general_dilated"``, ``"add"``,
        ``"sub"``, ``"mul"``, joined by ``+``), ``"shared(...)"`` for a leaf used several times or
        broadcast, ``"fallback: <why>"`` for a leaf whose Jacobian is contracted instead, or
        ``"unused"``. Traces `f` once; computes nothing.
        """
        params = self._params(params)
        x = jnp.asarray(x1)
        setup = _setup(self.apply, params, x, None, self.output)
        rules = describe(setup.h, setup.leaves, x, independent=self.independent_samples)
        return dict(zip(adapters.leaf_names(params), rules, strict=True))

    def lower(self, params: Params, x1: jax.typing.ArrayLike, x2: Any = None) -> jax.stages.Lowered:
        """Lowers the call ahead of time (``.compile()`` it, or read its cost and memory)."""
        x2_array = None if x2 is None else jnp.asarray(x2)
        return self._compiled.lower(self._params(params), jnp.asarray(x1), x2_array)  # type: ignore[attr-defined]

    def __call__(
        self, params: Params, x1: jax.typing.ArrayLike, x2: jax.typing.ArrayLike | None = None
    ) -> jax.Array:
        x2_array = None if x2 is None else jnp.asarray(x2)
        kernel = self._compiled(self._params(params), jnp.asarray(x1), x2_array)  # type: ignore[attr-defined]
        if self.check_finite and not isinstance(kernel, jax.core.Tracer):
            _raise_if_not_finite(kernel)
        return kernel


def _raise_if_not_finite(kernel: jax.Array) -> None:
    bad = int(jnp.size(kernel) - jnp.count_nonzero(jnp.isfinite(kernel)))
    if bad:
        raise NonFiniteKernelError(
            f"the NTK has {bad} non-finite entries (NaN or inf) out of {kernel.size}; check the "
            "model's outputs and parameters for NaN/inf (check_finite=False returns it anyway)"
        )


def empirical_ntk_fn(
    f: Model,
    *,
    output: Output = "trace",
    implementation: str | Implementation = "auto",
    independent_samples: bool = True,
    max_memory_bytes: int | None = None,
    block_size: int | None = None,
    check_finite: bool = True,
    mesh: MeshSpec = None,
    precision: str | None = "float32",
) -> NTKFunction:
    """Returns a jit-compiled ``fn(params, x1, x2=None)`` computing the empirical NTK of `f`.

    ``Theta(x1, x2) = J(x1) J(x2)^T`` with ``J = d f(params, x) / d params``.

    Args:
      f: ``f(params, x: (N, ...)) -> (N, ...)``; the output axes after the batch axis are flattened
        into `O`. Flax linen: ``model.apply`` with ``params = variables`` (only ``"params"`` is
        differentiated). Or an ``nnx.Module`` called as ``module(x)`` (only ``nnx.Param`` is
        differentiated). Integer and boolean leaves are never differentiated.
      output: ``"full"``: ``(N1, N2, O, O)``; ``"trace"``: ``(N1, N2)``, the sum over outputs of
        the diagonal blocks; ``"sum_logits"``: ``(N1, N2)``, the NTK of ``sum_o f_o``.
      implementation: an `Implementation` or its name.
      independent_samples: `f` treats samples independently (no BatchNorm in training mode), so
        per-sample Jacobians and tiling over samples are valid. False: the exact NTK of a model that
        couples samples, from Jacobians of the whole batch (slower, no tiling).
      max_memory_bytes: peak memory budget; the kernel is computed in tiles of samples to stay
        under it. Default: a quarter of the device's memory.
      block_size: samples per tile, overriding the budget.
      check_finite: raise `NonFiniteKernelError` when the kernel holds NaN or inf (a host sync).
      mesh: split the samples of ``x1`` (the kernel's rows) across every device of this
        ``jax.sharding.Mesh``, or of all local devices with ``"local"``; the result equals the
        single-device kernel. Needs independent samples. None: one device.
      precision: the precision of float32 matrix products and convolutions, in `f` and in the
        kernel: ``"float32"`` computes them in full float32 on every backend (GPUs otherwise
        use TensorFloat32 and TPUs bfloat16 passes, about three decimal digits);
        ``"tensorfloat32"`` or ``"bfloat16"`` trade accuracy for speed; None leaves JAX's
        default (`jax.default_matmul_precision`). An explicit precision in `f` wins.

    Returns:
      An `NTKFunction`.

    Raises:
      NTKInputError: for an unknown `output` or `implementation` (at once), and for bad inputs
        (when called).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> f = lambda p, x: jnp.tanh(x @ p["w"])
      >>> fn = empirical_ntk_fn(f, output="full")
      >>> fn({"w": jnp.ones((3, 2))}, jnp.ones((4, 3))).shape
      (4, 4, 2, 2)

    For best performance: reuse one `fn` (it is compiled once per input shape); leave
    ``implementation="auto"``; keep ``x2=None`` for the symmetric kernel of one batch.

    References:
      Novak, Sohl-Dickstein, Schoenholz. Fast Finite Width Neural Tangent Kernel. ICML 2022.
    """
    if block_size is not None and block_size < 1:
        raise NTKInputError(f"block_size must be a positive integer, got {block_size}")
    if max_memory_bytes is not None and max_memory_bytes < 1:
        raise NTKInputError(f"max_memory_bytes must be positive, got {max_memory_bytes}")
    if precision not in PRECISIONS:
        raise NTKInputError(
            f"unknown precision {precision!r}; valid: {', '.join(map(repr, PRECISIONS))}"
        )
    resolved_mesh = resolve_mesh(mesh)
    if resolved_mesh is not None and not independent_samples:
        raise NTKInputError(
            "mesh needs independent samples: with independent_samples=False every row of the "
            "kernel depends on the whole batch"
        )
    if isinstance(f, nnx.Module):
        apply, module = adapters.from_nnx(f)[0], f
    elif callable(f):
        apply, module = f, None
    else:
        raise NTKInputError(f"f must be callable or an nnx.Module, got {type(f).__name__}")
    return NTKFunction(
        apply=apply,
        nnx_module=module,
        output=_parse_output(output),
        implementation=_parse_implementation(implementation),
        independent_samples=independent_samples,
        max_memory_bytes=max_memory_bytes,
        block_size=block_size,
        check_finite=check_finite,
        mesh=resolved_mesh,
        precision=precision,
    )


def empirical_ntk(
    f: Model,
    params: Params,
    x1: jax.typing.ArrayLike,
    x2: jax.typing.ArrayLike | None = None,
    **options: Any,
) -> jax.Array:
    """The empirical NTK of `f` at `params` on `x1` and `x2` (None: `x1`).

    A one-off call of ``empirical_ntk_fn(f, **options)(params, x1, x2)``; see there for `options`
    and shapes. Reuse `empirical_ntk_fn` when computing many kernels.
    """
    return empirical_ntk_fn(f, **options)(params, x1, x2)
