"""ntk_nas: training-free neural architecture search for JAX, scored by a fast empirical NTK.

The engine (`empirical_ntk`, ...) is imported eagerly; the Optuna plugin (`search`, `rank`,
`Objective`) lazily, because it sits on top of `scorers`, which use the engine.
"""

from typing import Any

from ntk_nas._ntk.api import NTKFunction as NTKFunction
from ntk_nas._ntk.api import Output as Output
from ntk_nas._ntk.api import empirical_ntk as empirical_ntk
from ntk_nas._ntk.api import empirical_ntk_fn as empirical_ntk_fn
from ntk_nas._ntk.auto import Plan as Plan
from ntk_nas._ntk.errors import NonFiniteKernelError as NonFiniteKernelError
from ntk_nas._ntk.errors import NTKInputError as NTKInputError
from ntk_nas._ntk.implementations import Implementation as Implementation

_PLUGIN = ("Objective", "rank", "search")

__all__ = [
    "Implementation",
    "NTKFunction",
    "NTKInputError",
    "NonFiniteKernelError",
    "Objective",
    "Output",
    "Plan",
    "empirical_ntk",
    "empirical_ntk_fn",
    "rank",
    "search",
]


def __getattr__(name: str) -> Any:
    if name in _PLUGIN:
        from ntk_nas import study

        return getattr(study, name)
    raise AttributeError(f"module 'ntk_nas' has no attribute {name!r}")
