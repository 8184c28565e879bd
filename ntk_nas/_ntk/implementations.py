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
      STRUCTURED_DERIVATIVES: contract each parameter's use directly, from the inputs of the
        primitive that consumes it and the cotangents of its output (Dense: Gram matrices of
        inputs and of cotangents, never ``J``; convolutions: ``J`` from patches). Fastest for dense
        layers and attention; about Jacobian contraction's cost for convolutions on CPU, and
        half its time on a GPU, where per-sample convolution gradients are grouped
        convolutions (NAS-Bench-201's supernet, C=16, N=5, batch 64, one H200; README). Memory: the
        cotangents of every layer's output, ``N O sum_l |y_l|``. Leaves used by other
        primitives fall back to their Jacobian.
      AUTO: the cheapest of the above by a FLOP and memory cost model, within the memory budget.
    """

    JACOBIAN_CONTRACTION = "jacobian_contraction"
    NTK_VECTOR_PRODUCTS = "ntk_vector_products"
    STRUCTURED_DERIVATIVES = "structured_derivatives"
    AUTO = "auto"
