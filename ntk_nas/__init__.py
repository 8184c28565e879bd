"""ntk_nas: training-free neural architecture search for JAX, scored by a fast empirical NTK."""

from ntk_nas._ntk.api import NTKFunction as NTKFunction
from ntk_nas._ntk.api import Output as Output
from ntk_nas._ntk.api import empirical_ntk as empirical_ntk
from ntk_nas._ntk.api import empirical_ntk_fn as empirical_ntk_fn
from ntk_nas._ntk.auto import Plan as Plan
from ntk_nas._ntk.errors import NonFiniteKernelError as NonFiniteKernelError
from ntk_nas._ntk.errors import NTKInputError as NTKInputError
from ntk_nas._ntk.implementations import Implementation as Implementation

__all__ = [
    "Implementation",
    "NTKFunction",
    "NTKInputError",
    "NonFiniteKernelError",
    "Output",
    "Plan",
    "empirical_ntk",
    "empirical_ntk_fn",
]
