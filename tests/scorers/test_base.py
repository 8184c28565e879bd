"""The scorer interface: batch checks shared by every scorer, NaN never reaches the value."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import numpy as np
import pytest

from scorers import BaseScorer, Score, Scorer, ScorerError, get, names
from scorers.base import Direction
from tests.scorers.models import MLP, batch

KEY = jax.random.key(0)


@pytest.mark.parametrize("name", names())
def test_every_scorer_rejects_a_batch_with_nan(name: str) -> None:
    x, y = batch()
    x[2, 1] = np.nan
    x[3, 0] = np.inf
    with pytest.raises(ScorerError, match="x hold 1 NaN and 1 inf values out of 40"):
        get(name)(MLP(), None, (x, y), key=KEY)


@pytest.mark.parametrize("name", names())
def test_every_scorer_follows_the_protocol(name: str) -> None:
    scorer = get(name)
    assert isinstance(scorer, Scorer)
    assert scorer.name == name and scorer.direction in ("minimize", "maximize")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([np.zeros((4, 3), np.float32)], "pair"),
        ((np.zeros(4, np.float32), np.zeros(4)), r"shape \(N, ...\)"),
        ((np.zeros((4, 3), np.int32), np.zeros(4)), "floating point"),
        ((np.zeros((4, 3), np.float32), np.zeros(3)), r"labels y must have shape \(4,\)"),
    ],
)
def test_malformed_batches_are_scorer_errors(bad: object, message: str) -> None:
    with pytest.raises(ScorerError, match=message):
        get("params")(MLP(), None, bad, key=KEY)  # type: ignore[arg-type]


def test_batch_size_larger_than_the_batch_is_an_error() -> None:
    with pytest.raises(ScorerError, match="batch_size=9 but the batch has only 8 rows"):
        get("params", batch_size=9)(MLP(), None, batch(), key=KEY)


@dataclasses.dataclass(frozen=True)
class Broken(BaseScorer):
    direction: ClassVar[Direction] = "minimize"
    name: str = "broken"

    def _score(self, module, variables, x, y, key):  # type: ignore[no-untyped-def]
        return math.nan, {"rows": float(x.shape[0])}


def test_a_nan_value_becomes_the_worst_score_and_seconds_are_recorded() -> None:
    score = Broken(batch_size=3)(MLP(), None, batch(), key=KEY)
    assert isinstance(score, Score)
    assert score.value == math.inf and score.extras["rows"] == 3
    assert score.extras["seconds"] >= 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        score.value = 0.0  # type: ignore[misc]


@dataclasses.dataclass(frozen=True)
class Precision(BaseScorer):
    """Scores with the default precision of matrix products that it is called under."""

    direction: ClassVar[Direction] = "maximize"
    name: str = "precision"

    def _score(self, module, variables, x, y, key):  # type: ignore[no-untyped-def]
        return float(jax.config.jax_default_matmul_precision == "float32"), {}


def test_scores_are_computed_with_full_float32_products() -> None:
    before = jax.config.jax_default_matmul_precision
    assert Precision()(MLP(), None, batch(), key=KEY).value == 1.0
    assert jax.config.jax_default_matmul_precision == before  # restored after the call
