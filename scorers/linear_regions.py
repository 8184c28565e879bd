"""The number of linear regions a ReLU network cuts a batch into (TE-NAS's expressivity score)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from scorers.activations import CodeScorer
from scorers.base import Direction


def count_distinct(distances: np.ndarray) -> int:
    """The number of distinct codes, from their ``(N, N)`` Hamming distances.

    Each sample adds ``1 / m`` where ``m`` counts the samples with its code (TE-NAS's count).
    """
    duplicates = (np.asarray(distances) == 0).sum(axis=1)
    return round(float(np.sum(1.0 / duplicates)))


@dataclasses.dataclass(frozen=True)
class LinearRegions(CodeScorer):
    """Distinct ReLU activation patterns over the batch (higher is better).

    Two inputs lie in the same linear region of a ReLU network when every ReLU has the same sign
    pattern on them; the score counts the distinct patterns (over every ReLU, read off the jaxpr;
    see `scorers.activations`) among the batch's samples, so it is at most ``N``. TE-NAS counts
    over 3000 inputs of a one-channel copy of the network on 3x3 crops and hooks only conv
    feature maps; here the module and batch are taken as given. ``bn="train"`` by default, as
    TE-NAS. Extras: ``units``, ``relus``.

    References:
      Chen, Gong, Wang. Neural Architecture Search on ImageNet in Four GPU Hours: A Theoretically
      Inspired Perspective (TE-NAS). ICLR 2021.
    """

    direction: ClassVar[Direction] = "maximize"
    name: str = "linear_regions"

    def _value(self, distances: np.ndarray, units: int) -> float:
        return float(count_distinct(distances))
