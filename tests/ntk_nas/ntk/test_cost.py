"""The cost model's memory figures: the residuals a backward pass keeps, and the peak they set."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import ntk_nas
from ntk_nas._ntk.cost import residual_bytes
from tests.ntk_nas.ntk import models


def test_residual_bytes_count_what_the_backward_pass_keeps_per_sample():
    def dense(w: jax.Array, x: jax.Array) -> jax.Array:
        return x @ w  # the weight gradient needs x; w (not per sample) does not count

    def two_layers(w: jax.Array, x: jax.Array) -> jax.Array:
        return dense(w, dense(w, x))  # the second layer's input and w, read by the first's

    w, x = jnp.zeros((5, 5)), jax.ShapeDtypeStruct((1, 5), jnp.float32)
    assert residual_bytes(dense, w, x) == 5 * 4
    assert residual_bytes(two_layers, w, x) == 2 * 5 * 4


def _case(implementation: str, name: str, output: str) -> object:
    """Jacobian contraction on the conv models is the slowest case (10-15 s each): its full-kernel
    ones are `make test-slow`; that estimate is still checked on the MLP, and its estimate on the
    conv models with the sum_logits output."""
    slow = implementation == "jacobian_contraction" and name != "mlp" and output == "full"
    return pytest.param(implementation, name, output, marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize(
    ("implementation", "name", "output"),
    [
        _case(implementation, name, output)
        for implementation in (
            "jacobian_contraction",
            "ntk_vector_products",
            "structured_derivatives",
        )
        for name in ("mlp", "cnn", "resnet")
        for output in ("full", "sum_logits")
    ],
)
def test_estimated_peak_bounds_xla_memory_from_above_within_a_small_factor(
    name, implementation, output
):
    f, variables, x1, _ = models.linen_case(name, n1=16)
    fn = ntk_nas.empirical_ntk_fn(
        f, output=output, implementation=implementation, block_size=16, check_finite=False
    )
    estimated = fn.plan(variables, x1).peak_bytes
    memory = jax.jit(fn).lower(variables, x1).compile().memory_analysis()
    needed = memory.temp_size_in_bytes + memory.output_size_in_bytes
    assert needed <= estimated <= 6 * needed  # measured: 1.07 - 5.7
