"""NAS-Bench-201: strings, enumeration, suggestions, parameter counts, modules, canonical form."""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optuna
import pytest
from flax import traverse_util

from search_spaces import NB201Arch, NB201Space, SearchSpaceError
from search_spaces.base import count_params
from search_spaces.nb201 import (
    EDGES,
    OPS,
    NB201Cell,
    ResNetBasicBlock,
    canonical_ops,
    op_owner,
)

KeyFn = Callable[[int], jax.Array]
SPACE = NB201Space()
#: Arch index 1 of the benchmark.
EXAMPLE = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
)
SLICE = Path(__file__).parent / "data" / "nb201_params_slice.csv"


def arch(*ops: str) -> NB201Arch:
    return NB201Arch(ops)


def uniform(op: str) -> NB201Arch:
    return NB201Arch((op,) * len(EDGES))


def test_string_round_trip() -> None:
    parsed = SPACE.from_str(EXAMPLE)
    assert parsed.ops == (
        "nor_conv_3x3",
        "nor_conv_3x3",
        "avg_pool_3x3",
        "skip_connect",
        "nor_conv_3x3",
        "skip_connect",
    )
    assert SPACE.to_str(parsed) == EXAMPLE
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = SPACE.sample(rng)
        assert SPACE.from_str(SPACE.to_str(a)) == a


@pytest.mark.parametrize(
    ("bad", "parts"),
    [
        (
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|",
            ["has 2 '+'-separated node groups, expected 3", "|op~0|+|op~0|op~1|+"],
        ),
        (
            EXAMPLE.replace("avg_pool_3x3", "max_pool_3x3"),
            ["'max_pool_3x3'", "'max_pool_3x3~1'", "valid: 'none', 'skip_connect'"],
        ),
        (EXAMPLE.replace("avg_pool_3x3~1", "avg_pool_3x3~5"), ["'avg_pool_3x3~5'", "'op~1'"]),
        (EXAMPLE.replace("skip_connect~2", "skip_connect2"), ["'skip_connect2'", "edge 3<-2"]),
        (
            EXAMPLE.replace("|skip_connect~2|", "|"),
            ["'|skip_connect~0|nor_conv_3x3~1|'", "expected 3", "[0, 1, 2]"],
        ),
        (EXAMPLE.replace("|+|", "+", 1), ["'|nor_conv_3x3~0'", "expected 1"]),
    ],
)
def test_from_str_errors_quote_the_bad_part(
    bad: str, parts: list[str], error_quotes: Callable[..., None]
) -> None:
    error_quotes(lambda: SPACE.from_str(bad), *parts)


def test_arch_validates_ops(error_quotes: Callable[..., None]) -> None:
    example = SPACE.from_str(EXAMPLE)
    assert NB201Arch(list(example.ops)) == example
    assert hash(NB201Arch(list(example.ops))) == hash(example)
    error_quotes(lambda: arch(*OPS), "6 edges, got 5 ops")
    error_quotes(
        lambda: arch("none", "none", "none", "none", "none", "conv"),
        "edge 3<-2: 'conv'",
        "valid: 'none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3'",
    )


def test_enumerate_yields_every_arch_once_in_order() -> None:
    archs = list(SPACE.enumerate())
    assert len(archs) == len(set(archs)) == 5**6
    assert archs[0] == uniform("none") and archs[-1] == uniform("avg_pool_3x3")
    assert archs[1] == arch("none", "none", "none", "none", "none", "skip_connect")
    assert archs == list(SPACE.enumerate())


def test_suggest_with_optuna() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    a = SPACE.suggest(trial)
    assert list(trial.params) == [
        "edge_1<-0",
        "edge_2<-0",
        "edge_2<-1",
        "edge_3<-0",
        "edge_3<-1",
        "edge_3<-2",
    ]
    assert tuple(trial.params.values()) == a.ops
    fixed = dict(zip(trial.params, SPACE.from_str(EXAMPLE).ops, strict=True))
    assert SPACE.suggest(optuna.trial.FixedTrial(fixed)) == SPACE.from_str(EXAMPLE)


def test_sample_is_reproducible_and_covers_every_op() -> None:
    a, b = (SPACE.sample(np.random.default_rng(5)) for _ in range(2))
    assert a == b
    rng = np.random.default_rng(0)
    ops = [SPACE.sample(rng).ops for _ in range(50)]
    for e in range(len(EDGES)):
        assert {o[e] for o in ops} == set(OPS)


# Hand-derived counts of the benchmark network (C=16, N=5, 10 classes); convs have no bias and every
# BatchNorm has a scale and a shift.
#   stem: conv 3*16*9 = 432, BN 32                                          ->    464
#   basic block 16->32: conv_a 16*32*9 = 4608 + BN 64, conv_b 32*32*9 = 9216 + BN 64,
#                       shortcut 1x1 16*32 = 512                            ->  14464
#   basic block 32->64: 18432 + 128 + 36864 + 128 + 2048                    ->  57600
#   last BN 2*64 = 128; classifier 64*10 + 10 = 650                         ->    778
#   total without cell params (all-none cells)                              ->  73306
# A conv op (ReLU, conv, BN) on one edge, in 5 cells per stage at C = 16, 32, 64:
#   nor_conv_1x1: 5*(16*16 + 32) + 5*(32*32 + 64) + 5*(64*64 + 128) = 1440 + 5440 + 21120 = 28000
#   nor_conv_3x3: 5*(9*16*16 + 32) + 5*(9*32*32 + 64) + 5*(9*64*64 + 128)
#               = 11680 + 46400 + 184960 = 243040
# none, skip_connect and avg_pool_3x3 have no parameters.
@pytest.mark.parametrize(
    ("a", "expected"),
    [
        (uniform("none"), 73306),
        (uniform("skip_connect"), 73306),
        (uniform("avg_pool_3x3"), 73306),
        (uniform("nor_conv_1x1"), 73306 + 6 * 28000),
        (uniform("nor_conv_3x3"), 73306 + 6 * 243040),
        (SPACE.from_str(EXAMPLE), 73306 + 3 * 243040),
        (
            arch("nor_conv_1x1", "none", "nor_conv_3x3", "avg_pool_3x3", "nor_conv_1x1", "none"),
            73306 + 2 * 28000 + 243040,
        ),
    ],
)
def test_num_params_hand_derived(a: NB201Arch, expected: int) -> None:
    assert SPACE.num_params(a) == expected


# The slice's first 10 rows in the default run; the other 20 are the same check (slow).
@pytest.mark.parametrize(
    "part", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)]
)
def test_num_params_match_the_benchmark_slice(part: int) -> None:
    """30 rows of the benchmark's parameter counts (see data/README.md), in millions to 1e-6."""
    with SLICE.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 30
    for row in rows[10 * part : 10 * (part + 1)]:
        n = SPACE.num_params(SPACE.from_str(row["arch_str"]))
        assert abs(n / 1e6 - float(row["params_mb"])) < 5e-7, row


@pytest.mark.parametrize(
    "options",
    [{}, {"C": 4, "N": 1, "num_classes": 3}, {"C": 1, "N": 1, "depth": 1, "stem": False}],
)
def test_num_params_equal_the_built_networks_count(options: dict[str, Any]) -> None:
    """The per-op sum equals tracing each network, for every op on every edge position."""
    rng = np.random.default_rng(0)
    archs = [NB201Arch(tuple(rng.choice(OPS, size=len(EDGES)))) for _ in range(6)]
    archs += [NB201Arch(tuple(op if e == edge else "none" for e in range(6))) for edge in range(6)
              for op in ("nor_conv_1x1", "nor_conv_3x3")]  # fmt: skip
    shape = (8, 8, 1) if options.get("stem") is False else SPACE.input_shape
    space = NB201Space(shape)
    for a in archs:
        assert space.num_params(a, **options) == count_params(space.build(a, **options), shape), a


def test_num_params_scale_with_options() -> None:
    # C=4, N=1, 3 classes, all-none cells: stem 3*4*9 + 8 = 116; block 4->8: 288 + 16 + 576 + 16
    # + 32 = 928; block 8->16: 1152 + 32 + 2304 + 32 + 128 = 3648; last BN 32; classifier 16*3 + 3
    # = 51. Total 4775.
    assert SPACE.num_params(uniform("none"), C=4, N=1, num_classes=3) == 4775


def test_forward_every_op_both_modes(forward: Callable[..., Any], images: jax.Array) -> None:
    a = arch("nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "none", "nor_conv_3x3")
    fwd = forward(SPACE.build(a, C=4, N=1, num_classes=3), images)
    assert fwd.y_eval.shape == fwd.y_train.shape == (2, 3)
    params = fwd.variables["params"]
    # N=1: cells_0 (C), cells_1 (basic block), cells_2 (2C), cells_3 (basic block), cells_4 (4C).
    assert set(params) == {"stem_conv", "stem_bn", "lastact_bn", "classifier"} | {
        f"cells_{k}" for k in range(5)
    }
    assert set(params["cells_0"]) == {"edge_1_0", "edge_2_0", "edge_3_2"}
    assert params["cells_0"]["edge_1_0"]["nor_conv_1x1"]["conv"]["kernel"].shape == (1, 1, 4, 4)
    assert params["cells_2"]["edge_3_2"]["nor_conv_3x3"]["conv"]["kernel"].shape == (3, 3, 8, 8)
    assert set(params["cells_1"]) == {"conv_a", "conv_b", "downsample"}


def test_basic_block_halves_the_resolution_and_adds_its_shortcut(key: KeyFn) -> None:
    x = jax.random.normal(key(1), (2, 8, 8, 4))
    block = ResNetBasicBlock(8)
    variables = block.init(key(0), x)
    assert block.apply(variables, x).shape == (2, 4, 4, 8)
    # With conv_b's BatchNorm zeroed, the block is its shortcut: a 1x1 conv of the 2x2 average.
    params = variables["params"]
    silent = {k: jnp.zeros_like(v) for k, v in params["conv_b"]["bn"].items()}
    zeroed = {**variables, "params": {**params, "conv_b": {**params["conv_b"], "bn": silent}}}
    pooled = nn.avg_pool(x, (2, 2), (2, 2))
    shortcut = jnp.einsum("nhwc,cd->nhwd", pooled, params["downsample"]["kernel"][0, 0])
    np.testing.assert_allclose(block.apply(zeroed, x), shortcut, rtol=1e-5, atol=1e-6)


def apply_cell(a: NB201Arch, x: jax.Array, key: KeyFn) -> jax.Array:
    cell = NB201Cell(a, x.shape[-1])
    return cell.apply(cell.init(key(0), x), x)


def test_cell_sums_its_edges(key: KeyFn) -> None:
    x = jax.random.normal(key(0), (2, 4, 4, 3))
    # node1 = x, node2 = node1, node3 = node0 + node1 + node2 = 3x.
    skips = arch(
        "skip_connect", "none", "skip_connect", "skip_connect", "skip_connect", "skip_connect"
    )
    np.testing.assert_allclose(apply_cell(skips, x, key), 3 * x, rtol=1e-6)
    # node3 = avg_pool(node2) with node2 = x; all-none: zeros.
    pool = arch("none", "skip_connect", "none", "none", "none", "avg_pool_3x3")
    np.testing.assert_allclose(
        apply_cell(pool, x, key),
        nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False),
        rtol=1e-6,
    )
    np.testing.assert_array_equal(apply_cell(uniform("none"), x, key), jnp.zeros_like(x))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # Already canonical: every node is non-zero and reaches node 3.
        (EXAMPLE, EXAMPLE),
        # Node 1 is zero: the skip and the pooling out of it contribute nothing.
        (
            "|none~0|+|skip_connect~0|skip_connect~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",
            "|none~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_3x3~2|",
        ),
        # Node 1 is zero but the conv out of it gives the BatchNorm shift: kept.
        (
            "|none~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|",
            "|none~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|",
        ),
        # Nodes 1 and 2 do not reach node 3: the ops into them are dropped.
        (
            "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|",
            "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
        ),
        # Node 2 is dead (benchmark arch 296); node 1 still reaches node 3.
        (
            "|skip_connect~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|none~2|",
            "|skip_connect~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|",
        ),
        # Node 3 is zero: the whole cell is zero.
        (
            "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|none~2|",
            "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        ),
        # Zero propagates: node 2 = skip(zero node 1), so the pooling out of node 2 is dropped too.
        (
            "|none~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|",
            "|none~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|",
        ),
    ],
)
def test_canonical_examples(before: str, after: str) -> None:
    assert SPACE.to_str(SPACE.canonical(SPACE.from_str(before))) == after


def test_canonical_is_idempotent_and_only_drops_ops() -> None:
    representatives = set()
    for a in SPACE.enumerate():
        c = canonical_ops(a.ops)
        assert canonical_ops(c) == c
        assert all(new in (old, "none") for old, new in zip(a.ops, c, strict=True))
        representatives.add(c)
    assert uniform("none").ops in representatives
    assert len(representatives) < 5**6


def perturbed_variables(a: NB201Arch, x: jax.Array, key: KeyFn) -> dict[str, Any]:
    """Cell variables plus uniform(0.5, 1.5) noise, so that BatchNorm shifts are not zero."""
    variables = NB201Cell(a, x.shape[-1]).init(key(0), x)
    leaves, treedef = jax.tree.flatten(variables)
    keys = jax.random.split(key(1), len(leaves))
    noisy = [
        leaf + jax.random.uniform(k, leaf.shape, minval=0.5, maxval=1.5)
        for k, leaf in zip(keys, leaves, strict=True)
    ]
    return jax.tree.unflatten(treedef, noisy)


def restrict(tree: Any, like: Any) -> Any:
    """The sub-tree of nested dicts ``tree`` with the keys of ``like``."""
    if isinstance(like, dict):
        return {k: restrict(tree[k], v) for k, v in like.items()}
    return tree


@pytest.mark.parametrize(
    "s",
    [
        "|none~0|+|skip_connect~0|skip_connect~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_3x3~2|",
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|",
    ],
)
@pytest.mark.parametrize("train", [False, True])
def test_canonical_computes_the_same_function(s: str, train: bool, key: KeyFn) -> None:
    a = SPACE.from_str(s)
    c = SPACE.canonical(a)
    assert c != a
    x = jax.random.normal(key(2), (2, 4, 4, 3))
    variables = perturbed_variables(a, x, key)
    # The canonical cell's parameters are a sub-tree of the original's (edge_{j}_{i}/{op} keys).
    c_variables = restrict(variables, jax.eval_shape(NB201Cell(c, 3).init, key(0), x))
    y_a = NB201Cell(a, 3).apply(variables, x, train=train, mutable=["batch_stats"])[0]
    y_c = NB201Cell(c, 3).apply(c_variables, x, train=train, mutable=["batch_stats"])[0]
    np.testing.assert_allclose(y_c, y_a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("train", [False, True])
def test_a_conv_out_of_a_zero_node_is_not_zero(train: bool, key: KeyFn) -> None:
    a = SPACE.from_str("|none~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|")
    x = jax.random.normal(key(2), (2, 4, 4, 3))
    y = NB201Cell(a, 3).apply(
        perturbed_variables(a, x, key), x, train=train, mutable=["batch_stats"]
    )[0]
    # So replacing that conv by none (a zero cell) would change the function.
    assert float(jnp.abs(y).max()) > 0.1


MASKED_ARCHS = [
    "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|skip_connect~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|",
]


def _flat(tree: Any) -> dict[tuple[str, ...], Any]:
    return traverse_util.flatten_dict(tree)


@functools.cache
def _supernet(key: KeyFn) -> tuple[Any, jax.Array, dict[str, Any]]:
    """The masked supernet (C=4, N=1, 8x8x3 inputs), a batch of 3 and its variables from
    ``key(0)``, initialised once for the tests below (which do not mutate them)."""
    masked = NB201Space((8, 8, 3)).masked(C=4, N=1)
    x = jax.random.normal(key(2), (3, 8, 8, 3))
    return masked, x, masked.module.init(key(0), x)


# Each op and each BatchNorm mode in the default run (the first cell in train mode, the third in
# eval mode); the other pairs are the same check on other cells (slow).
@pytest.mark.parametrize(
    ("s", "train"),
    [
        pytest.param(
            s,
            train,
            marks=() if (i, train) in ((0, True), (2, False)) else pytest.mark.slow,
            id=f"{i}-{'train' if train else 'eval'}",
        )
        for train in (False, True)
        for i, s in enumerate(MASKED_ARCHS)
    ],
)
def test_masked_supernet_is_the_network_it_selects(s: str, train: bool, key: KeyFn) -> None:
    space = NB201Space((8, 8, 3))
    arch = space.from_str(s)
    masked, x, initial = _supernet(key)
    network = space.build(arch, C=4, N=1)
    variables = network.init(key(0), x)
    supernet_variables = {**initial, **masked.select(arch)}
    # Same key, same parameters at the same paths; the supernet has every other op's too.
    ours, theirs = _flat(variables["params"]), _flat(supernet_variables["params"])
    assert set(ours) < set(theirs)
    for path, leaf in ours.items():
        np.testing.assert_array_equal(leaf, theirs[path])

    def outputs(module: nn.Module, params: Any, v: Any) -> jax.Array:
        return module.apply({**v, "params": params}, x, train=train, mutable=["batch_stats"])[0]

    np.testing.assert_allclose(
        outputs(masked.module, supernet_variables["params"], supernet_variables),
        outputs(network, variables["params"], variables),
        rtol=1e-5,
        atol=1e-6,
    )

    # The ops the cell does not use get exactly zero gradient; the others, the network's.
    def gradient(module: nn.Module, v: Any) -> dict[tuple[str, ...], Any]:
        loss = lambda params, v: outputs(module, params, v).sum()
        return _flat(jax.jit(jax.grad(loss))(v["params"], v))  # compiles faster than op by op

    grads, network_grads = gradient(masked.module, supernet_variables), gradient(network, variables)
    for path, grad in grads.items():
        if path in network_grads:
            np.testing.assert_allclose(grad, network_grads[path], rtol=1e-4, atol=1e-6)
        else:
            assert not np.any(grad), path


def test_masked_supernet_masks_select_one_op_per_edge() -> None:
    arch = SPACE.from_str(MASKED_ARCHS[0])
    mask = SPACE.masked().select(arch)["arch"]["ops"]
    assert mask.shape == (len(EDGES), len(OPS)) and mask.dtype == np.float32
    assert [OPS[k] for k in mask.argmax(axis=1)] == list(arch.ops)
    np.testing.assert_array_equal(mask.sum(axis=1), 1.0)
    relaxation = SPACE.masked().relaxation
    assert relaxation is not None
    with pytest.raises(SearchSpaceError, match=r"must have shape \(6, 5\), got \(6, 4\)"):
        relaxation.weigh(np.ones((6, 4)))


def test_op_owner_finds_the_edge_and_op_of_a_cell_parameter() -> None:
    path = ("cells_1", "edge_2_1", "nor_conv_3x3", "conv", "kernel")
    assert op_owner(path) == (EDGES.index((2, 1)), OPS.index("nor_conv_3x3"))
    assert op_owner(("stem", "conv", "kernel")) is None
    assert op_owner(("cells_1", "edge_3_0")) is None  # the edge itself holds no parameter


def test_masked_supernet_vmaps_over_masks_and_is_nan_for_a_non_finite_one(key: KeyFn) -> None:
    masked, x, variables = _supernet(key)
    masks = jnp.stack(
        [masked.select(NB201Space().from_str(s))["arch"]["ops"] for s in MASKED_ARCHS[:2]]
    )

    def outputs(mask: jax.Array) -> jax.Array:
        return masked.module.apply({**variables, "arch": {"ops": mask}}, x)

    one_by_one = jnp.stack([outputs(mask) for mask in masks])
    vmapped = jax.jit(jax.vmap(outputs))(masks)  # jitted: compiles faster than op by op
    np.testing.assert_allclose(vmapped, one_by_one, rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(one_by_one))
    assert np.all(np.isnan(outputs(masks[0].at[2, 1].set(jnp.inf))))


def test_tenas_thin_network_one_cell_without_stem(key: KeyFn) -> None:
    """TE-NAS's network for linear regions: one cell of C=1 channels on one-channel 3x3 inputs;
    its supernet computes the selected cell's network."""
    space = NB201Space((3, 3, 1))
    thin = {"C": 1, "N": 1, "depth": 1, "stem": False}
    arch = space.from_str(MASKED_ARCHS[0])
    network = space.build(arch, **thin)
    x = jax.random.normal(key(1), (5, 3, 3, 1))
    variables = network.init(key(0), x)
    assert set(variables["params"]) == {"cells_0", "lastact_bn", "classifier"}
    masked = space.masked(**thin)
    supernet_variables = {**masked.module.init(key(0), x), **masked.select(arch)}
    np.testing.assert_allclose(
        masked.module.apply(supernet_variables, x), network.apply(variables, x), rtol=1e-5
    )
    # depth counts reduction blocks too: the stem, cell 0 and the first reduction block.
    shallow = NB201Space().build(arch, C=4, N=1, depth=2)
    params = jax.eval_shape(shallow.init, key(0), jnp.ones((1, 32, 32, 3)))["params"]
    assert set(params) == {"stem_conv", "stem_bn", "cells_0", "cells_1", "lastact_bn", "classifier"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"depth": 0}, "depth must be a positive integer or None, got 0"),
        ({"N": 1, "depth": 6}, "depth 6 exceeds the 5 blocks of N=1"),
        ({"C": 0}, "C must be a positive integer, got 0"),
    ],
)
def test_bad_sizes_are_named(options: dict[str, Any], message: str) -> None:
    arch = SPACE.from_str(MASKED_ARCHS[0])
    with pytest.raises(SearchSpaceError, match=message):
        SPACE.build(arch, **options)
    with pytest.raises(SearchSpaceError, match=message):
        SPACE.masked(**options)


def test_without_a_stem_the_input_needs_c_channels(key: KeyFn) -> None:
    network = SPACE.build(SPACE.from_str(MASKED_ARCHS[0]), C=4, N=1, stem=False)
    with pytest.raises(
        SearchSpaceError, match="without a stem the input's channels must equal C=4, got 3"
    ):
        network.init(key(0), jnp.ones((1, 8, 8, 3)))
