"""Counting XLA compilations: a check that one compiled program serves many calls."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import jax

_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


@dataclasses.dataclass
class Compilations:
    """XLA compilations seen so far.

    Attributes:
      count: programs compiled (eager primitives of a new shape count too).
      seconds: their total compile time, in seconds.
    """

    count: int = 0
    seconds: float = 0.0


@contextlib.contextmanager
def count_compilations() -> Iterator[Compilations]:
    """Counts the XLA compilations of every thread while the block runs.

    Example::

        with count_compilations() as compiled:
            score_many_architectures()
        print(compiled.count, compiled.seconds)
    """
    seen = Compilations()

    def listen(event: str, duration_secs: float, **kwargs: str | int) -> None:
        del kwargs
        if event == _BACKEND_COMPILE:
            seen.count += 1
            seen.seconds += duration_secs

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
