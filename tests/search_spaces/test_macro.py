"""Macro CNN space: strings, validation, enumeration, suggestions, parameter counts, modules."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optuna
import pytest

from search_spaces import MacroArch, MacroSpace, Stage
from search_spaces.macro import stage_widths

SPACE = MacroSpace()
ONE_STAGE = MacroSpace(num_stages=1)
#: Basic blocks with identity shortcuts, inverted residuals with a projection, and no residual.
MIXED = "d2-w16-k3-e1-s1-relu-r1|d1-w32-k5-e3-s2-gelu-r1|d2-w64-k7-e6-s2-swish-r0"


def test_string_round_trip() -> None:
    a = SPACE.from_str(MIXED)
    assert a.stages[1] == Stage(
        depth=1, width=32, kernel=5, expansion=3, stride=2, activation="gelu", residual=True
    )
    assert SPACE.to_str(a) == MIXED
    assert MacroArch(list(a.stages)) == a
    rng = np.random.default_rng(0)
    for _ in range(20):
        sampled = SPACE.sample(rng)
        assert SPACE.from_str(SPACE.to_str(sampled)) == sampled


def test_stage_widths_double_per_stage() -> None:
    assert stage_widths(0) == (16, 32, 64)
    assert stage_widths(2) == (64, 128, 256)


@pytest.mark.parametrize(
    ("bad", "parts"),
    [
        (MIXED.rsplit("|", 1)[0], ["2 '|'-separated stages", "expected 3"]),
        (
            MIXED.replace("d1-w32-k5", "d1-w32k5"),
            ["stage 1 'd1-w32k5-e3-s2-gelu-r1'", "d{depth}-w{width}"],
        ),
        (MIXED.replace("w64", "w16"), ["width of stage 2: 16", "valid: 64, 128, 256"]),
        (MIXED.replace("gelu", "elu"), ["activation of stage 1: 'elu'", "'relu', 'gelu', 'swish'"]),
        (MIXED.replace("d2-w16", "d4-w16"), ["depth of stage 0: 4", "valid: 1, 2, 3"]),
        (MIXED.replace("k7", "k4"), ["kernel of stage 2: 4", "valid: 3, 5, 7"]),
        (MIXED.replace("e6", "e2"), ["expansion of stage 2: 2", "valid: 1, 3, 6"]),
        (MIXED.replace("s2-gelu", "s3-gelu"), ["stride of stage 1: 3", "valid: 1, 2"]),
    ],
)
def test_from_str_errors_quote_the_bad_part(
    bad: str, parts: list[str], error_quotes: Callable[..., None]
) -> None:
    error_quotes(lambda: SPACE.from_str(bad), *parts)


def test_arch_needs_a_stage(error_quotes: Callable[..., None]) -> None:
    error_quotes(lambda: MacroArch(()), "at least one stage")


def test_enumerate_one_stage() -> None:
    archs = list(ONE_STAGE.enumerate())
    # 3 depths * 3 widths * 3 kernels * 3 expansions * 2 strides * 3 activations * 2 residuals.
    assert len(archs) == len(set(archs)) == 3 * 3 * 3 * 3 * 2 * 3 * 2
    for a in archs:
        assert ONE_STAGE.from_str(ONE_STAGE.to_str(a)) == a
    three = list(itertools.islice(SPACE.enumerate(), 3))
    assert [len(a.stages) for a in three] == [3, 3, 3]
    assert three[0].stages[0] == Stage(1, 16, 3, 1, 1, "relu", False)
    assert three[0].stages[2].width == 64 and three[1].stages[2].residual


def test_suggest_with_optuna() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    a = SPACE.suggest(trial)
    assert len(trial.params) == 3 * 7
    assert trial.params["stage2_width"] == a.stages[2].width in stage_widths(2)
    assert trial.params["stage0_residual"] is a.stages[0].residual
    assert SPACE.suggest(optuna.trial.FixedTrial(trial.params)) == a


def test_parameter_counts_hand_derived() -> None:
    # Stem: conv 3 -> 16 3x3: 432, BN 32. Classifier: width * 10 + 10. Convs have no bias.
    basic = ONE_STAGE.from_str("d1-w16-k3-e1-s1-relu-r0")
    # Basic block 16 -> 16, k3: 2 * (16*16*9 + BN 32); no shortcut params (identity / none).
    assert ONE_STAGE.num_params(basic) == 464 + 2 * (2304 + 32) + 170
    inverted = ONE_STAGE.from_str("d1-w32-k3-e6-s2-relu-r1")
    # Inverted residual 16 -> 32, hidden 96: expand 16*96 + BN 192, depthwise 9*96 + BN 192,
    # project 96*32 + BN 64, projection shortcut 16*32 + BN 64.
    block = 1536 + 192 + 864 + 192 + 3072 + 64 + 512 + 64
    assert ONE_STAGE.num_params(inverted) == 464 + block + 330
    assert ONE_STAGE.num_params(inverted, stem_width=32, num_classes=3) == (
        # Stem 32, hidden 192, stride 2 so a projection shortcut 32*32 + BN 64; 3 classes.
        3 * 32 * 9
        + 64
        + (32 * 192 + 384 + 9 * 192 + 384 + 192 * 32 + 64 + 32 * 32 + 64)
        + 32 * 3
        + 3
    )


def test_forward_every_choice_both_modes(forward: Callable[..., Any], images: jax.Array) -> None:
    fwd = forward(SPACE.build(SPACE.from_str(MIXED), num_classes=3), images)
    assert fwd.y_eval.shape == fwd.y_train.shape == (2, 3)
    params = fwd.variables["params"]
    assert set(params) == {
        "stem_conv",
        "stem_bn",
        "stage0_block0",
        "stage0_block1",
        "stage1_block0",
        "stage2_block0",
        "stage2_block1",
        "classifier",
    }
    assert set(params["stage0_block0"]) == {"conv1", "bn1", "conv2", "bn2"}
    assert params["stage1_block0"]["depthwise"]["kernel"].shape == (5, 5, 1, 48)
    assert set(params["stage1_block0"]["shortcut"]) == {"conv", "bn"}
    # No residual in stage 2; identity shortcuts (stride 1, same width) in stage 0.
    assert "shortcut" not in params["stage2_block0"]
    assert "shortcut" not in params["stage0_block0"]
    assert "shortcut" not in params["stage0_block1"]
