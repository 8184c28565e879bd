"""ntk_nas/stats.py against hand-worked examples and scipy.stats."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import scipy.stats

from ntk_nas import stats


def test_average_ranks_share_ties() -> None:
    np.testing.assert_array_equal(stats.average_ranks([10, 20, 20, 30]), [1, 2.5, 2.5, 4])
    np.testing.assert_array_equal(stats.average_ranks([3, 1, 3, 3]), [3, 1, 3, 3])


def test_kendall_tau_hand_worked() -> None:
    # 6 pairs, one discordant (2, 3): (5 - 1) / 6.
    assert stats.kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(2 / 3)
    # Ties: C = 4, D = 0, one tie in x and one in y: 4 / sqrt((6 - 1)(6 - 1)) = 0.8.
    assert stats.kendall_tau([1, 1, 2, 3], [1, 2, 3, 3]) == pytest.approx(0.8)
    assert stats.kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(stats.kendall_tau([1, 1, 1], [1, 2, 3]))


def test_spearman_rho_hand_worked() -> None:
    assert stats.spearman_rho([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert stats.spearman_rho([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # No ties: 1 - 6 * sum(d^2) / (n (n^2 - 1)) with d = (0, -1, 1, 0): 1 - 12 / 60 = 0.8.
    assert stats.spearman_rho([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert np.isnan(stats.spearman_rho([2, 2, 2], [1, 2, 3]))


@pytest.mark.parametrize("statistic", [stats.kendall_tau, stats.spearman_rho])
def test_two_pairs_are_enough_and_one_is_not(statistic: Callable[..., float]) -> None:
    assert statistic([1.0, 2.0], [5.0, 7.0]) == pytest.approx(1.0)
    assert statistic([1.0, 2.0], [7.0, 5.0]) == pytest.approx(-1.0)
    assert np.isnan(statistic([1.0], [5.0]))


@pytest.mark.parametrize("seed", range(6))
def test_against_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = [5, 17, 60, 200, 333, 1000][seed]
    x = rng.integers(0, max(2, n // 4), n).astype(float)  # many ties
    y = x + rng.normal(0, 3, n).round(0)
    tau = scipy.stats.kendalltau(x, y, variant="b").statistic
    rho = scipy.stats.spearmanr(x, y).statistic
    assert stats.kendall_tau(x, y) == pytest.approx(tau, abs=1e-12)
    assert stats.spearman_rho(x, y) == pytest.approx(rho, abs=1e-12)
    z = rng.normal(size=n)
    assert stats.kendall_tau(z, y) == pytest.approx(scipy.stats.kendalltau(z, y).statistic)
    assert stats.spearman_rho(z, y) == pytest.approx(scipy.stats.spearmanr(z, y).statistic)


def test_top_k_precision() -> None:
    predicted = np.arange(10.0)  # predicted top 20%: indices 9, 8
    truth = np.array([9.0, 0, 0, 0, 0, 0, 0, 0, 1, 0.5])  # true top 20%: indices 0, 8
    assert stats.top_k_precision(predicted, truth, 20) == 0.5
    assert stats.top_k_precision(truth, truth, 10) == 1.0
    assert stats.top_k_precision(-truth, truth, 10) == 0.0
    assert stats.top_k_precision([1.0, 2.0], [2.0, 1.0], 10) == 0.0  # k is at least 1
    # Ties are broken by position on both sides, so the 10 first of the 50 tied best are taken.
    tied = np.tile([1.0, 0.0], 50)
    assert stats.top_k_precision(tied, tied, 10) == 1.0
    assert stats.top_k_precision(-np.arange(100.0), tied, 10) == 0.5
    # 100% takes all n, not round(n * 100 / 101): every one is in both.
    assert stats.top_k_precision(np.arange(100.0), -np.arange(100.0), 100) == 1.0
    assert stats.top_k_precision(predicted, truth, 0.5) == 0.0  # k is 1; 9 is not the true top, 0
    for percent in (0, 100.5):
        with pytest.raises(ValueError, match=f"percent must be in \\(0, 100\\], got {percent}"):
            stats.top_k_precision(truth, truth, percent)
    assert np.isnan(stats.top_k_precision(np.array([]), np.array([])))
    # The default is the top 10%: of 50, five, and four of the predicted five are truly there.
    assert stats.top_k_precision(np.arange(50.0), np.r_[np.arange(49.0), -1.0]) == 0.8


@pytest.mark.parametrize(("x", "y"), [(np.ones(3), np.ones(4)), (np.ones((2, 2)), np.ones((2, 2)))])
def test_statistics_need_two_vectors_of_one_length(x: np.ndarray, y: np.ndarray) -> None:
    with pytest.raises(ValueError, match="expected two vectors of one length, got shapes"):
        stats.kendall_tau(x, y)


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5])
def test_bootstrap_ci_needs_a_level_in_the_open_unit_interval(level: float) -> None:
    with pytest.raises(ValueError, match=f"level must be in \\(0, 1\\), got {level}"):
        stats.bootstrap_ci(stats.kendall_tau, np.arange(4.0), np.arange(4.0), level=level)


def test_bootstrap_ci_is_seeded_and_brackets_the_estimate() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=80)
    y = x + rng.normal(size=80)
    first = stats.bootstrap_ci(stats.spearman_rho, x, y, resamples=200, seed=3)
    assert first == stats.bootstrap_ci(stats.spearman_rho, x, y, resamples=200, seed=3)
    assert first != stats.bootstrap_ci(stats.spearman_rho, x, y, resamples=200, seed=4)
    low, high = first
    assert low < stats.spearman_rho(x, y) < high
    assert low > 0 and high < 1
    # All resamples of a constant vector are NaN.
    assert np.isnan(stats.bootstrap_ci(stats.kendall_tau, np.ones(5), x[:5], resamples=10)[0])


def test_bootstrap_ci_holds_the_level_of_the_finite_resampled_values() -> None:
    """The interval spans the central `level` of the resampled statistics; NaN ones are left out."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=30), rng.normal(size=30)
    seen: list[float] = []

    def recorded(a: np.ndarray, b: np.ndarray) -> float:
        value = float("nan") if len(seen) % 4 == 0 else stats.spearman_rho(a, b)
        seen.append(value)
        return value

    low, high = stats.bootstrap_ci(recorded, x, y, resamples=400, level=0.8, seed=0)
    finite = np.array([v for v in seen if np.isfinite(v)])
    assert len(finite) == 300
    assert [low, high] == pytest.approx(np.percentile(finite, [10, 90]), abs=1e-12)


def test_bootstrap_ci_draws_every_pair() -> None:
    drawn: list[np.ndarray] = []

    def recorded(a: np.ndarray, b: np.ndarray) -> float:
        drawn.append(a)
        return 0.0

    stats.bootstrap_ci(recorded, np.arange(5.0), np.arange(5.0), resamples=50)
    assert len(drawn) == 50 and all(len(a) == 5 for a in drawn)
    assert set(np.concatenate(drawn)) == {0.0, 1.0, 2.0, 3.0, 4.0}


def test_bootstrap_ci_of_no_pairs_is_nan_without_calling_the_statistic() -> None:
    def never(a: np.ndarray, b: np.ndarray) -> float:
        raise AssertionError("the statistic was called on no pairs")

    low, high = stats.bootstrap_ci(never, np.array([]), np.array([]))
    assert np.isnan(low) and np.isnan(high)


def test_finite_pairs() -> None:
    x, y = stats.finite_pairs([1, np.inf, 3, np.nan], [1, 2, np.nan, 4])
    np.testing.assert_array_equal(x, [1])
    np.testing.assert_array_equal(y, [1])


def test_correlations_gather_the_statistics_over_finite_pairs() -> None:
    predicted = np.array([1.0, 2.0, np.nan, 3.0, 4.0, 0.5])
    truth = np.array([10.0, 30.0, 5.0, 20.0, 40.0, np.inf])
    result = stats.correlations(predicted, truth, resamples=50, seed=0)
    x, y = predicted[:5][[0, 1, 3, 4]], truth[:5][[0, 1, 3, 4]]
    assert result["n"] == 4
    assert result["kendall_tau"] == pytest.approx(stats.kendall_tau(x, y))
    assert result["spearman_rho"] == pytest.approx(stats.spearman_rho(x, y))
    assert result["kendall_tau_ci95"] == list(
        stats.bootstrap_ci(stats.kendall_tau, x, y, resamples=50, seed=0)
    )
    assert result["top10_precision"] == 1.0  # the top one of four is the top one
    # Of 50, the top five, four of which are truly there.
    top = stats.correlations(np.arange(50.0), np.r_[np.arange(49.0), -1.0], resamples=2)
    assert top["top10_precision"] == 0.8


def test_correlations_without_a_finite_pair_are_nan() -> None:
    result = stats.correlations(np.array([np.nan, 1.0]), np.array([1.0, np.nan]))
    assert result["n"] == 0
    assert all(np.isnan(result[k]) for k in ("kendall_tau", "spearman_rho", "top10_precision"))
    assert (
        np.isnan(result["kendall_tau_ci95"]).all() and np.isnan(result["spearman_rho_ci95"]).all()
    )
