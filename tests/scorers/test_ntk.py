"""NTK scorers against a dense float64 NTK from `jax.jacfwd`; invariances; degenerate networks."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax.traverse_util import flatten_dict

import ntk_nas
from scorers import NTKEigSpectrum, NTKTrace, ScorerError, get, ntk_cond
from scorers._model import init_variables, with_batch_statistics
from scorers.ntk import (
    TENAS_LEAVES,
    _compile,
    _shared_and_stacked,
    _varying,
    condition_number,
    eigenvalues,
    ntk_cost,
    ntk_kernels,
    ntk_kernels_many,
)
from search_spaces.nb201 import NB201Space
from tests.scorers.models import (
    MLP,
    Scaled,
    batch,
    condition,
    init,
    nb201_pair,
    reference_ntk,
)

KEY = jax.random.key(0)
X, Y = batch()
MODEL = MLP()
VARIABLES = init(MODEL, X)


@pytest.mark.parametrize(
    ("bn", "output"), [("train", "sum_logits"), ("train", "trace"), ("eval", "sum_logits")]
)
def test_ntk_cond_matches_the_dense_float64_reference(bn: str, output: str) -> None:
    score = ntk_cond(bn=bn, output=output)(MODEL, VARIABLES, (X, Y), key=KEY)
    kernel = reference_ntk(MODEL, VARIABLES, X, train=bn == "train", output=output)
    eigs = np.linalg.eigvalsh(kernel)
    np.testing.assert_allclose(score.value, condition(kernel), rtol=1e-3)
    np.testing.assert_allclose(score.extras["lambda_max"], eigs[-1], rtol=1e-4)
    np.testing.assert_allclose(score.extras["lambda_min"], eigs[0], rtol=1e-3)
    np.testing.assert_allclose(score.extras["trace"], np.trace(kernel), rtol=1e-4)
    assert score.extras["log10_cond"] == pytest.approx(math.log10(score.value))


def test_decoupled_batchnorm_holds_the_batch_statistics_constant() -> None:
    # MLP: Dense_0 -> BatchNorm_0 -> ...; the statistics of Dense_0's output on the batch, by hand.
    dense = VARIABLES["params"]["Dense_0"]
    hidden = X.astype(np.float64) @ np.asarray(dense["kernel"]) + np.asarray(dense["bias"])
    stats = {"BatchNorm_0": {"mean": hidden.mean(axis=0), "var": hidden.var(axis=0)}}
    decoupled = {**VARIABLES, "batch_stats": stats}
    # Eval mode with these statistics normalises the batch as training mode does ...
    np.testing.assert_allclose(
        MODEL.apply(decoupled, X, train=False),
        MODEL.apply(VARIABLES, X, train=True, mutable=["batch_stats"])[0],
        rtol=1e-4,
        atol=1e-5,
    )
    # ... and the decoupled NTK is its NTK, which is not the batch-coupled one.
    kernel = reference_ntk(MODEL, decoupled, X, train=False)
    (ours,) = ntk_kernels(MODEL, VARIABLES, X, KEY, bn="decoupled")
    np.testing.assert_allclose(ours, kernel, rtol=1e-4, atol=1e-4 * np.abs(kernel).max())
    coupled = reference_ntk(MODEL, VARIABLES, X, train=True)
    assert not np.allclose(kernel, coupled, rtol=1e-2)
    score = ntk_cond(bn="decoupled")(MODEL, VARIABLES, (X, Y), key=KEY)
    np.testing.assert_allclose(score.value, condition(kernel), rtol=1e-3)


def test_the_ntk_scorers_default_to_decoupled_batchnorm() -> None:
    assert ntk_cond().bn == NTKTrace().bn == NTKEigSpectrum().bn == "decoupled"
    assert ntk_cond("tenas").bn == "train"


def test_only_the_ntk_scorers_offer_decoupled_batchnorm() -> None:
    with pytest.raises(ScorerError, match="unknown bn 'decoupled'; valid: train, eval"):
        get("naswot", bn="decoupled")
    assert get("ntk_dynamics", bn="decoupled").bn == "decoupled"


def test_trace_and_spectrum_match_the_reference() -> None:
    kernel = reference_ntk(MODEL, VARIABLES, X, train=True)
    eigs = np.linalg.eigvalsh(kernel)[::-1]
    trace = NTKTrace(bn="train")(MODEL, VARIABLES, (X, Y), key=KEY)
    per_sample = NTKTrace(bn="train", normalize=True)(MODEL, VARIABLES, (X, Y), key=KEY)
    spectrum = NTKEigSpectrum(bn="train", top_k=3)(MODEL, VARIABLES, (X, Y), key=KEY)
    np.testing.assert_allclose(trace.value, np.trace(kernel), rtol=1e-4)
    np.testing.assert_allclose(per_sample.value, np.trace(kernel) / len(X), rtol=1e-4)
    top = [spectrum.extras[f"eig_{i}"] for i in (1, 2, 3)]
    np.testing.assert_allclose(top, eigs[:3], rtol=1e-4)
    assert spectrum.value == spectrum.extras["eig_1"]
    assert "eig_4" not in spectrum.extras


def test_tenas_preset_differentiates_only_kernels_and_scales() -> None:
    scorer = ntk_cond("tenas", batch_size=len(X))
    score = scorer(MODEL, VARIABLES, (X, Y), key=KEY)
    only = reference_ntk(MODEL, VARIABLES, X, train=True, leaves={"kernel", "scale"})
    every = reference_ntk(MODEL, VARIABLES, X, train=True)
    assert scorer.name == "ntk_cond_tenas" and scorer.leaves == TENAS_LEAVES
    np.testing.assert_allclose(score.extras["trace"], np.trace(only), rtol=1e-4)
    np.testing.assert_allclose(score.value, condition(only), rtol=1e-3)
    assert not np.isclose(np.trace(only), np.trace(every), rtol=1e-3)


def test_tenas_preset_reinitialises_like_tenas_and_scores_a_supernet_as_the_network() -> None:
    assert ntk_cond("tenas").init == "kaiming_fan_out" and ntk_cond().init == "model"
    pair = nb201_pair(
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    )
    scorer = ntk_cond("tenas", batch_size=6, repeats=2)
    supernet = scorer(pair.supernet, pair.mask, pair.data, key=KEY)
    network = scorer(pair.built, None, pair.data, key=KEY)
    model_init = ntk_cond("tenas", batch_size=6, repeats=2, init="model")
    assert supernet.value == pytest.approx(network.value, rel=1e-3)
    assert supernet.extras["trace"] == pytest.approx(network.extras["trace"], rel=1e-5)
    assert not math.isclose(
        model_init(pair.built, None, pair.data, key=KEY).extras["trace"],
        network.extras["trace"],
        rel_tol=1e-2,
    )


def test_condition_number_is_invariant_to_scaling_the_output() -> None:
    scaled = Scaled(MODEL, 7.0)
    variables = {c: {"inner": tree} for c, tree in VARIABLES.items()}
    plain = ntk_cond()(MODEL, VARIABLES, (X, Y), key=KEY)
    scaled_score = ntk_cond()(scaled, variables, (X, Y), key=KEY)
    np.testing.assert_allclose(scaled_score.value, plain.value, rtol=1e-4)
    np.testing.assert_allclose(scaled_score.extras["trace"], 49 * plain.extras["trace"], rtol=1e-4)


def test_repeats_initialise_from_split_keys_and_aggregate() -> None:
    keys = jax.random.split(KEY, 3)
    per_init = [
        ntk_cond()(MODEL, MODEL.init(k, jnp.asarray(X[:1])), (X, Y), key=KEY).value for k in keys
    ]
    median = ntk_cond(repeats=3)(MODEL, None, (X, Y), key=KEY)
    mean = ntk_cond(repeats=3, aggregate="mean")(MODEL, None, (X, Y), key=KEY)
    np.testing.assert_allclose(median.value, np.median(per_init), rtol=1e-4)
    np.testing.assert_allclose(mean.value, np.mean(per_init), rtol=1e-4)
    kernels = ntk_kernels(MODEL, None, jnp.asarray(X), KEY, repeats=3)  # one call
    assert kernels.shape == (3, len(X), len(X))
    assert not np.allclose(kernels[0], kernels[1])


def test_ntk_cost_is_the_engines_plan_from_shapes_alone() -> None:
    def apply(params, x):
        return MODEL.apply(params, x, train=False).sum(axis=1)

    x = jnp.asarray(X)
    plan = ntk_nas.empirical_ntk_fn(apply).plan(VARIABLES, x)
    assert ntk_cost(MODEL, VARIABLES, x, bn="eval") == pytest.approx(plan.cost)
    assert ntk_cost(MODEL, None, jax.ShapeDtypeStruct(x.shape, x.dtype), bn="eval") == (
        pytest.approx(plan.cost)
    )
    assert ntk_cost(MODEL, {}, x, bn="eval") == pytest.approx(plan.cost)  # no "params" given
    scorer = ntk_cond(bn="eval", repeats=3)
    assert scorer.estimated_cost(MODEL, None, x) == pytest.approx(3 * plan.cost)
    assert scorer.estimated_cost(MODEL, VARIABLES, x) == pytest.approx(plan.cost)


def test_score_many_equals_one_call_per_variables() -> None:
    variables = [init(MODEL, X, seed) for seed in range(3)]
    scorer = ntk_cond(bn="decoupled", repeats=1)
    many = scorer.score_many(MODEL, variables, (X, Y), key=KEY)
    for one_variables, score in zip(variables, many, strict=True):
        one = scorer(MODEL, one_variables, (X, Y), key=KEY)
        np.testing.assert_allclose(score.value, one.value, rtol=1e-4)
        np.testing.assert_allclose(score.extras["trace"], one.extras["trace"], rtol=1e-5)
    kernels = ntk_kernels_many(MODEL, [None, None], jnp.asarray(X), KEY, repeats=2)
    assert kernels.shape == (2, 2, len(X), len(X))  # entries without parameters share the keys
    np.testing.assert_allclose(kernels[0], kernels[1], rtol=1e-6)
    assert not np.allclose(kernels[0, 0], kernels[0, 1])


def test_kernels_vmapped_as_on_an_accelerator_equal_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looped = ntk_kernels(MODEL, None, jnp.asarray(X), KEY, repeats=3)
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    vmapped = ntk_kernels(MODEL, None, jnp.asarray(X), KEY, repeats=3)
    np.testing.assert_allclose(vmapped, looped, rtol=1e-5, atol=1e-6 * abs(looped).max())


def test_masks_vmapped_as_on_an_accelerator_share_the_parameters_and_equal_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cells = (
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
        "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|none~2|",
        "|none~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|avg_pool_3x3~0|skip_connect~1|none~2|",
    )
    pairs = [nb201_pair(cell) for cell in cells]
    module, x = pairs[0].supernet, jnp.asarray(pairs[0].data[0])
    masks = [pair.mask for pair in pairs]
    looped = ntk_kernels_many(module, masks, x, KEY, bn="decoupled")
    inits = [with_batch_statistics(module, init_variables(module, m, x, KEY), x) for m in masks]
    flats = [flatten_dict(v) for v in inits]
    shared, stacked = _shared_and_stacked(flats, _varying(flats))
    assert {path[0] for path in stacked} == {"arch", "batch_stats"}
    assert {path for path in flats[0] if path[0] == "params"} <= shared.keys()
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    vmapped = ntk_kernels_many(module, masks, x, KEY, bn="decoupled")
    np.testing.assert_allclose(vmapped, looped, rtol=1e-5, atol=1e-6 * abs(looped).max())
    alone = ntk_kernels(pairs[1].built, None, x, KEY, bn="decoupled")
    np.testing.assert_allclose(looped[1], alone, rtol=1e-4, atol=1e-6 * abs(alone).max())
    assert not np.allclose(looped[0], looped[1], rtol=1e-2)


@pytest.mark.parametrize(
    ("precision", "lowered"), [("float32", "HIGHEST"), ("tensorfloat32", "HIGH")]
)
def test_the_precision_option_reaches_every_product_of_the_kernel(
    precision: str, lowered: str
) -> None:
    x = jnp.asarray(X)
    ntk_cond(precision=precision, repeats=1, bn="eval")(MODEL, VARIABLES, (X, Y), key=KEY)
    compiled = _compile(MODEL, "sum_logits", False, None, "auto", precision)  # the scorer's
    text = compiled.kernel.lower(VARIABLES, x).as_text()
    products = [line for line in text.splitlines() if "dot_general" in line]
    assert products and all(f"precision = [{lowered}, {lowered}]" in line for line in products), (
        products
    )


@pytest.mark.parametrize("count", [1, 3, 5])
def test_kernels_spread_over_devices_equal_one_device(count: int) -> None:
    devices = jax.local_devices()  # tests/conftest.py asks for 4 host devices
    assert len(devices) == 4
    one = ntk_kernels(MODEL, None, jnp.asarray(X), KEY, repeats=count)
    spread = ntk_kernels_many(MODEL, [None], jnp.asarray(X), KEY, repeats=count, devices=devices)
    np.testing.assert_allclose(spread[0], one, rtol=1e-5, atol=1e-6 * abs(one).max())


def test_spreading_compiles_once_per_share_of_the_devices() -> None:
    devices = jax.local_devices()[:2]
    x = jnp.asarray(X)
    ntk_kernels(MODEL, None, x, KEY, repeats=4)  # compiles drawing 4 initialisations
    ntk_kernels(MODEL, None, x, KEY, repeats=3, devices=devices)  # 2 kernels per device
    with ntk_nas.count_compilations() as compiled:
        ntk_kernels(MODEL, None, x, KEY, repeats=4, devices=devices)
    assert compiled.count == 0


def test_batch_size_keeps_the_first_rows() -> None:
    head = ntk_cond(batch_size=6)(MODEL, VARIABLES, (X, Y), key=KEY)
    np.testing.assert_allclose(
        head.value, ntk_cond()(MODEL, VARIABLES, (X[:6], Y[:6]), key=KEY).value, rtol=1e-6
    )


def test_a_dead_network_scores_the_worst() -> None:
    dead = jax.tree.map(jnp.zeros_like, VARIABLES)
    score = ntk_cond()(MODEL, dead, (X, Y), key=KEY)
    assert score.value == math.inf and score.extras["log10_cond"] == math.inf
    assert ntk_cond("tenas", batch_size=len(X))(MODEL, dead, (X, Y), key=KEY).value == 1e5


def test_a_non_finite_kernel_scores_the_worst_with_nan_extras() -> None:
    broken = jax.tree.map(lambda v: jnp.full_like(v, jnp.nan), VARIABLES)
    score = ntk_cond()(MODEL, broken, (X, Y), key=KEY)
    assert score.value == math.inf
    assert all(math.isnan(score.extras[k]) for k in ("lambda_max", "lambda_min", "trace"))
    assert ntk_cond("tenas", batch_size=len(X))(MODEL, broken, (X, Y), key=KEY).value == 1e5


def test_condition_number_guards_round_off() -> None:
    eps = float(np.finfo(np.float32).eps)
    assert condition_number(np.array([2.0, 4.0]), eps) == 2.0
    assert condition_number(np.array([-1e-9, 1.0, 4.0]), eps) == math.inf
    assert condition_number(np.array([1e-8, 4.0]), eps) == math.inf
    assert condition_number(np.array([4.0 * 2 * eps, 4.0]), eps) == math.inf  # at the bound
    assert condition_number(np.zeros(3), eps, degenerate=1e5) == 1e5


def test_eigenvalues_are_those_of_the_kernels_symmetric_part() -> None:
    """Round-off can leave a kernel slightly asymmetric: both triangles count, not one."""
    lopsided = np.array([[2.0, 1.0], [0.0, 2.0]])
    np.testing.assert_allclose(eigenvalues(lopsided), [1.5, 2.5])
    assert eigenvalues(np.array([[1.0, np.nan], [np.nan, 1.0]])) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"repeats": 0}, "repeats must be a positive integer"),
        ({"output": "full"}, "unknown output 'full'; valid: sum_logits, trace"),
        ({"aggregate": "max"}, "unknown aggregate"),
        ({"bn": "frozen"}, "unknown bn"),
        ({"preset": "nasi"}, "unknown preset 'nasi'; valid: default, tenas"),
        ({"implementation": "magic"}, "unknown implementation"),
        ({"init": "xavier"}, "unknown init 'xavier'; valid: model, kaiming_fan_out"),
        ({"precision": "float16"}, "unknown precision 'float16'; valid: float32, tensorfloat32"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"colour": "red"}, "ntk_cond takes no option colour"),
    ],
)
def test_bad_options_are_scorer_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ScorerError, match=message):
        get("ntk_cond", **options)


def test_leaves_given_as_a_list_are_kept_as_a_frozenset() -> None:
    scorer = get("ntk_cond", leaves=["kernel", "scale"])
    assert scorer.leaves == frozenset({"kernel", "scale"})
    assert hash(scorer) == hash(get("ntk_cond", leaves=("scale", "kernel")))


def test_the_spectrum_needs_a_positive_top_k() -> None:
    with pytest.raises(ScorerError, match="top_k must be a positive integer, got 0"):
        get("ntk_eig_spectrum", top_k=0)


@pytest.mark.parametrize("name", ["ntk_cond", "ntk_trace", "ntk_dynamics"])
def test_function_only_scorers_score_a_dead_conv_as_its_canonical_cell(name: str) -> None:
    """A conv into a node that reaches the output through nothing adds parameters, not function:
    the NTK scorers (``function_only``) score the cell as its canonical form."""
    archs = (
        "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|",
        "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|",
    )
    space = NB201Space()
    assert space.to_str(space.canonical(space.from_str(archs[0]))) == archs[1]
    dead, canonical = (nb201_pair(arch) for arch in archs)
    scorer = get(name, repeats=1) if name != "ntk_dynamics" else get(name)
    assert scorer.function_only
    scores = [scorer(p.built, None, p.data, key=KEY) for p in (dead, canonical)]
    np.testing.assert_allclose(scores[0].value, scores[1].value, rtol=1e-5)
