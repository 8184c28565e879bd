"""ReLU capture from the jaxpr: module methods, plain functions, nested calls; nothing else."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from scorers.activations import hamming_distances, relu_codes, relu_inputs
from tests.scorers.models import MLP, batch, init


class Mixed(nn.Module):
    """ReLUs called every way a model might: as a function, jitted, under remat, twice nested."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        a = nn.relu(nn.Dense(4)(x))
        b = jax.jit(jax.nn.relu)(nn.remat(nn.Dense)(3)(a))
        c = jax.checkpoint(lambda h: jax.nn.relu(h) * 2)(b)
        return nn.Dense(2)(jnp.tanh(c))


def test_every_relu_call_is_captured_once_with_its_input() -> None:
    x, _ = batch()
    model = Mixed()
    variables = init(model, x)
    captured = relu_inputs(lambda v, x: model.apply(v, x), variables, jnp.asarray(x))
    assert [a.shape for a in captured] == [(8, 4), (8, 3), (8, 3)]
    dense = jax.tree.map(np.asarray, variables["params"]["Dense_0"])
    first = x @ dense["kernel"] + dense["bias"]
    np.testing.assert_allclose(captured[0], first, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(captured[2], np.maximum(captured[1], 0), rtol=1e-6)


def test_batchnorm_variance_clipping_is_not_a_relu() -> None:
    x, _ = batch()
    model = MLP()
    codes = relu_codes(model, init(model, x), jnp.asarray(x), train=True)
    assert [c.shape for c in codes] == [(8, 12)]


def test_relu_codes_work_under_jit() -> None:
    x, _ = batch()
    model = Mixed()
    variables = init(model, x)
    eager = relu_codes(model, variables, jnp.asarray(x), train=False)
    jitted = jax.jit(lambda v, x: relu_codes(model, v, x, train=False))(variables, x)
    for a, b in zip(eager, jitted, strict=True):
        np.testing.assert_array_equal(a, b)


def test_hamming_distances_count_differing_bits() -> None:
    codes = np.random.default_rng(0).integers(0, 2, size=(5, 9)).astype(np.float32)
    expected = (codes[:, None, :] != codes[None, :, :]).sum(axis=-1)
    np.testing.assert_array_equal(hamming_distances(jnp.asarray(codes)), expected)
