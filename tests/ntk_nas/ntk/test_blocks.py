"""Tiling over samples gives the same kernel, and the budget picks tiles that fit."""

from __future__ import annotations

import numpy as np
import pytest

import ntk_nas
from tests.ntk_nas.ntk import models


@pytest.mark.parametrize("output", ["full", "trace"])
@pytest.mark.parametrize(
    "implementation", ["jacobian_contraction", "ntk_vector_products", "structured_derivatives"]
)
@pytest.mark.parametrize("symmetric", [True, False])
def test_blocked_equals_unblocked(implementation, output, symmetric):
    f, variables, x1, x2 = models.linen_case("cnn", n1=7, n2=5)
    x2 = None if symmetric else x2
    whole = ntk_nas.empirical_ntk(
        f, variables, x1, x2, output=output, implementation=implementation
    )
    tiled = ntk_nas.empirical_ntk(
        f, variables, x1, x2, output=output, implementation=implementation, block_size=3
    )
    np.testing.assert_allclose(tiled, whole, rtol=1e-6, atol=1e-6 * float(np.abs(whole).max()))


def test_budget_forces_tiles_with_same_result():
    f, variables, x1, _ = models.linen_case("mlp", n1=16)
    fn = ntk_nas.empirical_ntk_fn(f, output="full", implementation="jacobian_contraction")
    whole_plan = fn.plan(variables, x1)
    budget = int(whole_plan.peak_bytes * 0.6)
    tight = ntk_nas.empirical_ntk_fn(
        f, output="full", implementation="jacobian_contraction", max_memory_bytes=budget
    )
    plan = tight.plan(variables, x1)
    assert plan.block < 16 and plan.peak_bytes <= budget
    np.testing.assert_allclose(tight(variables, x1), fn(variables, x1), rtol=1e-5, atol=1e-6)
