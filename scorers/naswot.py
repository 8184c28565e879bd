"""NASWOT: the log-determinant of the Hamming-similarity kernel of ReLU activation codes."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np

from scorers.activations import CodeScorer
from scorers.base import Direction


def naswot_logdet(distances: np.ndarray, units: int) -> float:
    """``log |det K|`` of ``K = units - distances``, or ``-inf`` when K is singular.

    Args:
      distances: ``(N, N)`` Hamming distances between the samples' binary codes.
      units: the code length ``A``; ``K_ij = A - d_ij`` counts the units on which samples ``i``
        and ``j`` agree, ``K = c c^T + (1 - c)(1 - c)^T``.

    Returns:
      The log-determinant in float64 (``-inf`` for a singular kernel, e.g. two equal codes).
    """
    kernel = units - np.asarray(distances, np.float64)
    sign, logdet = np.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else -math.inf


@dataclasses.dataclass(frozen=True)
class NASWOT(CodeScorer):
    """NASWOT score (higher is better): ``log det K`` of the agreement kernel of binary ReLU codes.

    Each sample's code marks which ReLU units have a positive input (every ReLU, read off the
    jaxpr; see `scorers.activations`). ``bn="train"`` by default, like the released code's network
    in training mode. Extras: ``units`` (code length), ``relus`` (ReLU calls).

    References:
      Mellor, Turner, Storkey, Crowley. Neural Architecture Search without Training. ICML 2021.
    """

    direction: ClassVar[Direction] = "maximize"
    name: str = "naswot"

    def _value(self, distances: np.ndarray, units: int) -> float:
        return naswot_logdet(distances, units)
