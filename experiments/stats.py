"""Rank statistics for correlation experiments, in numpy.

Kendall's tau-b and Spearman's rho (both with ties handled as scipy.stats does), top-k% precision
and a seeded percentile bootstrap confidence interval. Non-finite pairs are not dropped here; the
caller decides (see `finite_pairs`). `average_ranks` is the library's (`scorers.combined`), so that
search and analysis rank alike.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scorers.combined import average_ranks

__all__ = [
    "average_ranks",
    "bootstrap_ci",
    "finite_pairs",
    "kendall_tau",
    "spearman_rho",
    "top_k_precision",
]


def _vectors(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"expected two vectors of one length, got shapes {x.shape}, {y.shape}")
    return x, y


def finite_pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairs ``(x_i, y_i)`` where both are finite."""
    x, y = _vectors(x, y)
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def spearman_rho(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho: Pearson's correlation of the average ranks; NaN if either is constant."""
    x, y = _vectors(x, y)
    if len(x) < 2:
        return float("nan")
    rx, ry = average_ranks(x), average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = np.sqrt((rx @ rx) * (ry @ ry))
    return float(rx @ ry / denominator) if denominator > 0 else float("nan")


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b, ``(C - D) / sqrt((n0 - n1) (n0 - n2))`` with ties in x (n1) and y (n2).

    O(n^2) memory-light pairwise counting in row blocks; fine for tens of thousands of points.
    NaN if either vector is constant.
    """
    x, y = _vectors(x, y)
    n = len(x)
    if n < 2:
        return float("nan")
    concordance = 0.0  # C - D
    tied_x = tied_y = 0
    block = max(1, 2**22 // n)
    for start in range(0, n, block):
        stop = min(n, start + block)
        dx = np.sign(x[start:stop, None] - x[None, :])
        dy = np.sign(y[start:stop, None] - y[None, :])
        concordance += float(np.sum(dx * dy))
        tied_x += int(np.sum(dx == 0))
        tied_y += int(np.sum(dy == 0))
    # Every unordered pair was counted twice and every i == j once as a tie.
    pairs = n * (n - 1) / 2
    ties_x, ties_y = (tied_x - n) / 2, (tied_y - n) / 2
    denominator = np.sqrt((pairs - ties_x) * (pairs - ties_y))
    return float(concordance / 2 / denominator) if denominator > 0 else float("nan")


def top_k_precision(predicted: np.ndarray, truth: np.ndarray, percent: float = 10.0) -> float:
    """Fraction of the predicted top ``percent``% that is in the true top ``percent``%.

    Higher is better for both; ``k = max(1, round(n * percent / 100))``; ties are broken by
    position (stable order), so the result is deterministic.
    """
    predicted, truth = _vectors(predicted, truth)
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], got {percent}")
    n = len(predicted)
    if n == 0:
        return float("nan")
    k = max(1, round(n * percent / 100))
    top_predicted = np.argsort(-predicted, kind="stable")[:k]
    top_true = np.argsort(-truth, kind="stable")[:k]
    return len(np.intersect1d(top_predicted, top_true)) / k


def bootstrap_ci(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    x: np.ndarray,
    y: np.ndarray,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(x, y)`` over pairs resampled with replacement.

    Resamples whose statistic is NaN (e.g. all-tied draws) are ignored; ``(nan, nan)`` if all are.
    """
    x, y = _vectors(x, y)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    n = len(x)
    values = np.array(
        [statistic(x[i], y[i]) for i in (rng.integers(0, n, n) for _ in range(resamples))]
    )
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
