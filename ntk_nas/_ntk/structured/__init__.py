"""Structured derivatives (Novak et al., 2022): the NTK of each parameter from the primitive that
uses it. `kernel` has the algorithm, `forms` the dot form and its contractions, `graph` the jaxpr
walk, `rules` one module per primitive family."""

from ntk_nas._ntk.structured.kernel import describe as describe
from ntk_nas._ntk.structured.kernel import structured_derivatives as structured_derivatives
