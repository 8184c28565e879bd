"""Every implementation and output mode against a dense float64 reference; shapes, symmetry."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import ntk_nas
from tests.ntk_nas.ntk import models

IMPLEMENTATIONS = ["jacobian_contraction", "ntk_vector_products", "structured_derivatives", "auto"]
OUTPUTS = ["full", "trace", "sum_logits"]
TOLERANCE = 1e-4


# sum_logits is reduced to one output before any implementation runs: two models suffice for it.
LINEN_OUTPUTS = [
    (name, output)
    for name in sorted(models.LINEN_CASES)
    for output in OUTPUTS
    if output != "sum_logits" or name in ("cnn", "shared")
]


def _auto_is_slow(implementation: str, name: str, output: str) -> object:
    """`auto` runs one of the three implementations, each checked here on the same case: the
    default run keeps `auto` on one linen case (and on every output of the nnx, plain-function
    and coupled models below); the other `auto` cases are `make test-slow`."""
    slow = implementation == "auto" and (name, output) != ("mlp", "full")
    return pytest.param(name, output, implementation, marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize(
    ("name", "output", "implementation"),
    [
        _auto_is_slow(implementation, name, output)
        for name, output in LINEN_OUTPUTS
        for implementation in IMPLEMENTATIONS
    ],
)
def test_linen_models_match_float64_reference(name, implementation, output):
    f, variables, x1, x2 = models.linen_case(name)
    reference = models.reduce_reference(models.linen_reference(name), output)
    fn = ntk_nas.empirical_ntk_fn(f, output=output, implementation=implementation)
    assert models.relative_error(fn(variables, x1, x2), reference) < TOLERANCE


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_nnx_model_matches_float64_reference(implementation, output):
    model, x1, x2 = _nnx_case()
    reference = models.reduce_reference(_nnx_reference(), output)
    fn = ntk_nas.empirical_ntk_fn(model, output=output, implementation=implementation)
    assert models.relative_error(fn(None, x1, x2), reference) < TOLERANCE


def _nnx_case():
    model = models.NnxMLP(nnx.Rngs(0))
    model.norm.mean[...] = jnp.linspace(-0.5, 0.5, 7)
    x1, x2 = (
        jax.random.normal(jax.random.key(1), (4, 5)),
        jax.random.normal(jax.random.key(2), (2, 5)),
    )
    return model, x1, x2


@functools.cache
def _nnx_reference():
    model, x1, x2 = _nnx_case()
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    f = lambda p, x: nnx.merge(graphdef, p, rest)(x)
    return models.reference_ntk(f, params, lambda p: p, x1, x2, "full")


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_plain_function_of_nested_dict_matches_reference(implementation, output):
    params, x1, x2 = _plain_case()
    reference = models.reduce_reference(_plain_reference(), output)
    fn = ntk_nas.empirical_ntk_fn(
        models.plain_function, output=output, implementation=implementation
    )
    assert models.relative_error(fn(params, x1, x2), reference) < TOLERANCE


def _plain_case():
    params = models.plain_params(jax.random.key(0))
    x1, x2 = (
        jax.random.normal(jax.random.key(1), (3, 5)),
        jax.random.normal(jax.random.key(2), (4, 5)),
    )
    return params, x1, x2


@functools.cache
def _plain_reference():
    params, x1, x2 = _plain_case()
    diff = {k: v for k, v in params.items() if k != "steps"}
    rebuild = lambda d: {**d, "steps": params["steps"]}
    return models.reference_ntk(models.plain_function, diff, rebuild, x1, x2, "full")


@pytest.mark.parametrize("param_dtype", [jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_low_precision_parameters_give_the_same_float32_kernel(implementation, param_dtype):
    """Parameters stored in bfloat16 or float16 are differentiated as float32: every
    implementation returns a float32 kernel as exact as for float32 parameters."""
    model = nn.Sequential([nn.Dense(6, param_dtype=param_dtype), nn.tanh, nn.Dense(3)])
    x1, x2 = (
        jax.random.normal(jax.random.key(1), (4, 5)),
        jax.random.normal(jax.random.key(2), (2, 5)),
    )
    variables = model.init(jax.random.key(0), x1)
    reference = models.reference_ntk(model.apply, variables, lambda v: v, x1, x2, "full")
    fn = ntk_nas.empirical_ntk_fn(model.apply, output="full", implementation=implementation)
    kernel = fn(variables, x1, x2)
    assert kernel.dtype == jnp.float32
    assert models.relative_error(kernel, reference) < TOLERANCE


@pytest.mark.parametrize("name", [*sorted(set(models.LINEN_CASES) - {"shared"}), "nnx", "plain"])
def test_supported_models_take_the_structured_path(name):
    """Every leaf of these models has a rule: no silent fallback to Jacobians."""
    if name == "nnx":
        model, x1, _ = _nnx_case()
        rules = ntk_nas.empirical_ntk_fn(model).structured_rules(None, x1)
    elif name == "plain":
        params, x1, _ = _plain_case()
        rules = ntk_nas.empirical_ntk_fn(models.plain_function).structured_rules(params, x1)
    else:
        f, variables, x1, _ = models.linen_case(name)
        rules = ntk_nas.empirical_ntk_fn(f).structured_rules(variables, x1)
    assert rules and all(
        rule in {"dot_general", "conv_general_dilated", "add", "sub", "mul"}
        for rule in rules.values()
    ), rules
    weights = ("kernel", "kernel/value", "layer/w", "head")
    kernels = [r for path, r in rules.items() if path.endswith(weights)]
    assert kernels and all(r in {"dot_general", "conv_general_dilated"} for r in kernels)


def test_shared_and_unsupported_leaves_are_reported():
    f, variables, x1, _ = models.linen_case("shared")
    rules = ntk_nas.empirical_ntk_fn(f).structured_rules(variables, x1)
    assert rules["Dense_0/kernel"] == "shared(dot_general+dot_general)"
    assert rules["Dense_0/bias"] == "shared(add+add)"
    assert rules["log_temperature"] == "fallback: used by exp (operand 0)"
    assert rules["Dense_1/kernel"] == "dot_general"


@pytest.mark.parametrize("output", ["full", "trace"])
@pytest.mark.parametrize(
    "implementation",
    [
        *IMPLEMENTATIONS[:-1],
        # `auto` runs one of the three above, on the same shapes.
        pytest.param("auto", marks=pytest.mark.slow),
    ],
)
def test_shapes_and_symmetry(implementation, output):
    f, variables, x1, x2 = models.linen_case("mlp", n1=5, n2=3)
    fn = ntk_nas.empirical_ntk_fn(f, output=output, implementation=implementation)
    k11, k12, k21 = fn(variables, x1), fn(variables, x1, x2), fn(variables, x2, x1)
    tail = (3, 3) if output == "full" else ()
    assert k11.shape == (5, 5, *tail) and k12.shape == (5, 3, *tail)
    swap = (1, 0, 3, 2) if output == "full" else (1, 0)
    np.testing.assert_allclose(k11, fn(variables, x1, x1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(k12, jnp.transpose(k21, swap), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(k11, jnp.transpose(k11, swap), rtol=1e-5, atol=1e-5)


def _coupled_model():
    class Coupled(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = nn.Dense(6)(x)
            h = (h - h.mean(axis=0, keepdims=True)) / (
                h.std(axis=0, keepdims=True) + 1.0
            )  # batch statistics couple samples
            return nn.Dense(2)(jnp.tanh(h))

    module = Coupled()
    x1 = jax.random.normal(jax.random.key(3), (4, 3))
    return module.apply, module.init(jax.random.key(4), x1), x1


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_coupled_samples_match_reference(implementation):
    """Each batch is one input of the network: ``Theta(x1, x2) = J(x1) J(x2)^T`` with ``J(x)``
    the Jacobian of the whole batch's outputs, also for a second batch of another size."""
    f, variables, x1 = _coupled_model()
    x2 = jax.random.normal(jax.random.key(5), (3, 3))
    fn = ntk_nas.empirical_ntk_fn(
        f, output="full", implementation=implementation, independent_samples=False
    )
    for second in (x1, x2):
        reference = models.reference_ntk(
            f, variables["params"], lambda p: {**variables, "params": p}, x1, second, "full"
        )
        kernel = fn(variables, x1, None if second is x1 else second)
        assert models.relative_error(kernel, reference) < TOLERANCE


def test_coupled_samples_refuse_tiles():
    f, variables, x1 = _coupled_model()
    fn = ntk_nas.empirical_ntk_fn(f, independent_samples=False, block_size=2)
    with pytest.raises(ntk_nas.NTKInputError, match="block_size=2 needs independent samples"):
        fn(variables, x1)


def test_plan_reports_choice():
    f, variables, x1, _ = models.linen_case("cnn")
    plan = ntk_nas.empirical_ntk_fn(f, implementation="ntk_vector_products").plan(variables, x1)
    assert plan.implementation is ntk_nas.Implementation.NTK_VECTOR_PRODUCTS
    assert plan.block == x1.shape[0] and plan.flops > 0 and plan.peak_bytes > 0


def test_plan_from_shapes_alone_equals_the_plan_from_arrays():
    f, variables, x1, x2 = models.linen_case("cnn")
    fn = ntk_nas.empirical_ntk_fn(f)
    shapes = jax.eval_shape(lambda tree: tree, (variables, x1, x2))
    assert fn.plan(*shapes) == fn.plan(variables, x1, x2)
    with pytest.raises(ntk_nas.NTKInputError):
        fn.plan(shapes[0], jax.ShapeDtypeStruct((0, *x1.shape[1:]), x1.dtype))


class _ConvNet(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(16, (3, 3))(x))
        x = nn.relu(nn.Conv(32, (3, 3), strides=(2, 2))(x))
        return nn.Dense(10)(jnp.mean(x, axis=(1, 2)))


@pytest.mark.parametrize("name", ["mlp", "attention", "convnet"])
def test_auto_picks_structured_derivatives_for_structured_models(name):
    """(The test models' CNN is too small to tell: all costs tie there.)"""
    if name == "convnet":
        f, x1 = _ConvNet().apply, jax.random.normal(jax.random.key(0), (8, 16, 16, 3))
        variables, x2 = _ConvNet().init(jax.random.key(1), x1[:1]), x1[:4]
    else:
        f, variables, x1, x2 = models.linen_case(name)
    for output in ("full", "trace"):
        plan = ntk_nas.empirical_ntk_fn(f, output=output).plan(variables, x1, x2)
        assert plan.implementation is ntk_nas.Implementation.STRUCTURED_DERIVATIVES


def test_auto_without_rules_does_not_pay_for_structure():
    """Every weight used through sin (no rule): structured derivatives is all fallback, and the
    cost model ranks it no cheaper than Jacobian contraction."""

    def f(params, x):
        return jnp.tanh(x @ jnp.sin(params["w"])) @ jnp.sin(params["v"])

    params = {"w": jnp.ones((5, 64)), "v": jnp.ones((64, 3))}
    x = jnp.ones((8, 5))
    fn = ntk_nas.empirical_ntk_fn(f, output="full")
    assert set(fn.structured_rules(params, x).values()) == {"fallback: used by sin (operand 0)"}
    assert fn.plan(params, x).implementation is not ntk_nas.Implementation.STRUCTURED_DERIVATIVES


class _ConvBN(nn.Module):
    @nn.compact
    def __call__(self, x):
        for features in (8, 8, 16):
            x = nn.BatchNorm(use_running_average=True)(nn.Conv(features, (3, 3))(nn.relu(x)))
        return nn.Dense(10)(jnp.mean(x, axis=(1, 2)))


def test_auto_weighs_per_sample_convolution_gradients_more_on_a_gpu(monkeypatch):
    """Jacobian contraction's per-sample convolution weight gradients are grouped convolutions:
    on CPU they cost about what structured derivatives' patch products cost (summed logits of a
    small conv net: Jacobian contraction wins), on a GPU far more (structured derivatives wins)."""
    x = jax.random.normal(jax.random.key(0), (16, 16, 16, 3))
    variables = _ConvBN().init(jax.random.key(1), x[:1])

    def chosen(backend: str) -> ntk_nas.Implementation:
        monkeypatch.setattr(jax, "default_backend", lambda: backend)
        fn = ntk_nas.empirical_ntk_fn(_ConvBN().apply, output="sum_logits")
        return fn.plan(variables, x).implementation

    assert chosen("cpu") is ntk_nas.Implementation.JACOBIAN_CONTRACTION
    assert chosen("gpu") is ntk_nas.Implementation.STRUCTURED_DERIVATIVES
    auto = ntk_nas._ntk.auto
    assert auto.wgrad_conv_factor("tpu") == auto.WGRAD_CONV_FACTOR < auto.GPU_WGRAD_CONV_FACTOR


class _WideMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(512)(x))
        return nn.Dense(10)(nn.relu(nn.Dense(512)(x)))


@pytest.mark.parametrize("output", ["full", "trace"])
def test_cost_model_prefers_vector_products_over_jacobians_for_a_wide_mlp(output):
    """Between the two, NTK-vector products is 3-5x faster on the benchmark MLP (its Jacobians
    are memory-bound); the cost model must agree (it used to pick Jacobian contraction)."""
    x = jax.random.normal(jax.random.key(0), (128, 784))
    variables = _WideMLP().init(jax.random.key(1), x[:1])
    problem = ntk_nas._ntk.api._setup(_WideMLP().apply, variables, x[:64], x[64:], output).problem
    two = (ntk_nas.Implementation.JACOBIAN_CONTRACTION, ntk_nas.Implementation.NTK_VECTOR_PRODUCTS)
    plan = ntk_nas._ntk.auto.choose(problem, two, 2**34, None)
    assert plan.implementation is ntk_nas.Implementation.NTK_VECTOR_PRODUCTS


def test_one_off_call_equals_factory():
    f, variables, x1, x2 = models.linen_case("mlp")
    np.testing.assert_array_equal(
        ntk_nas.empirical_ntk(f, variables, x1, x2, output="full"),
        ntk_nas.empirical_ntk_fn(f, output="full")(variables, x1, x2),
    )


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS[:3])
@pytest.mark.parametrize(
    ("precision", "lowered", "not_lowered"),
    [("float32", "HIGHEST", "DEFAULT"), (None, "DEFAULT", "HIGHEST")],
)
def test_precision_of_every_product(
    implementation: str, precision: str | None, lowered: str, not_lowered: str
):
    """Every matrix product and convolution of f, of its derivatives and of the contraction is
    lowered at the chosen precision (full float32 by default: GPUs would otherwise use TF32)."""
    f, variables, x1, x2 = models.linen_case("cnn")
    fn = ntk_nas.empirical_ntk_fn(
        f, output="trace", implementation=implementation, precision=precision, check_finite=False
    )
    text = jax.jit(fn).lower(variables, x1, x2).as_text()
    products = [
        line for line in text.splitlines() if "dot_general" in line or "convolution" in line
    ]
    assert products
    assert all(lowered in line and not_lowered not in line for line in products), products
