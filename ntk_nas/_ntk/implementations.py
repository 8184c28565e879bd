"""The names of the NTK implementations."""

from __future__ import annotations

import enum


class Implementation(enum.Enum):
    """How the empirical NTK is computed (Novak et al., 2022).

    Attributes:
      JACOBIAN_CONTRACTION: build per-sample Jacobians ``(N, O, P)`` and contract them. Fast when
        the forward pass costs much more than `P` (convolutions); memory grows as ``N O P``.
      NTK_VECTOR_PRODUCTS: one VJP and one JVP per column of the kernel, never forming `J`. Fast
        when `P` is large relative to the forward pass and `O` is large (dense nets, full kernel).
      AUTO: the cheapest of the above by a FLOP and memory cost model, within the memory budget.
    """

    JACOBIAN_CONTRACTION = "jacobian_contraction"
    NTK_VECTOR_PRODUCTS = "ntk_vector_products"
    AUTO = "auto"
