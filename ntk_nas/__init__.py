"""ntk_nas: training-free neural architecture search for JAX, scored by a fast empirical NTK.

The engine (`empirical_ntk`, ...) is imported eagerly; the Optuna plugin (`search`, `rank`,
`Objective`), the pruning search (`prune`), `correlate` and `train` lazily, because they sit on
top of `scorers`, which use the engine.
"""

from typing import Any

from ntk_nas._ntk.api import PRECISIONS as PRECISIONS
from ntk_nas._ntk.api import NTKFunction as NTKFunction
from ntk_nas._ntk.api import Output as Output
from ntk_nas._ntk.api import empirical_ntk as empirical_ntk
from ntk_nas._ntk.api import empirical_ntk_fn as empirical_ntk_fn
from ntk_nas._ntk.auto import Plan as Plan
from ntk_nas._ntk.errors import NonFiniteKernelError as NonFiniteKernelError
from ntk_nas._ntk.errors import NTKInputError as NTKInputError
from ntk_nas._ntk.implementations import Implementation as Implementation
from ntk_nas.compilations import count_compilations as count_compilations

_PLUGIN = {
    "Objective": "study",
    "TrainConfig": "training",
    "correlate": "correlation",
    "prune": "pruning",
    "rank": "study",
    "search": "study",
    "train": "training",
}

__all__ = [
    "PRECISIONS",
    "Implementation",
    "NTKFunction",
    "NTKInputError",
    "NonFiniteKernelError",
    "Objective",
    "Output",
    "Plan",
    "TrainConfig",
    "correlate",
    "count_compilations",
    "empirical_ntk",
    "empirical_ntk_fn",
    "prune",
    "rank",
    "search",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in _PLUGIN:
        import importlib

        return getattr(importlib.import_module(f"ntk_nas.{_PLUGIN[name]}"), name)
    raise AttributeError(f"module 'ntk_nas' has no attribute {name!r}")
