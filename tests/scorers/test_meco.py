"""MeCo: correlations and eigenvalues worked by hand, generic layer discovery, constant channels,
and the masked NAS-Bench-201 supernet scored like the built network."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scorers import MeCo, ScorerError, get
from scorers.meco import channel_correlation, layer_outputs
from tests.scorers.models import MLP, batch, init, nb201_pair

KEY = jax.random.key(0)


class Fixed(nn.Module):
    """Returns fixed feature maps ``(N, 2, 2, 3)`` from a child, then logits."""

    maps: np.ndarray

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        h = Constant(self.maps, name="features")(x)
        return jnp.sum(h, axis=(1, 2))


class Constant(nn.Module):
    maps: np.ndarray

    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.broadcast_to(jnp.asarray(self.maps), (x.shape[0], *self.maps.shape))


class Nested(nn.Module):
    """Feature maps at three depths, a dense output (rank 2, skipped) and the logits."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        h = nn.Conv(4, (3, 3), name="stem")(x)  # layer 1
        h = Block(name="block")(h)  # layers 2 (block/conv) and 3 (block)
        pooled = nn.Dense(5, name="dense")(jnp.mean(h, axis=(1, 2)))  # rank 2: skipped
        return nn.Dense(2, name="head")(pooled)  # the output: skipped


class Block(nn.Module):
    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return x + nn.Conv(4, (1, 1), name="conv")(x)


def test_correlation_of_channels_worked_by_hand() -> None:
    a = np.array([1.0, -1.0, 2.0, -2.0], np.float32)
    b = np.array([1.0, 1.0, -1.0, -1.0], np.float32)  # orthogonal to a, both centred
    features = np.stack([a, 3 * a + 1, b, np.full(4, 5.0, np.float32)], axis=-1).reshape(2, 2, 4)
    corr = np.asarray(channel_correlation(jnp.asarray(features)))
    want = np.array(
        [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]], np.float64
    )  # a channel constant over the positions: row and column zero
    np.testing.assert_allclose(corr, want, atol=1e-6)


def test_score_is_the_smallest_eigenvalue_summed_over_layers() -> None:
    # Channels (x, x, -y) at 4 positions with x, y orthogonal: correlation [[1,1,0],[1,1,0],
    # [0,0,1]], eigenvalues 0, 1, 2; channels (x, y, x + y): eigenvalues 0, 1.5, 1.5.
    x = np.array([1.0, -1.0, 1.0, -1.0], np.float32)
    y = np.array([1.0, 1.0, -1.0, -1.0], np.float32)
    data = (np.zeros((3, 1), np.float32), np.zeros(3))
    for channels in ([x, x, -y], [x, y, x + y]):
        maps = np.stack(channels, axis=-1).reshape(2, 2, 3)
        score = MeCo()(Fixed(maps), {}, data, key=KEY)
        assert score.value == pytest.approx(0.0, abs=1e-6)
        assert score.extras["layers"] == 1
    independent = np.stack([x, y, x * y], axis=-1).reshape(2, 2, 3)  # orthonormal: identity
    assert MeCo(samples=3)(Fixed(independent), {}, data, key=KEY).value == pytest.approx(1.0)


def test_layers_are_feature_maps_at_every_depth() -> None:
    images = np.random.default_rng(0).normal(size=(4, 6, 6, 3)).astype(np.float32)
    layers = layer_outputs(Nested(), init(Nested(), images), jnp.asarray(images), train=True)
    assert [path for path, _ in layers] == [("stem",), ("block", "conv"), ("block",)]
    assert all(out.shape == (4, 6, 6, 4) for _, out in layers)
    score = MeCo()(Nested(), None, (images, np.zeros(4)), key=KEY)
    assert score.extras["layers"] == 3 and 0 < score.value < 3


@pytest.mark.parametrize(
    "arch",
    [
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
        "|avg_pool_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    ],
)
def test_the_masked_supernet_scores_as_the_built_network(arch: str) -> None:
    pair = nb201_pair(arch)
    supernet = MeCo()(pair.supernet, pair.mask, pair.data, key=KEY)
    network = MeCo()(pair.built, None, pair.data, key=KEY)
    assert supernet.value == pytest.approx(network.value, rel=1e-5, abs=1e-5)
    assert supernet.extras["layers"] == network.extras["layers"]
    assert MeCo.mask_invariant


def test_bad_options_and_inputs_name_the_bad_value() -> None:
    with pytest.raises(ScorerError, match="samples must be a positive integer, got 0"):
        get("meco", samples=0)
    with pytest.raises(ScorerError, match="unknown bn 'decoupled'; valid: train, eval"):
        MeCo(bn="decoupled")  # type: ignore[arg-type]
    pair = nb201_pair("|avg_pool_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(ScorerError, match="samples=7 but the batch has only 6 rows"):
        MeCo(samples=7)(pair.built, None, pair.data, key=KEY)
    with pytest.raises(ScorerError, match="meco found no layers"):
        MeCo()(MLP(), None, batch(), key=KEY)
    assert get("meco").direction == "maximize"
