"""Rows of the kernel across 4 forced host devices equal the single-device kernel."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntk_nas


class _Net(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.Conv(4, (3, 3), strides=2)(x)
        return nn.Dense(3)(nn.gelu(x).reshape(x.shape[0], -1))


def test_rows_across_four_devices_equal_one_device() -> None:
    """In this process: tests/conftest.py forces 4 host devices."""
    assert jax.local_device_count() == 4, jax.devices()
    model = _Net()
    x1 = jax.random.normal(jax.random.key(0), (10, 6, 6, 2))  # 10 rows: not a multiple of 4
    x2 = jax.random.normal(jax.random.key(1), (7, 6, 6, 2))
    variables = model.init(jax.random.key(2), x1)
    mesh = jax.make_mesh((2, 2), ("a", "b"))
    # Each case takes both specs and both second inputs; the pairings alternate between cases,
    # so every (spec, second input) pair is checked too (each pairing compiles anew).
    plain, crossed = [("local", None), (mesh, x2)], [("local", x2), (mesh, None)]
    cases = [
        ("full", "auto", plain),
        ("sum_logits", "auto", crossed),
        ("trace", "ntk_vector_products", plain),
    ]
    for output, implementation, pairs in cases:
        options = dict(output=output, implementation=implementation)
        one = ntk_nas.empirical_ntk_fn(model.apply, **options)
        for spec, second in pairs:
            many = ntk_nas.empirical_ntk_fn(model.apply, mesh=spec, **options)
            want = np.asarray(one(variables, x1, second))
            got = np.asarray(many(variables, x1, second))
            assert got.shape == want.shape, (got.shape, want.shape)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * abs(want).max())


def test_a_mesh_needs_independent_samples_and_a_valid_spec() -> None:
    with pytest.raises(ntk_nas.NTKInputError, match="mesh needs independent samples"):
        ntk_nas.empirical_ntk_fn(lambda p, x: x * p, mesh="local", independent_samples=False)
    with pytest.raises(ntk_nas.NTKInputError, match=r"mesh must be a jax\.sharding\.Mesh, 'local'"):
        ntk_nas.empirical_ntk_fn(lambda p, x: x * p, mesh="all")  # type: ignore[arg-type]
    one_device = ntk_nas.empirical_ntk_fn(lambda p, x: x @ p, output="full", mesh="local")
    assert one_device(jnp.ones((3, 2)), jnp.ones((5, 3))).shape == (5, 5, 2, 2)
