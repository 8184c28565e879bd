"""MLP space: strings, validation, enumeration, suggestions, parameter counts, modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optuna
import pytest

from search_spaces import MLPArch, MLPSpace
from search_spaces.mlp import ACTIVATION_NAMES

SPACE = MLPSpace(input_shape=(7,))


def test_string_round_trip() -> None:
    a = SPACE.from_str("256-64|gelu|ln1")
    assert a == MLPArch(widths=(256, 64), activation="gelu", layer_norm=True)
    assert a == MLPArch(widths=[256, 64], activation="gelu", layer_norm=True)
    assert SPACE.to_str(a) == "256-64|gelu|ln1"
    rng = np.random.default_rng(0)
    for _ in range(20):
        sampled = SPACE.sample(rng)
        assert SPACE.from_str(SPACE.to_str(sampled)) == sampled


@pytest.mark.parametrize(
    ("bad", "parts"),
    [
        ("256-64|gelu", ["'256-64|gelu' does not match", "|ln{0|1}"]),
        ("256--64|gelu|ln1", ["'256--64|gelu|ln1'"]),
        ("256-65|gelu|ln1", ["width of layer 1: 65", "valid: 32, 64, 128, 256, 512"]),
        ("32-32-32-32-32|relu|ln0", ["depth (number of widths in (32, 32, 32, 32, 32)): 5"]),
        ("32|elu|ln0", ["activation: 'elu'", "'relu', 'gelu', 'tanh', 'swish'"]),
    ],
)
def test_from_str_errors_quote_the_bad_part(
    bad: str, parts: list[str], error_quotes: Callable[..., None]
) -> None:
    error_quotes(lambda: SPACE.from_str(bad), *parts)


def test_enumerate() -> None:
    archs = list(SPACE.enumerate())
    # Widths: 5 + 5**2 + 5**3 + 5**4 = 780 stacks, times 4 activations, times LayerNorm on/off.
    assert len(archs) == len(set(archs)) == 780 * 4 * 2
    assert archs[0] == MLPArch((32,), "relu", False)
    assert archs[-1] == MLPArch((512,) * 4, "swish", True)


def test_suggest_with_optuna() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    depths = set()
    for _ in range(10):
        trial = study.ask()
        a = SPACE.suggest(trial)
        depths.add(len(a.widths))
        widths = [trial.params[f"width_{i}"] for i in range(trial.params["depth"])]
        assert tuple(widths) == a.widths and len(trial.params) == 3 + len(widths)
        assert SPACE.suggest(optuna.trial.FixedTrial(trial.params)) == a
    assert len(depths) > 1


def test_parameter_counts_hand_derived() -> None:
    # 7 features: Dense 7 -> 64: 448 + 64; Dense 64 -> 32: 2048 + 32; head 32 -> 10: 320 + 10.
    assert SPACE.num_params(SPACE.from_str("64-32|relu|ln0")) == 512 + 2080 + 330
    # LayerNorm adds a scale and a shift per unit: 2 * 64 + 2 * 32.
    assert SPACE.num_params(SPACE.from_str("64-32|relu|ln1")) == 512 + 2080 + 330 + 192
    assert MLPSpace(input_shape=(3,)).num_params(SPACE.from_str("32|tanh|ln0"), num_classes=1) == (
        3 * 32 + 32 + 32 + 1
    )


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_forward_both_modes(
    activation: str, forward: Callable[..., Any], key: Callable[[int], jax.Array]
) -> None:
    module = SPACE.build(MLPArch((32, 64), activation, True), num_classes=3)
    fwd = forward(module, jax.random.normal(key(0), (4, 7)))
    assert fwd.y_eval.shape == (4, 3)
    np.testing.assert_array_equal(fwd.y_eval, fwd.y_train)
    assert set(fwd.variables["params"]) == {"dense_0", "ln_0", "dense_1", "ln_1", "head"}


def test_activations_differ(key: Callable[[int], jax.Array]) -> None:
    x = jax.random.normal(key(0), (4, 7))
    outputs = []
    for activation in ACTIVATION_NAMES:
        module = SPACE.build(MLPArch((32,), activation, False))
        outputs.append(module.apply(module.init(key(0), x), x))
    for i, a in enumerate(outputs):
        for b in outputs[i + 1 :]:
            assert not np.allclose(a, b)
