"""`experiments.postgres.postgres_server` for tests, skipped with the install hint where absent."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from experiments import postgres as server


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yields the URL of a throwaway server; skips the test where none can be started."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(server.postgres_server())
        except server.PostgresUnavailable as error:
            pytest.skip(str(error))
        yield url
