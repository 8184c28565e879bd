"""Rank combinations of several scores over a population of architectures (TE-NAS's rule).

A rank needs a population, so a combination is not a per-architecture `Scorer`: score every
architecture of the population (e.g. a study's trials) with the component scorers, then combine
the columns with `rank_sum` and pick the highest sum.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from scorers.base import Direction

__all__ = ["average_ranks", "rank_sum"]


def average_ranks(x: ArrayLike) -> np.ndarray:
    """Ranks 1..n of `x` (ascending), ties sharing the mean of their ranks (scipy's ``rankdata``).

    Args:
      x: ``(n,)`` values; NaN sorts after everything (but each NaN is a tie of its own).

    Returns:
      ``(n,)`` float64 ranks.
    """
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # Start of each run of equal values, then each element's run.
    starts = np.r_[True, sorted_x[1:] != sorted_x[:-1]]
    run = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], len(x)] - 1
    mean_rank = (first + last) / 2.0 + 1.0
    ranks = np.empty(len(x))
    ranks[order] = mean_rank[run]
    return ranks


def rank_sum(
    columns: Mapping[str, ArrayLike], directions: Mapping[str, Direction], *, log: bool = False
) -> np.ndarray:
    """The sum over `columns` of each column's rank, oriented so that a higher sum is better.

    Within a column the best value (the largest for ``"maximize"``, the smallest for
    ``"minimize"``) ranks ``n`` and the worst ``1``; ties share the mean of their ranks. A
    non-finite value (NaN, ``inf`` or ``-inf``: a score that could not be computed) ranks below
    every finite one, in either direction, and all non-finite values of a column tie. TE-NAS
    combines the NTK condition number and the linear-region count this way. With `log`, the sum
    is of ``log(rank / n)`` instead (AZ-NAS's rule: the log of the product of the normalised
    ranks, so an architecture ranked low by any one column ranks low overall).

    Args:
      columns: ``name -> (n,)`` scores of the same n architectures.
      directions: ``name -> "maximize" | "minimize"`` for every column.
      log: sum ``log(rank / n)`` instead of the ranks.

    Returns:
      ``(n,)`` float64 sums: in ``[len(columns), n * len(columns)]``, or with `log` in
      ``[len(columns) * log(1 / n), 0]``; the best architecture has the largest.

    Raises:
      ValueError: no columns, columns of different lengths or not 1-D, or a column without a
        valid direction.

    Example:
      >>> rank_sum({"ntk_cond": [10.0, 100.0, float("inf")], "naswot": [1.0, 3.0, 2.0]},
      ...          {"ntk_cond": "minimize", "naswot": "maximize"}).tolist()
      [4.0, 5.0, 3.0]

    References:
      Chen, Gong, Wang. Neural Architecture Search on ImageNet in Four GPU Hours: A Theoretically
      Inspired Perspective (TE-NAS). ICLR 2021.
      Lee, Ham. AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search. CVPR 2024.
    """
    if not columns:
        raise ValueError("rank_sum needs at least one column")
    vectors = {name: np.asarray(values, dtype=np.float64) for name, values in columns.items()}
    shapes = {v.shape for v in vectors.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ValueError(f"expected 1-D columns of one length, got shapes {sorted(shapes)}")
    (n,) = next(iter(shapes))
    total = np.zeros(n)
    for name, values in vectors.items():
        direction = directions.get(name)
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"column {name!r} needs direction 'maximize' or 'minimize'")
        oriented = values if direction == "maximize" else -values
        ranks = average_ranks(np.where(np.isfinite(oriented), oriented, -np.inf))
        total += np.log(ranks / n) if log else ranks
    return total
