"""Training-free scores of architectures at initialisation.

Every scorer takes a Flax linen module (called as ``module.apply(variables, x, train=...)``), its
variables or None (initialise from ``key``) and a batch ``(x, y)``, and returns a `Score`. Build
them by name with `get`; list the names with `names`. `rank_sum` combines several scores of a
population of architectures by rank (TE-NAS's combination).
"""

from .base import BaseScorer as BaseScorer
from .base import BatchNormScorer as BatchNormScorer
from .base import CostEstimating as CostEstimating
from .base import Score as Score
from .base import Scorer as Scorer
from .base import ScorerError as ScorerError
from .baselines import Flops as Flops
from .baselines import Params as Params
from .combined import average_ranks as average_ranks
from .combined import rank_sum as rank_sum
from .isotropy import Expressivity as Expressivity
from .isotropy import Progressivity as Progressivity
from .linear_regions import LinearRegions as LinearRegions
from .meco import MeCo as MeCo
from .naswot import NASWOT as NASWOT
from .ntk import NTKCond as NTKCond
from .ntk import NTKEigSpectrum as NTKEigSpectrum
from .ntk import NTKTrace as NTKTrace
from .ntk import ntk_cond as ntk_cond
from .ntk import ntk_cost as ntk_cost
from .ntk_dynamics import NTKDynamics as NTKDynamics
from .registry import get as get
from .registry import names as names
from .registry import register as register
from .swap import SWAP as SWAP
from .table import score_table as score_table
from .trainability import Trainability as Trainability
from .zero_cost import GradNorm as GradNorm
from .zero_cost import JacobCov as JacobCov
from .zero_cost import Snip as Snip
from .zero_cost import Synflow as Synflow
from .zico import ZiCo as ZiCo

__all__ = [
    "NASWOT",
    "SWAP",
    "BaseScorer",
    "BatchNormScorer",
    "CostEstimating",
    "Expressivity",
    "Flops",
    "GradNorm",
    "JacobCov",
    "LinearRegions",
    "MeCo",
    "NTKCond",
    "NTKDynamics",
    "NTKEigSpectrum",
    "NTKTrace",
    "Params",
    "Progressivity",
    "Score",
    "Scorer",
    "ScorerError",
    "Snip",
    "Synflow",
    "Trainability",
    "ZiCo",
    "average_ranks",
    "get",
    "names",
    "ntk_cond",
    "ntk_cost",
    "rank_sum",
    "register",
    "score_table",
]
