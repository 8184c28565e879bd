"""The engine's error types."""

from __future__ import annotations


class NTKInputError(ValueError):
    """Bad input to the NTK engine: the message names the bad value."""


class NonFiniteKernelError(FloatingPointError):
    """The computed kernel holds NaN or inf entries."""
