"""The scorer registry: `get`, `register`, `names`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from scorers.base import Scorer, ScorerError
from scorers.baselines import Flops, Params
from scorers.isotropy import Expressivity, Progressivity
from scorers.linear_regions import LinearRegions
from scorers.meco import MeCo
from scorers.naswot import NASWOT
from scorers.ntk import NTKEigSpectrum, NTKTrace, ntk_cond
from scorers.ntk_dynamics import NTKDynamics
from scorers.swap import SWAP
from scorers.trainability import Trainability
from scorers.zero_cost import GradNorm, JacobCov, Snip, Synflow
from scorers.zico import ZiCo

Factory = Callable[..., Scorer]

_FACTORIES: dict[str, Factory] = {
    "ntk_cond": ntk_cond,
    "ntk_trace": NTKTrace,
    "ntk_eig_spectrum": NTKEigSpectrum,
    "ntk_dynamics": NTKDynamics,
    "naswot": NASWOT,
    "meco": MeCo,
    "swap": SWAP,
    "linear_regions": LinearRegions,
    "synflow": Synflow,
    "grad_norm": GradNorm,
    "snip": Snip,
    "jacob_cov": JacobCov,
    "zico": ZiCo,
    "expressivity": Expressivity,
    "progressivity": Progressivity,
    "trainability": Trainability,
    "params": Params,
    "flops": Flops,
}


def names() -> list[str]:
    """The registered scorer names, sorted."""
    return sorted(_FACTORIES)


def register(name: str, factory: Factory) -> None:
    """Registers ``factory(**options) -> Scorer`` under `name`.

    Raises:
      ScorerError: if `name` is taken.
    """
    if name in _FACTORIES:
        raise ScorerError(f"a scorer named {name!r} is already registered")
    _FACTORIES[name] = factory


def get(name: str, /, **options: Any) -> Scorer:
    """The scorer registered as `name`, built with `options` (e.g. ``get("ntk_cond",
    preset="tenas")``).

    Raises:
      ScorerError: for an unknown name (listing the valid ones) or an option the scorer does not
        take (listing those it takes).
    """
    if name not in _FACTORIES:
        raise ScorerError(f"unknown scorer {name!r}; valid scorers: {', '.join(names())}")
    factory = _FACTORIES[name]
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as error:
        raise ScorerError(
            f"bad options for scorer {name!r}: {error}; its options: {_options(factory)}"
        ) from None
    return factory(**options)


def _options(factory: Factory) -> str:
    return ", ".join(inspect.signature(factory).parameters)
