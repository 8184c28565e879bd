"""DARTS: genotype strings, validation, suggestions, parameter counts, modules, canonical form."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optuna
import pytest

from search_spaces import DartsGenotype, DartsSpace
from search_spaces.darts import OPS, canonical_cell

SPACE = DartsSpace()
#: DARTS_V2 as published in the DARTS repository's genotypes.py.
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
V2 = SPACE.from_str(DARTS_V2)
#: Every op, on both input nodes (strided in a reduction cell) and on intermediate nodes.
ALL_OPS = DartsGenotype(
    normal=(
        ("max_pool_3x3", 0),
        ("avg_pool_3x3", 1),
        ("skip_connect", 0),
        ("sep_conv_3x3", 2),
        ("sep_conv_5x5", 1),
        ("dil_conv_3x3", 3),
        ("dil_conv_5x5", 0),
        ("skip_connect", 4),
    ),
    reduce=(
        ("max_pool_3x3", 0),
        ("avg_pool_3x3", 1),
        ("skip_connect", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_5x5", 0),
        ("dil_conv_3x3", 1),
        ("dil_conv_5x5", 0),
        ("avg_pool_3x3", 4),
    ),
)


def test_darts_v2_round_trips() -> None:
    assert V2.normal[:2] == (("sep_conv_3x3", 0), ("sep_conv_3x3", 1))
    assert V2.reduce[-1] == ("max_pool_3x3", 1)
    s = SPACE.to_str(V2)
    assert s == DARTS_V2.replace("[2, 3, 4, 5]", "range(2, 6)")
    assert SPACE.from_str(s) == V2
    assert DartsGenotype(list(V2.normal), list(V2.reduce)) == V2


def test_sampled_genotypes_round_trip() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        g = SPACE.sample(rng)
        assert SPACE.from_str(SPACE.to_str(g)) == g


def test_darts_v2_parameter_count() -> None:
    # The DARTS paper (Table 1) reports 3.3M parameters for DARTS (second order) on CIFAR-10:
    # 20 cells, C = 36, no auxiliary head in the count.
    assert round(SPACE.num_params(V2, layers=20, C=36) / 1e6, 1) == 3.3


def max_pools(first: tuple[str, int]) -> tuple[tuple[str, int], ...]:
    """A cell of max pools on inputs 0 and 1, except the first pair."""
    return (first, *[("max_pool_3x3", k % 2) for k in range(1, 8)])


def test_parameter_counts_hand_derived() -> None:
    # layers=3, C=4, 10 classes: reduction cells 1 and 2 (3 // 3, 2 * 3 // 3); convs have no bias,
    # BatchNorms have scale and shift. Max pools have no parameters.
    #   stem: conv 3 -> 12 (3C): 3*12*9 = 324, BN 24                               ->  348
    #   cell 0 (normal, C=4, inputs 12, 12): preprocess0/1 ReLUConvBN 1x1 12->4: 2*(48 + 8)  ->  112
    #   cell 1 (reduce, C=8, inputs 12, 16): 12*8 + 16 = 112, 16*8 + 16 = 144             ->  256
    #   cell 2 (reduce, C=16, inputs 16 at 2x resolution, 32): FactorizedReduce 16->16:
    #     2*(16*8) + 32 = 288; ReLUConvBN 32->16: 512 + 32 = 544                         ->  832
    #   classifier 64*10 + 10                                                            ->  650
    base = 348 + 112 + 256 + 832 + 650
    pools = DartsGenotype(max_pools(("max_pool_3x3", 0)), max_pools(("max_pool_3x3", 0)))
    assert SPACE.num_params(pools, layers=3, C=4) == base == 2198
    # sep_conv_3x3 at C=4 in cell 0: 2 * (dw 9*4 + pw 4*4 + BN 8) = 120.
    # skip_connect on input 0 of a reduction cell is a FactorizedReduce C->C: 2*(C*C/2) + 2C,
    # i.e. 80 in cell 1 (C=8) and 288 in cell 2 (C=16).
    ops = DartsGenotype(max_pools(("sep_conv_3x3", 0)), max_pools(("skip_connect", 0)))
    assert SPACE.num_params(ops, layers=3, C=4) == base + 120 + 80 + 288
    # dil_conv_5x5 on input 1 of the reduction cells: dw 25*C + pw C*C + BN 2C, C = 8 and 16.
    dil = DartsGenotype(max_pools(("max_pool_3x3", 0)), max_pools(("dil_conv_5x5", 1)))
    assert SPACE.num_params(dil, layers=3, C=4) == base + (200 + 64 + 16) + (400 + 256 + 32)


def test_forward_every_op_both_modes(forward: Callable[..., Any], images: jax.Array) -> None:
    fwd = forward(SPACE.build(ALL_OPS, layers=3, C=4, num_classes=3), images)
    assert fwd.y_eval.shape == fwd.y_train.shape == (2, 3)
    params = fwd.variables["params"]
    assert set(params) == {"stem_conv", "stem_bn", "cells_0", "cells_1", "cells_2", "classifier"}
    # Depthwise kernels: (k, k, 1, C).
    assert params["cells_0"]["ops_3"]["sep_conv_3x3"]["dw1"]["kernel"].shape == (3, 3, 1, 4)
    assert params["cells_0"]["ops_6"]["dil_conv_5x5"]["dw"]["kernel"].shape == (5, 5, 1, 4)
    # skip_connect is the identity in a normal cell, a FactorizedReduce on a reduction cell's input.
    assert "ops_2" not in params["cells_0"]
    assert set(params["cells_1"]["ops_2"]["skip_connect"]) == {"conv_1", "conv_2", "bn"}
    assert set(params["cells_2"]["preprocess0"]) == {"conv_1", "conv_2", "bn"}
    assert set(params["cells_1"]["preprocess0"]) == {"conv", "bn"}
    assert params["classifier"]["kernel"].shape == (64, 3)


@pytest.mark.parametrize(
    ("bad", "parts"),
    [
        (DARTS_V2.replace("dil_conv_3x3", "conv_3x3"), ["'conv_3x3'", "('conv_3x3', 2)", "normal"]),
        (
            DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 6)"),
            ["('dil_conv_3x3', 6)", "normal node 5", "valid: 0, 1, 2, 3, 4"],
        ),
        (
            DARTS_V2.replace("reduce=[('max_pool_3x3', 0)", "reduce=[('max_pool_3x3', 2)"),
            ["('max_pool_3x3', 2)", "reduce node 2", "valid: 0, 1"],
        ),
        (DARTS_V2.replace("('dil_conv_3x3', 2)", ""), ["normal cell", "expected 8", "got 7"]),
        (DARTS_V2.replace("('dil_conv_3x3', 2)", "'dil_conv_3x3'"), ["'dil_conv_3x3' is not an"]),
        (DARTS_V2[:-1], ["malformed genotype", "Genotype(normal=..., normal_concat=..."]),
        (DARTS_V2.replace("Genotype", "Genome"), ["malformed genotype", "Genome(normal=["]),
        (DARTS_V2.replace("normal_concat=[2, 3, 4, 5], ", ""), ["malformed genotype"]),
        (
            DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 5)"),
            ["'range(2, 5)' is not supported", "range(2, 6)"],
        ),
        (
            DARTS_V2.replace("normal=[", "normal=sorted([").replace(
                "], normal_concat", "]), normal_concat"
            ),
            ["sorted([('sep_conv_3x3', 0)", "is not a list of (op, input) pairs"],
        ),
        ("__import__('os').system('false')", ["malformed genotype"]),
    ],
)
def test_from_str_errors_quote_the_bad_part(
    bad: str, parts: list[str], error_quotes: Callable[..., None]
) -> None:
    error_quotes(lambda: SPACE.from_str(bad), *parts)


def test_suggest_with_optuna() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    g = SPACE.suggest(trial)
    assert len(trial.params) == 2 * 4 * 3
    for cell_type, pairs in (("normal", g.normal), ("reduce", g.reduce)):
        for node in range(2, 6):
            a, b = trial.params[f"{cell_type}_node{node}_inputs"].split(",")
            op_a, op_b = (trial.params[f"{cell_type}_node{node}_op{m}"] for m in range(2))
            assert pairs[2 * node - 4 : 2 * node - 2] == ((op_a, int(a)), (op_b, int(b)))
    assert SPACE.suggest(optuna.trial.FixedTrial(trial.params)) == g


def test_sample_draws_distinct_sorted_inputs() -> None:
    rng = np.random.default_rng(1)
    genotypes = [SPACE.sample(rng) for _ in range(30)]
    for g in genotypes:
        for pairs in (g.normal, g.reduce):
            for k in range(0, 8, 2):
                assert pairs[k][1] < pairs[k + 1][1]
    assert {op for g in genotypes for op, _ in g.normal} == set(OPS)


def test_canonical_orders_the_two_inputs_of_each_node() -> None:
    c = SPACE.canonical(V2)
    # Node 4 of the normal cell: ('sep_conv_3x3', 1), ('skip_connect', 0) -> input 0 first.
    assert c.normal[4:6] == (("skip_connect", 0), ("sep_conv_3x3", 1))
    assert c.normal[:4] == V2.normal[:4] and c.normal[6:] == V2.normal[6:]
    assert SPACE.canonical(c) == c
    assert canonical_cell((("b", 1), ("a", 1))) == (("a", 1), ("b", 1))


def test_enumerate_starts_with_the_product_order() -> None:
    first = list(itertools.islice(SPACE.enumerate(), 50))
    assert len(set(first)) == 50
    # Every node: max pools on inputs 0 and 1.
    assert first[0] == DartsGenotype(max_pools(("max_pool_3x3", 0)), max_pools(("max_pool_3x3", 0)))
    for g in first:
        assert SPACE.canonical(g) == g


def test_odd_c_is_rejected() -> None:
    with pytest.raises(ValueError, match="C must be even"):
        SPACE.build(V2, C=5)
