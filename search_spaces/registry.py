"""Search spaces by name: ``get("nb201")``, ``register(name, factory)``, ``names()``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import SearchSpace, SearchSpaceError, check_choice
from .darts import DartsSpace
from .macro import MacroSpace
from .mlp import MLPSpace
from .nb201 import NB201Space

Factory = Callable[..., SearchSpace[Any]]

_FACTORIES: dict[str, Factory] = {
    space.name: space for space in (NB201Space, DartsSpace, MacroSpace, MLPSpace)
}


def register(name: str, factory: Factory) -> None:
    """Makes ``get(name, **options)`` return ``factory(**options)``.

    Raises:
        ValueError: if ``name`` is already registered.
    """
    if name in _FACTORIES:
        raise ValueError(f"search space {name!r} is already registered")
    _FACTORIES[name] = factory


def names() -> list[str]:
    """The registered names, sorted."""
    return sorted(_FACTORIES)


def get(name: str, **options: Any) -> SearchSpace[Any]:
    """Creates the space registered as ``name`` with the factory's keyword ``options``.

    Raises:
        SearchSpaceError: if ``name`` is not registered (the message lists the valid names), or
            if the factory does not take ``options``.
    """
    check_choice(name, names(), "search space name")
    try:
        return _FACTORIES[name](**options)
    except TypeError as error:
        raise SearchSpaceError(
            f"bad options {options!r} for search space {name!r}: {error}"
        ) from None
