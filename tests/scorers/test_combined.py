"""scorers.rank_sum and scorers.average_ranks on hand-worked examples and against scipy."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pytest
import scipy.stats

import scorers

INF, NAN = math.inf, math.nan


def test_average_ranks_share_ties() -> None:
    np.testing.assert_array_equal(scorers.average_ranks([10, 20, 20, 30]), [1, 2.5, 2.5, 4])
    np.testing.assert_array_equal(scorers.average_ranks([3, 1, 3, 3]), [3, 1, 3, 3])


def test_direction_orients_the_ranks() -> None:
    # The best value ranks n = 3: the smallest when minimised, the largest when maximised.
    values = {"a": [10.0, 100.0, 50.0]}
    np.testing.assert_array_equal(scorers.rank_sum(values, {"a": "minimize"}), [3, 1, 2])
    np.testing.assert_array_equal(scorers.rank_sum(values, {"a": "maximize"}), [1, 3, 2])


def test_ties_share_their_mean_rank() -> None:
    got = scorers.rank_sum({"a": [1.0, 2.0, 2.0, 3.0]}, {"a": "maximize"})
    np.testing.assert_array_equal(got, [1, 2.5, 2.5, 4])
    got = scorers.rank_sum({"a": [5.0, 5.0, 5.0]}, {"a": "minimize"})
    np.testing.assert_array_equal(got, [2, 2, 2])


def test_non_finite_ranks_last_in_either_direction() -> None:
    # minimise [inf, 5, nan, 1]: the two non-finite tie on ranks 1 and 2, then 5 (3), 1 (4).
    got = scorers.rank_sum({"a": [INF, 5.0, NAN, 1.0]}, {"a": "minimize"})
    np.testing.assert_array_equal(got, [1.5, 3, 1.5, 4])
    # maximise [inf, 5, -inf, 1]: +inf is a failed score too, not the best one.
    got = scorers.rank_sum({"a": [INF, 5.0, -INF, 1.0]}, {"a": "maximize"})
    np.testing.assert_array_equal(got, [1.5, 4, 1.5, 3])


def test_sum_over_columns() -> None:
    # TE-NAS style: ranks of -cond (3, 2, 1) + ranks of naswot (1, 3, 2) = (4, 5, 3).
    columns = {"ntk_cond": [10.0, 100.0, INF], "naswot": [1.0, 3.0, 2.0]}
    got = scorers.rank_sum(columns, {"ntk_cond": "minimize", "naswot": "maximize"})
    np.testing.assert_array_equal(got, [4, 5, 3])
    assert int(np.argmax(got)) == 1
    # Three columns: + params (2, 1, 3) -> (6, 6, 6), a three-way tie.
    columns["params"] = [20.0, 10.0, 30.0]
    directions: dict[str, Literal["minimize", "maximize"]] = {
        "ntk_cond": "minimize",
        "naswot": "maximize",
        "params": "maximize",
    }
    np.testing.assert_array_equal(scorers.rank_sum(columns, directions), [6, 6, 6])


def test_log_sums_log_normalised_ranks() -> None:
    # ranks (1, 2, 3) and (3, 2, 1): equal sums (4, 4, 4), but the products of rank / 3 are
    # (1/3, 4/9, 1/3): the cell ranked middling by both beats those ranked last by one.
    columns = {"a": [1.0, 2.0, 3.0], "b": [3.0, 2.0, 1.0]}
    directions: dict[str, Literal["minimize", "maximize"]] = {"a": "maximize", "b": "maximize"}
    np.testing.assert_array_equal(scorers.rank_sum(columns, directions), [4, 4, 4])
    got = scorers.rank_sum(columns, directions, log=True)
    np.testing.assert_allclose(got, np.log([1 / 3, 4 / 9, 1 / 3]), rtol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_against_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = [3, 10, 57, 400][seed]
    a = rng.integers(0, max(2, n // 3), n).astype(float)  # many ties
    b = rng.normal(size=n)
    b[rng.random(n) < 0.1] = INF
    got = scorers.rank_sum({"a": a, "b": b}, {"a": "maximize", "b": "minimize"})
    want = scipy.stats.rankdata(a) + scipy.stats.rankdata(np.where(np.isinf(b), -INF, -b))
    np.testing.assert_allclose(got, want)
    np.testing.assert_allclose(scorers.average_ranks(a), scipy.stats.rankdata(a))


def test_bad_input_says_why() -> None:
    with pytest.raises(ValueError, match="at least one column"):
        scorers.rank_sum({}, {})
    with pytest.raises(ValueError, match="one length"):
        scorers.rank_sum({"a": [1, 2], "b": [1, 2, 3]}, {"a": "maximize", "b": "maximize"})
    with pytest.raises(ValueError, match="1-D"):
        scorers.rank_sum({"a": [[1, 2]]}, {"a": "maximize"})
    with pytest.raises(ValueError, match="'b' needs direction"):
        scorers.rank_sum({"a": [1], "b": [2]}, {"a": "maximize"})
    with pytest.raises(ValueError, match="'a' needs direction"):
        scorers.rank_sum({"a": [1]}, {"a": "up"})  # type: ignore[dict-item]
