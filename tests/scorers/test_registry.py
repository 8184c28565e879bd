"""The registry: names, get with options, register."""

from __future__ import annotations

import pytest

from scorers import NTKCond, ScorerError, get, names, register, registry

BUILT_IN = [
    "expressivity",
    "flops",
    "grad_norm",
    "jacob_cov",
    "linear_regions",
    "meco",
    "naswot",
    "ntk_cond",
    "ntk_dynamics",
    "ntk_eig_spectrum",
    "ntk_trace",
    "params",
    "progressivity",
    "snip",
    "swap",
    "synflow",
    "trainability",
    "zico",
]


def test_names_lists_the_built_in_scorers() -> None:
    assert names() == BUILT_IN


def test_get_builds_with_options_and_presets() -> None:
    scorer = get("ntk_cond", preset="tenas", repeats=5)
    assert isinstance(scorer, NTKCond)
    assert (scorer.name, scorer.repeats, scorer.degenerate) == ("ntk_cond_tenas", 5, 1e5)
    assert get("ntk_cond").direction == "minimize"
    assert get("naswot").direction == "maximize"
    # A `name` option renames the scorer (its column), e.g. to compare two settings side by side.
    assert get("ntk_cond", name="cond_eval", bn="eval").name == "cond_eval"


def test_unknown_names_and_options_are_value_errors_listing_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown scorer 'nope'; valid scorers: expressivity, fl"):
        get("nope")
    with pytest.raises(ScorerError, match=r"bad options for scorer 'naswot'.*batch_size, bn"):
        get("naswot", repeats=3)


def test_register(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))
    register("tenas", lambda **options: get("ntk_cond", preset="tenas", **options))
    assert get("tenas", batch_size=8).batch_size == 8  # type: ignore[attr-defined]
    assert "tenas" in names()
    with pytest.raises(ScorerError, match="already registered"):
        register("naswot", get)
