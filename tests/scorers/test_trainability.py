"""AZ-NAS trainability: Jacobians of dense and strided blocks worked out with numpy, identity
blocks, skipped pairs, and the masked NAS-Bench-201 supernet scored like the built network."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scorers import ScorerError, Trainability, get
from scorers.isotropy import block_outputs
from scorers.trainability import (
    PROBE_STREAM,
    largest_singular_value,
    pair_strides,
    pair_trainability,
    rademacher_cotangents,
    space_to_depth,
)
from tests.scorers.models import batch, init, nb201_pair

KEY = jax.random.key(0)


class Scale(nn.Module):
    """``factor * x``: the Jacobian ``factor * I``."""

    factor: float

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.factor * x


class Identity(nn.Module):
    """Returns its input: an exact identity block."""

    def __call__(self, x: jax.Array) -> jax.Array:
        return x


class ScaledWidthOne(nn.Module):
    """Two blocks of one channel, the second ``factor`` times the first: ``M = factor``."""

    factor: float

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        h = Scale(self.factor)(nn.Dense(1)(x))
        return nn.Dense(2, name="classifier")(h)


class DenseBlocks(nn.Module):
    """Three dense blocks, a relu (not a block) between the first two."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        a = nn.Dense(4, name="a")(x)
        b = nn.Dense(3, name="b")(nn.relu(a))
        c = nn.Dense(5, name="c")(b)
        return nn.Dense(2, name="classifier")(c)


class Strided(nn.Module):
    """A conv block, then a 2x2 stride-2 conv block with `features` outputs."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        h = nn.Conv(2, (3, 3), name="first")(x)  # (B, 8, 8, 2)
        h = nn.Conv(self.features, (2, 2), strides=(2, 2), padding="VALID", name="down")(h)
        return nn.Dense(2, name="classifier")(jnp.mean(h, axis=(1, 2)))


class WithIdentity(nn.Module):
    """A dense block, an identity block, then a dense block."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        h = Identity(name="same")(nn.Dense(4, name="a")(x))
        return nn.Dense(2, name="classifier")(nn.Dense(3, name="b")(h))


class Mixed(nn.Module):
    """Blocks ``(B, 4, 4, 3) -> (B, 3) -> (B, 5)``: the first pair's ranks differ."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        h = nn.Conv(3, (3, 3), name="conv")(x)
        h = Scale(2.0, name="pooled")(jnp.mean(h, axis=(1, 2)))
        return nn.Dense(2, name="classifier")(nn.Dense(5, name="dense")(h))


class OneBlock(nn.Module):
    """One block, then the classifier."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return nn.Dense(2, name="classifier")(nn.Dense(4, name="a")(x))


class ConvThenDense(nn.Module):
    """Blocks (B, H, W, 3) then (B, 4): no pair to score."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        h = nn.Conv(3, (3, 3), name="conv")(x)
        h = nn.Dense(4, name="dense")(jnp.mean(h, axis=(1, 2)))
        return nn.Dense(2, name="classifier")(h)


def cotangents(model: nn.Module, x: np.ndarray, *, train: bool = True) -> list[np.ndarray]:
    """The scorer's Rademacher cotangents for `model`'s blocks on `x` (its key convention)."""
    outputs = block_outputs(model, init(model, x), jnp.asarray(x), train=train)
    shapes = [jax.ShapeDtypeStruct(out.shape, out.dtype) for _, out in outputs]
    probe = jax.random.fold_in(KEY, PROBE_STREAM)
    return [np.asarray(g, np.float64) for g in rademacher_cotangents(probe, shapes)]


def score_of(matrix: np.ndarray) -> float:
    return pair_trainability(float(np.linalg.svd(matrix, compute_uv=False)[0]))


def test_pair_trainability_peaks_at_an_isometry() -> None:
    assert pair_trainability(1.0) == 0.0
    assert pair_trainability(2.0) == pair_trainability(0.5) == -0.5
    assert pair_trainability(0.0) == pair_trainability(math.inf) == -math.inf
    assert math.isnan(pair_trainability(math.nan))


def test_a_scaled_block_of_one_channel_scores_its_factor() -> None:
    x, y = batch(n=6)
    for factor in (3.0, 0.5, -1.0):
        score = Trainability()(ScaledWidthOne(factor), None, (x, y), key=KEY)
        assert score.value == pytest.approx(2 - abs(factor) - 1 / abs(factor), rel=1e-6)
        assert score.extras["blocks"] == 2 and score.extras["pairs"] == 1


@pytest.mark.parametrize("bn", ["train", "eval"])
def test_dense_blocks_by_hand(bn: str) -> None:
    x, y = batch(n=7)
    model = DenseBlocks()
    variables = init(model, x)
    kernel = {k: np.asarray(variables["params"][k]["kernel"], np.float64) for k in ("b", "c")}
    (_, a), _, _ = block_outputs(model, variables, jnp.asarray(x), train=False)
    _, g_b, g_c = cotangents(model, x)
    # b = relu(a) W_b + bias: g_a = (g_b W_b^T) * [a > 0]; c = b W_c + bias: g_b' = g_c W_c^T.
    g_a = (g_b @ kernel["b"].T) * (np.asarray(a) > 0)
    expected = [score_of(g_a.T @ g_b / 7), score_of((g_c @ kernel["c"].T).T @ g_c / 7)]
    score = get("trainability", bn=bn)(model, variables, (x, y), key=KEY)
    assert score.value == pytest.approx(np.mean(expected), rel=1e-5)
    assert score.extras["pairs"] == 2
    assert expected[0] != pytest.approx(expected[1])  # both pairs count


def test_an_identity_block_scores_minus_infinity() -> None:
    x, y = batch(n=6)
    score = Trainability()(WithIdentity(), None, (x, y), key=KEY)
    assert score.value == -math.inf and score.extras["pairs"] == 2
    # A block that only scales is not an identity.
    assert math.isfinite(Trainability()(ScaledWidthOne(2.0), None, (x, y), key=KEY).value)


def test_space_to_depth_stacks_each_window_along_channels() -> None:
    g = np.arange(2 * 4 * 6 * 3, dtype=np.float32).reshape(2, 4, 6, 3)
    got = np.asarray(space_to_depth(jnp.asarray(g), (2, 3)))
    assert got.shape == (2, 2, 2, 18)
    np.testing.assert_array_equal(got[1, 1, 0], g[1, 2:4, 0:3].reshape(-1))
    assert pair_strides((2, 8, 8, 3), (2, 4, 4, 5)) == (2, 2)
    assert pair_strides((2, 3), (2, 5)) == ()
    assert pair_strides((2, 8, 8, 3), (2, 3, 3, 3)) is None
    assert pair_strides((2, 8, 8, 3), (2, 5)) is None
    assert pair_strides((2, 4, 4, 3), (2, 8, 8, 3)) is None
    assert pair_strides((2, 4, 6, 3), (2, 1, 1, 5)) == (4, 6)  # pooled to one position
    assert pair_strides((2, 4, 4, 3), (2, 0, 0, 5)) is None
    assert pair_strides((2, 8, 3), (3, 8, 3)) is None  # another batch size


@pytest.mark.parametrize("features", [1, 3])
def test_a_strided_block_by_hand(features: int) -> None:
    x = np.random.default_rng(3).normal(size=(3, 8, 8, 2)).astype(np.float32)
    y = np.zeros(3, int)
    model = Strided(features)
    kernel = np.asarray(init(model, x)["params"]["down"]["kernel"], np.float64)  # (2, 2, 2, F)
    _, g_out = cotangents(model, x)  # (3, 4, 4, F)
    # g_in[b, 2i + p, 2j + q, c] = sum_o K[p, q, c, o] g_out[b, i, j, o], unshuffled as PyTorch
    # does (channel c * 4 + p * 2 + q): the row order differs from ours, the singular values not.
    g_in = np.einsum("pqco,bijo->bipjqc", kernel, g_out)
    unshuffled = g_in.transpose(0, 1, 3, 5, 2, 4).reshape(3 * 4 * 4, 2 * 2 * 2)
    expected = score_of(unshuffled.T @ g_out.reshape(-1, features) / (3 * 4 * 4))
    if features == 1:  # M is the kernel itself: g_out * g_out = 1
        assert expected == pytest.approx(score_of(kernel.reshape(-1, 1)), rel=1e-12)
    score = Trainability()(model, None, (x, y), key=KEY)
    assert score.value == pytest.approx(expected, rel=1e-5)
    assert score.extras["pairs"] == 1


def test_pairs_whose_shapes_do_not_match_are_skipped() -> None:
    x = np.random.default_rng(4).normal(size=(5, 4, 4, 2)).astype(np.float32)
    y = np.zeros(5, int)
    score = Trainability()(Mixed(), None, (x, y), key=KEY)
    assert score.extras["blocks"] == 3 and score.extras["pairs"] == 1


def test_too_few_blocks_or_pairs_are_errors_naming_the_count() -> None:
    x, y = batch(n=6)
    with pytest.raises(ScorerError, match="trainability needs at least 2 blocks, found 1"):
        Trainability()(OneBlock(), None, (x, y), key=KEY)
    images = np.zeros((2, 4, 4, 2), np.float32)
    with pytest.raises(ScorerError, match=r"no pair of consecutive blocks .* among 2 blocks"):
        Trainability()(ConvThenDense(), None, (images, np.zeros(2, int)), key=KEY)
    with pytest.raises(ScorerError, match="unknown bn 'decoupled'; valid: train, eval"):
        get("trainability", bn="decoupled")
    assert get("trainability").direction == "maximize" and Trainability.mask_invariant


SLOW = pytest.mark.slow  # about 12 s of compilation per cell and BatchNorm mode on CPU


@pytest.mark.parametrize("bn", ["train", pytest.param("eval", marks=SLOW)])
@pytest.mark.parametrize(
    ("arch", "finite"),
    [
        (
            "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
            True,
        ),
        # An identity cell: -inf.
        pytest.param(
            "|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
            False,
            marks=SLOW,
        ),
        pytest.param(
            "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
            True,
            marks=SLOW,
        ),
        pytest.param(
            "|skip_connect~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|",
            True,
            marks=SLOW,
        ),
        # A zero cell (sigma = 0): -inf.
        pytest.param("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", False, marks=SLOW),
    ],
)
def test_the_masked_supernet_scores_as_the_built_network(arch: str, finite: bool, bn: str) -> None:
    pair = nb201_pair(arch)
    scorer = Trainability(bn=bn)  # type: ignore[arg-type]
    supernet = scorer(pair.supernet, pair.mask, pair.data, key=KEY)
    network = scorer(pair.built, None, pair.data, key=KEY)
    assert supernet.value == pytest.approx(network.value, rel=1e-5, abs=1e-6)
    assert supernet.extras["pairs"] == network.extras["pairs"] == 7
    assert math.isfinite(network.value) == finite


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_largest_singular_value_of_a_non_finite_matrix_is_nan(bad: float) -> None:
    assert largest_singular_value(np.array([[3.0, 0.0], [0.0, 4.0]])) == pytest.approx(4.0)
    assert math.isnan(largest_singular_value(np.array([[bad, 1.0], [0.0, 1.0]])))
