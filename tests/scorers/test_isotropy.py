"""AZ-NAS feature isotropy: entropies worked by hand, generic block discovery, degenerate
features, and the masked NAS-Bench-201 supernet scored like the built network."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scorers import Expressivity, Progressivity, ScorerError, get
from scorers.isotropy import (
    block_entropies,
    block_outputs,
    feature_covariance,
    progressivity,
    spectral_entropy,
)
from tests.scorers.models import Linear, batch, init, nb201_pair

KEY = jax.random.key(0)


class Zeros(nn.Module):
    """Features constant over the samples: a zero covariance."""

    features: int = 3

    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.zeros((x.shape[0], self.features), x.dtype)


class Pair(nn.Module):
    """Returns a tuple: not a block output."""

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        return x, x


class Children(nn.Module):
    """Named children called out of alphabetical order, one twice, some not blocks."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        shared = nn.Dense(6, name="z_shared")
        h = shared(x)  # block 1
        h = nn.BatchNorm(use_running_average=not train, name="b_norm")(h)  # block 2
        h = nn.relu(h)  # a function: not a block
        h = shared(h[:, :5])  # block 3 (second call of z_shared)
        Pair(name="pair")(h)  # a tuple: skipped
        labels = jnp.argmax(h[:, :4], axis=1)
        nn.Embed(4, 2, name="embed")(labels)  # float (N, 2): block 4
        nn.Dense(3, name="c_last")(h)  # float (N, 3): block 5, not returned
        return nn.Dense(2, name="classifier")(h)  # the network's output: skipped


class DeadBlocks(nn.Module):
    """A zero block between two dense ones."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        h = nn.Dense(4)(x)
        h = Zeros(4)(h)
        h = nn.Dense(4)(h)
        return nn.Dense(2)(h)


def test_spectral_entropy_by_hand() -> None:
    c = 5
    assert spectral_entropy(np.eye(c)) == pytest.approx(math.log(c), rel=1e-12)
    v = np.arange(1.0, c + 1)
    assert spectral_entropy(np.outer(v, v)) == 0.0  # rank one
    p = np.array([0.75, 0.25])
    assert spectral_entropy(np.diag([3.0, 1.0])) == pytest.approx(-np.sum(p * np.log(p)))
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(2, 2)))[0]
    rotated = rotation @ np.diag([3.0, 1.0]) @ rotation.T
    assert spectral_entropy(rotated) == pytest.approx(-np.sum(p * np.log(p)), rel=1e-12)
    assert spectral_entropy(np.zeros((c, c))) == 0.0
    assert math.isnan(spectral_entropy(np.full((c, c), np.nan)))


def test_feature_covariance_of_feature_maps_is_over_batch_and_pixels() -> None:
    maps = np.random.default_rng(1).normal(size=(4, 3, 5, 6)).astype(np.float32)
    reference = np.cov(maps.reshape(-1, 6).astype(np.float64), rowvar=False, bias=True)
    got = np.asarray(feature_covariance(jnp.asarray(maps)))
    np.testing.assert_allclose(got, reference, rtol=1e-5, atol=1e-6)
    # Isotropic channels (+-e_i over 2C samples): entropy log C; one direction: 0.
    isotropic = np.concatenate([np.eye(4), -np.eye(4)]).astype(np.float32)
    assert spectral_entropy(np.asarray(feature_covariance(jnp.asarray(isotropic)))) == (
        pytest.approx(math.log(4), rel=1e-6)
    )
    line = np.outer(np.arange(8.0), [1.0, -2.0, 0.5]).astype(np.float32)
    assert spectral_entropy(np.asarray(feature_covariance(jnp.asarray(line)))) == 0.0


def test_blocks_are_the_direct_children_outputs_in_call_order() -> None:
    x, _ = batch(n=6)
    model = Children()
    variables = init(model, x)
    outputs = block_outputs(model, variables, jnp.asarray(x), train=True)
    assert [name for name, _ in outputs] == ["z_shared", "z_shared", "b_norm", "embed", "c_last"]
    assert [out.shape for _, out in outputs] == [(6, 6), (6, 6), (6, 6), (6, 2), (6, 3)]
    kernel, bias = (np.asarray(variables["params"]["z_shared"][k]) for k in ("kernel", "bias"))
    np.testing.assert_allclose(outputs[0][1], x @ kernel + bias, rtol=1e-5, atol=1e-6)
    # The shared child's second call is listed next to its first, before b_norm, whose output
    # (BatchNorm on the batch's statistics) has zero mean over the batch.
    assert np.abs(np.asarray(outputs[2][1]).mean(axis=0)).max() < 1e-5
    score = Expressivity()(model, variables, (x, np.zeros(6, int)), key=KEY)
    assert score.extras["blocks"] == 5
    assert score.value == pytest.approx(
        sum(spectral_entropy(np.asarray(feature_covariance(out))) for _, out in outputs), rel=1e-6
    )


def test_a_returned_classifier_is_skipped_but_a_transformed_one_is_a_block() -> None:
    x, y = batch(n=6)

    class Softmaxed(nn.Module):
        @nn.compact
        def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
            return nn.log_softmax(nn.Dense(3, name="classifier")(x))

    for model, names in ((Linear(), []), (Softmaxed(), ["classifier"])):
        found = block_outputs(model, init(model, x), jnp.asarray(x), train=False)
        assert [name for name, _ in found] == names
    with pytest.raises(ScorerError, match="expressivity needs at least 1 blocks, found 0"):
        Expressivity()(Linear(), None, (x, y), key=KEY)
    with pytest.raises(ScorerError, match="progressivity needs at least 2 blocks, found 1"):
        Progressivity()(Softmaxed(), None, (x, y), key=KEY)


def test_progressivity_is_the_smallest_increase_between_blocks() -> None:
    assert progressivity(np.array([0.5, 1.5, 1.7, 3.0])) == pytest.approx(0.2)
    assert progressivity(np.array([2.0, 1.0])) == -1.0
    x, y = batch(n=8)
    model = Children()
    variables = init(model, x)
    entropies = block_entropies(model, variables, jnp.asarray(x), train=True)
    score = Progressivity()(model, variables, (x, y), key=KEY)
    assert score.value == pytest.approx(np.min(np.diff(entropies)), rel=1e-12)


def test_zero_features_contribute_zero_and_scores_stay_finite() -> None:
    x, y = batch(n=8)
    model = DeadBlocks()
    entropies = block_entropies(model, init(model, x), jnp.asarray(x), train=True)
    assert entropies.shape == (3,) and entropies[1] == 0.0 and entropies[0] > 0
    for scorer in (Expressivity(), Progressivity()):
        assert math.isfinite(scorer(model, None, (x, y), key=KEY).value)
    dead = jax.tree.map(jnp.zeros_like, init(Children(), x))
    score = Expressivity()(Children(), dead, (x, y), key=KEY)
    assert score.value == 0.0 and score.extras["blocks"] == 5


def test_bad_options_name_the_bad_value() -> None:
    with pytest.raises(ScorerError, match="unknown bn 'decoupled'; valid: train, eval"):
        Expressivity(bn="decoupled")  # type: ignore[arg-type]
    with pytest.raises(ScorerError, match="unknown bn 'none'"):
        get("progressivity", bn="none")
    with pytest.raises(ScorerError, match="batch_size must be a positive integer, got 0"):
        get("expressivity", batch_size=0)
    assert get("expressivity").direction == get("progressivity").direction == "maximize"
    assert Expressivity.mask_invariant and Progressivity.mask_invariant


@pytest.mark.parametrize(
    "arch",
    [
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
        "|none~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_3x3~2|",
        "|avg_pool_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    ],
)
def test_the_masked_supernet_scores_as_the_built_network(arch: str) -> None:
    pair = nb201_pair(arch)
    x = pair.data[0]
    # One key initialises the parameters both have alike (same paths).
    supernet_variables = {**init(pair.supernet, x), **pair.mask}
    supernet_blocks = block_outputs(pair.supernet, supernet_variables, jnp.asarray(x), train=True)
    built_blocks = block_outputs(pair.built, init(pair.built, x), jnp.asarray(x), train=True)
    assert [n for n, _ in supernet_blocks] == [n for n, _ in built_blocks]
    for (_, got), (_, want) in zip(supernet_blocks, built_blocks, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    for scorer in (Expressivity(), Progressivity()):
        supernet = scorer(pair.supernet, pair.mask, pair.data, key=KEY)
        network = scorer(pair.built, None, pair.data, key=KEY)
        assert supernet.value == pytest.approx(network.value, rel=1e-5, abs=1e-5)
        assert supernet.extras["blocks"] == network.extras["blocks"] == 8
