"""ReLU capture from the jaxpr: module methods, plain functions, nested calls; nothing else."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

import search_spaces.base as spaces
from scorers.activations import (
    ACTIVE_COLLECTION,
    ACTIVE_NAME,
    hamming_distances,
    relu_codes,
    relu_inputs,
)
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
    scopes, captured = zip(
        *relu_inputs(lambda v, x: model.apply(v, x), variables, jnp.asarray(x)), strict=True
    )
    assert [a.shape for a in captured] == [(8, 4), (8, 3), (8, 3)]
    assert scopes == (("Mixed",),) * 3
    dense = jax.tree.map(np.asarray, variables["params"]["Dense_0"])
    first = x @ dense["kernel"] + dense["bias"]
    np.testing.assert_allclose(captured[0], first, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(captured[2], np.maximum(captured[1], 0), rtol=1e-6)


def test_batchnorm_variance_clipping_is_not_a_relu() -> None:
    x, _ = batch()
    model = MLP()
    codes = relu_codes(model, init(model, x), jnp.asarray(x), train=True)
    assert [(c.shape, float(active)) for c, active in codes] == [((8, 12), 1.0)]


def test_relu_codes_work_under_jit() -> None:
    x, _ = batch()
    model = Mixed()
    variables = init(model, x)
    eager = relu_codes(model, variables, jnp.asarray(x), train=False)
    jitted = jax.jit(lambda v, x: relu_codes(model, v, x, train=False))(variables, x)
    for (a, active_a), (b, active_b) in zip(eager, jitted, strict=True):
        np.testing.assert_array_equal(a, b)
        assert active_a == active_b == 1.0


def test_hamming_distances_count_differing_bits() -> None:
    codes = np.random.default_rng(0).integers(0, 2, size=(5, 9)).astype(np.float32)
    expected = (codes[:, None, :] != codes[None, :, :]).sum(axis=-1)
    np.testing.assert_array_equal(hamming_distances(jnp.asarray(codes)), expected)


class DenseReLU(nn.Module):
    features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return nn.relu(nn.Dense(self.features)(x))


class TwoOps(nn.Module):
    """A toy supernet: two weighted ops on one input, each a Dense then a ReLU, that sows its op
    weights as `search_spaces.base.ACTIVE_COLLECTION` says."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        weights = self.variable("arch", "ops", jnp.ones, (2,)).value
        self.sow(ACTIVE_COLLECTION, ACTIVE_NAME, {"wide": weights[0], "narrow": weights[1]})
        wide = DenseReLU(4, name="wide")(x)
        narrow = DenseReLU(3, name="narrow")(x)
        return nn.relu(weights[0] * wide.sum(-1) + weights[1] * narrow.sum(-1))


def test_relus_inside_an_op_of_weight_zero_are_inactive() -> None:
    x, _ = batch()
    model = TwoOps()
    variables = init(model, x)
    assert (ACTIVE_COLLECTION, ACTIVE_NAME) == (spaces.ACTIVE_COLLECTION, spaces.ACTIVE_NAME)
    codes = jax.jit(lambda v: relu_codes(model, v, jnp.asarray(x), train=False))
    for weights, expected in [
        ((1.0, 1.0), [1, 1, 1]),
        ((0.0, 0.5), [0, 1, 1]),
        ((2, 0), [1, 0, 1]),
    ]:
        found = codes({**variables, "arch": {"ops": jnp.asarray(weights, jnp.float32)}})
        assert [c.shape[1] for c, _ in found] == [4, 3, 1]
        assert [float(active) for _, active in found] == expected


def test_hamming_distances_count_only_the_given_units() -> None:
    codes = np.random.default_rng(1).integers(0, 2, size=(5, 9)).astype(np.float32)
    units = np.array([1, 0, 1, 1, 0, 0, 1, 1, 0], np.float32)
    expected = hamming_distances(jnp.asarray(codes[:, units == 1]))
    np.testing.assert_array_equal(
        hamming_distances(jnp.asarray(codes), jnp.asarray(units)), expected
    )
