"""Tiling over samples gives the same kernel, chained or looped, in one tile's memory; and the
budget picks tiles that fit."""

from __future__ import annotations

import numpy as np
import pytest

import ntk_nas
from ntk_nas._ntk import blocks
from tests.ntk_nas.ntk import models

IMPLEMENTATIONS = ["jacobian_contraction", "ntk_vector_products", "structured_derivatives"]
#: Every implementation with every output, and each of these with and without x2, in six cases;
#: the other six combinations are `make test-slow`.
DEFAULT_RUN = {
    ("jacobian_contraction", "full", True),
    ("jacobian_contraction", "trace", False),
    ("ntk_vector_products", "full", False),
    ("ntk_vector_products", "trace", True),
    ("structured_derivatives", "full", True),
    ("structured_derivatives", "trace", False),
}


@pytest.mark.parametrize(
    ("symmetric", "implementation", "output"),
    [
        pytest.param(
            symmetric,
            implementation,
            output,
            marks=[] if (implementation, output, symmetric) in DEFAULT_RUN else [pytest.mark.slow],
        )
        for symmetric in (True, False)
        for implementation in IMPLEMENTATIONS
        for output in ("full", "trace")
    ],
)
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


@pytest.mark.parametrize("symmetric", [True, False])
def test_looped_tiles_equal_chained_ones(monkeypatch, symmetric):
    f, variables, x1, x2 = models.linen_case("cnn", n1=7, n2=5)
    x2 = None if symmetric else x2

    def tiled() -> np.ndarray:
        return np.asarray(ntk_nas.empirical_ntk(f, variables, x1, x2, block_size=3))

    monkeypatch.setattr(blocks, "MAX_CHAINED_TILES", 100)
    chained = tiled()
    monkeypatch.setattr(blocks, "MAX_CHAINED_TILES", 0)
    np.testing.assert_allclose(tiled(), chained, rtol=1e-6, atol=1e-6 * np.abs(chained).max())


def _temp_bytes(f, variables, x, block_size: int | None) -> int:
    fn = ntk_nas.empirical_ntk_fn(
        f, output="full", implementation="jacobian_contraction", block_size=block_size
    )
    return int(fn.lower(variables, x).compile().memory_analysis().temp_size_in_bytes)


def test_chained_tiles_hold_one_tile_in_memory(monkeypatch):
    f, variables, x, _ = models.linen_case("resnet", n1=32)
    monkeypatch.setattr(blocks, "MAX_CHAINED_TILES", 100)
    whole, chained = _temp_bytes(f, variables, x, None), _temp_bytes(f, variables, x, 8)
    monkeypatch.setattr(blocks, "MAX_CHAINED_TILES", 0)
    looped = _temp_bytes(f, variables, x, 8)
    assert chained < 0.5 * whole
    assert chained < 1.2 * looped
