"""Rank statistics: how well a score ranks architectures by their measured accuracy, in numpy.

Kendall's tau-b and Spearman's rho (both with ties handled as scipy.stats does), top-k% precision
and a seeded percentile bootstrap confidence interval; `correlations` gathers them. Non-finite
pairs are dropped only by `finite_pairs` (and so by `correlations`). `average_ranks` is the
scorers' (`scorers.combined`), so that search and analysis rank alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from scorers.combined import average_ranks

__all__ = [
    "average_ranks",
    "bootstrap_ci",
    "correlations",
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

    Knight's O(n log^2 n) method: sorted by x (then y), the discordant pairs D are the inversions
    of y; the concordant ones follow from the tie counts. NaN if either vector is constant.
    """
    x, y = _vectors(x, y)
    n = len(x)
    if n < 2:
        return float("nan")
    order = np.lexsort((y, x))
    discordant = _inversions(np.unique(y, return_inverse=True)[1][order])
    pairs = n * (n - 1) // 2
    ties_x, ties_y = _tied_pairs(x), _tied_pairs(y)
    ties_xy = _tied_pairs(x + 1j * y)
    concordant = pairs - ties_x - ties_y + ties_xy - discordant
    denominator = np.sqrt(float(pairs - ties_x) * float(pairs - ties_y))
    return float((concordant - discordant) / denominator) if denominator > 0 else float("nan")


def _tied_pairs(values: np.ndarray) -> int:
    """Pairs ``i < j`` with equal values."""
    counts = np.unique(values, return_counts=True)[1].astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def _inversions(ranks: np.ndarray) -> int:
    """Pairs ``i < j`` with ``ranks[i] > ranks[j]``, for integers in ``[0, n)``, by a bottom-up
    merge sort: each level counts, for every element of a right run, the larger ones in the left
    run beside it (one `np.searchsorted` over all runs, keyed by run so that runs stay apart)."""
    n = len(ranks)
    values, positions = ranks.astype(np.int64), np.arange(n)
    inversions, width = 0, 1
    while width < n:
        run_pair = positions // (2 * width)
        on_left = positions % (2 * width) < width
        keys = run_pair * n + values
        left = keys[on_left]  # ascending: each left run is sorted and the pairs are in order
        right_pair = run_pair[~on_left]
        left_end = np.searchsorted(left, (right_pair + 1) * n)
        inversions += int((left_end - np.searchsorted(left, keys[~on_left], side="right")).sum())
        values = np.sort(keys) % n
        width *= 2
    return inversions


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

    Resamples whose statistic is NaN (e.g. all-tied draws) are ignored; ``(nan, nan)`` if all are
    or there are no pairs.
    """
    x, y = _vectors(x, y)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    n = len(x)
    if n == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = np.array(
        [statistic(x[i], y[i]) for i in (rng.integers(0, n, n) for _ in range(resamples))]
    )
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def correlations(
    predicted: np.ndarray, truth: np.ndarray, *, resamples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Kendall's tau and Spearman's rho, each with its bootstrap 95% interval, and the top-10%
    precision of ``predicted`` (higher predicts better) against ``truth``, over their finite pairs.

    Returns:
      ``{"n", "kendall_tau", "kendall_tau_ci95", "spearman_rho", "spearman_rho_ci95",
      "top10_precision"}``; the intervals are ``[low, high]``.
    """
    x, y = finite_pairs(predicted, truth)
    result: dict[str, Any] = {"n": len(x)}
    for name, function in (("kendall_tau", kendall_tau), ("spearman_rho", spearman_rho)):
        result[name] = function(x, y)
        result[f"{name}_ci95"] = list(bootstrap_ci(function, x, y, resamples=resamples, seed=seed))
    result["top10_precision"] = top_k_precision(x, y, 10.0) if len(x) else float("nan")
    return result
