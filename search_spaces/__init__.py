"""Search spaces: Flax model builders behind one small protocol.

``get(name, **options)`` returns a :class:`SearchSpace`; its archs are suggested by an Optuna trial
(:meth:`SearchSpace.suggest`), sampled, enumerated, formatted and parsed, and built into
``flax.linen`` modules called as ``module(x, train=False)``.
"""

from .base import CategoricalTrial as CategoricalTrial
from .base import MaskedForm as MaskedForm
from .base import RandomTrial as RandomTrial
from .base import Relaxation as Relaxation
from .base import SearchSpace as SearchSpace
from .base import SearchSpaceError as SearchSpaceError
from .base import count_params as count_params
from .darts import DartsGenotype as DartsGenotype
from .darts import DartsSpace as DartsSpace
from .macro import MacroArch as MacroArch
from .macro import MacroSpace as MacroSpace
from .macro import Stage as Stage
from .mlp import MLPArch as MLPArch
from .mlp import MLPSpace as MLPSpace
from .nb201 import NB201Arch as NB201Arch
from .nb201 import NB201Space as NB201Space
from .registry import get as get
from .registry import names as names
from .registry import register as register

__all__ = [
    "CategoricalTrial",
    "DartsGenotype",
    "DartsSpace",
    "MLPArch",
    "MLPSpace",
    "MacroArch",
    "MacroSpace",
    "MaskedForm",
    "NB201Arch",
    "NB201Space",
    "RandomTrial",
    "Relaxation",
    "SearchSpace",
    "SearchSpaceError",
    "Stage",
    "count_params",
    "get",
    "names",
    "register",
]
