"""The protocol's defaults, parameter counting and the registry."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import flax.linen as nn
import jax
import numpy as np
import pytest

import search_spaces
from search_spaces import registry
from search_spaces.base import (
    CategoricalTrial,
    RandomTrial,
    SearchSpace,
    SearchSpaceError,
    check_choice,
    count_params,
)


class DenseBN(nn.Module):
    """Dense then BatchNorm: trainable params and BatchNorm statistics."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return nn.BatchNorm(use_running_average=not train)(nn.Dense(self.features)(x))


class WidthSpace(SearchSpace[int]):
    """A toy space: the arch is the width of one DenseBN layer."""

    name = "width"
    input_shape = (5,)

    def suggest(self, trial: CategoricalTrial) -> int:
        return int(trial.suggest_categorical("width", (1, 2, 3)))

    def enumerate(self) -> Iterator[int]:
        return iter((1, 2, 3))

    def build(self, arch: int, *, scale: int = 1) -> nn.Module:
        return DenseBN(arch * scale)

    def to_str(self, arch: int) -> str:
        return str(arch)

    def from_str(self, s: str) -> int:
        return int(s)


def test_random_trial_draws_every_choice_reproducibly() -> None:
    draws = [
        RandomTrial(np.random.default_rng(7)).suggest_categorical("x", "abc") for _ in range(2)
    ]
    assert draws[0] == draws[1]
    trial = RandomTrial(np.random.default_rng(0))
    assert {trial.suggest_categorical("x", ("a", "b", "c")) for _ in range(100)} == {"a", "b", "c"}


def test_check_choice_quotes_the_value_and_lists_the_valid_ones() -> None:
    check_choice("b", ("a", "b"), "letter")
    with pytest.raises(SearchSpaceError, match=r"invalid letter: 'z'; valid: 'a', 'b'"):
        check_choice("z", ("a", "b"), "letter")
    assert issubclass(SearchSpaceError, ValueError)


def test_count_params_counts_params_but_not_batch_stats() -> None:
    # Dense 5 -> 3: 5 * 3 weights + 3 biases = 18; BatchNorm: 3 scales + 3 biases = 6.
    assert count_params(DenseBN(3), (5,)) == 18 + 6


def test_defaults_sample_canonical_and_num_params() -> None:
    space = WidthSpace()
    samples = [space.sample(np.random.default_rng(3)) for _ in range(2)]
    assert samples[0] == samples[1]
    rng = np.random.default_rng(0)
    assert {space.sample(rng) for _ in range(50)} == set(space.enumerate())
    assert space.canonical(2) == 2
    # Width 2 * scale 2 = 4 features: 5 * 4 + 4 (Dense) + 2 * 4 (BatchNorm) = 32.
    assert space.num_params(2, scale=2) == 32


def test_registry_builtins_and_options() -> None:
    assert search_spaces.names() == ["darts", "macro", "mlp", "nb201"]
    assert isinstance(search_spaces.get("nb201"), search_spaces.NB201Space)
    assert search_spaces.get("nb201", input_shape=(16, 16, 3)).input_shape == (16, 16, 3)
    assert search_spaces.get("macro", num_stages=2).num_stages == 2
    assert search_spaces.get("mlp", input_shape=(7,)).input_shape == (7,)
    for name in search_spaces.names():
        assert registry._FACTORIES[name].name == name


def test_registry_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"'nb101'.*'darts', 'macro', 'mlp', 'nb201'"):
        search_spaces.get("nb101")


def test_register(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))
    search_spaces.register("width", WidthSpace)
    assert "width" in search_spaces.names()
    assert isinstance(search_spaces.get("width"), WidthSpace)
    with pytest.raises(ValueError, match="'width' is already registered"):
        search_spaces.register("width", WidthSpace)


@pytest.mark.parametrize(
    ("name", "options"),
    [("nb201", {}), ("darts", {}), ("macro", {}), ("mlp", {"input_shape": (7,)})],
)
def test_every_space_builds_modules_with_a_train_argument(
    name: str, options: dict[str, Any]
) -> None:
    space = search_spaces.get(name, **options)
    module = space.build(space.sample(np.random.default_rng(0)))
    train = inspect.signature(type(module).__call__).parameters["train"]
    assert train.default is False
    assert train.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD


def test_public_names_are_exported() -> None:
    for name in search_spaces.__all__:
        assert getattr(search_spaces, name) is not None


@pytest.mark.parametrize("name", ["nb201", "darts", "macro"])
@pytest.mark.parametrize("shape", [(8,), (8, 8), (0, 8, 3), (8, 8, 3, 1)])
def test_image_spaces_refuse_a_shape_that_is_not_one_image(name: str, shape: tuple) -> None:
    message = rf"'{name}' takes images \(H, W, C\); got input shape {re.escape(str(shape))}"
    with pytest.raises(search_spaces.SearchSpaceError, match=message):
        search_spaces.get(name, input_shape=shape)
