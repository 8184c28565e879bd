"""Bad input gives an error that names the bad value; a non-finite kernel is reported."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import ntk_nas
from tests.ntk_nas.ntk import models


def _dense(params, x):
    return jnp.tanh(x @ params["w"])


PARAMS = {"w": jnp.ones((3, 2))}
X = jnp.ones((4, 3))


def test_unknown_output_lists_valid_names():
    with pytest.raises(
        ntk_nas.NTKInputError, match=r"unknown output 'diag'.*full, trace, sum_logits"
    ):
        ntk_nas.empirical_ntk_fn(_dense, output="diag")  # type: ignore[arg-type]


def test_unknown_implementation_lists_valid_names():
    with pytest.raises(ntk_nas.NTKInputError, match=r"'magic'.*jacobian_contraction.*auto"):
        ntk_nas.empirical_ntk_fn(_dense, implementation="magic")


def test_unknown_precision_lists_valid_names():
    with pytest.raises(
        ntk_nas.NTKInputError, match=r"unknown precision 'highest'; valid: 'float32'.*None"
    ):
        ntk_nas.empirical_ntk_fn(_dense, precision="highest")


def test_feature_shapes_must_agree():
    with pytest.raises(ntk_nas.NTKInputError, match=r"x1 \(4, 3\) and x2 \(2, 5\)"):
        ntk_nas.empirical_ntk(_dense, PARAMS, X, jnp.ones((2, 5)))


def test_failing_f_is_reported_with_the_input_shape():
    with pytest.raises(ntk_nas.NTKInputError, match=r"f failed on x1 of shape \(4, 5\)"):
        ntk_nas.empirical_ntk(_dense, PARAMS, jnp.ones((4, 5)))


def test_output_without_batch_axis():
    with pytest.raises(ntk_nas.NTKInputError, match=r"N = 4.*got shape \(\)"):
        ntk_nas.empirical_ntk(lambda p, x: jnp.sum(x @ p["w"]), PARAMS, X)


def test_output_must_be_one_array():
    with pytest.raises(ntk_nas.NTKInputError, match="f must return one array, got tuple on x1"):
        ntk_nas.empirical_ntk(lambda p, x: (x @ p["w"], x), PARAMS, X)


def test_f_must_be_callable():
    with pytest.raises(ntk_nas.NTKInputError, match=r"callable or an nnx\.Module, got int"):
        ntk_nas.empirical_ntk_fn(3)  # type: ignore[arg-type]


def test_output_with_wrong_batch_size():
    with pytest.raises(ntk_nas.NTKInputError, match=r"N = 4.*got shape \(2, 2\)"):
        ntk_nas.empirical_ntk(lambda p, x: (x @ p["w"])[:2], PARAMS, X)


def test_no_differentiable_parameters():
    params = {"w": jnp.ones((3, 2), jnp.int32)}
    with pytest.raises(ntk_nas.NTKInputError, match=r"no differentiable parameters.*int32"):
        ntk_nas.empirical_ntk(lambda p, x: x @ p["w"].astype(x.dtype), params, X)


def test_scalar_input():
    with pytest.raises(ntk_nas.NTKInputError, match="batch axis"):
        ntk_nas.empirical_ntk(_dense, PARAMS, jnp.float32(1.0))


@pytest.mark.parametrize("bad", [{"block_size": 0}, {"max_memory_bytes": -1}])
def test_bad_sizes(bad):
    with pytest.raises(ntk_nas.NTKInputError, match=str(next(iter(bad.values())))):
        ntk_nas.empirical_ntk_fn(_dense, **bad)


def test_non_finite_kernel_is_reported():
    params = {"w": jnp.full((3, 2), jnp.nan)}
    with pytest.raises(ntk_nas.NonFiniteKernelError, match="non-finite entries"):
        ntk_nas.empirical_ntk(_dense, params, X)
    kernel = ntk_nas.empirical_ntk(_dense, params, X, check_finite=False)
    assert jnp.isnan(kernel).all()


def test_memory_budget_too_small_names_estimate_and_limit():
    f, variables, x1, _ = models.linen_case("cnn")
    with pytest.raises(ntk_nas.NTKInputError, match=r"GiB.*max_memory_bytes=1000"):
        ntk_nas.empirical_ntk(f, variables, x1, max_memory_bytes=1000)


def test_nnx_model_needs_no_params_but_plain_f_does():
    with pytest.raises(ntk_nas.NTKInputError, match="params is None"):
        ntk_nas.empirical_ntk(_dense, None, X)


def test_check_skipped_under_outer_jit():
    fn = ntk_nas.empirical_ntk_fn(_dense)
    kernel = jax.jit(fn)(PARAMS, X)
    assert kernel.shape == (4, 4)
