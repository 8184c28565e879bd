"""The search-space protocol shared by every space, and its error type.

A search space describes a finite set of architectures ("archs": small immutable values such as
frozen dataclasses) and how to turn one into a ``flax.linen.Module``. It knows nothing about how
archs are scored or searched; the only coupling to Optuna is :meth:`SearchSpace.suggest`, which
takes any object with Optuna's ``suggest_categorical`` method.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ArchT = TypeVar("ArchT")


class SearchSpaceError(ValueError):
    """An invalid architecture, architecture string or search-space name.

    The message quotes the offending part and lists what would have been valid.
    """


class CategoricalTrial(Protocol):
    """The part of ``optuna.trial.Trial`` (or ``FixedTrial``) that a search space uses."""

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        """Returns one element of ``choices``; ``name`` always comes with the same ``choices``."""
        ...


class RandomTrial:
    """A :class:`CategoricalTrial` that draws every choice uniformly from a NumPy generator.

    It lets :meth:`SearchSpace.sample` reuse the define-by-run code of :meth:`SearchSpace.suggest`.

    Args:
        rng: the source of randomness; it is advanced by every call.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        """Returns a uniformly drawn element of ``choices`` (``name`` is ignored)."""
        del name
        return choices[int(self._rng.integers(len(choices)))]


def image_shape(space: str, input_shape: Sequence[int]) -> tuple[int, int, int]:
    """``input_shape`` as ``(H, W, C)``, or :class:`SearchSpaceError` naming ``space`` if it is
    not one image shape of positive sizes (a convolutional space given flat features)."""
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(n, int) and n > 0 for n in shape):
        raise SearchSpaceError(
            f"search space {space!r} takes images (H, W, C); got input shape {shape}"
        )
    return shape


def check_choice(value: Any, valid: Sequence[Any], what: str) -> None:
    """Raises :class:`SearchSpaceError` unless ``value`` is one of ``valid``.

    Args:
        value: the value to check.
        valid: the allowed values.
        what: a short description of the value for the message, e.g. ``"op on edge 1<-0"``.
    """
    if value not in valid:
        raise SearchSpaceError(
            f"invalid {what}: {value!r}; valid: {', '.join(repr(v) for v in valid)}"
        )


def count_params(module: nn.Module, input_shape: Sequence[int]) -> int:
    """Counts the scalars in the ``params`` collection of ``module`` without initialising it.

    Args:
        module: a module called as ``module(x, train=False)``.
        input_shape: the shape of one sample; the module is traced on a batch of shape
            ``(1, *input_shape)``.

    Returns:
        The number of trainable parameters (BatchNorm statistics are not counted).
    """
    x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
    variables = jax.eval_shape(lambda x: module.init(jax.random.key(0), x, train=False), x)
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(variables.get("params", {})))


ACTIVE_COLLECTION, ACTIVE_NAME = "active", "ops"
"""Where a masked supernet tells which ops it uses: each module that holds ops sows ``{op
submodule's name: weight}`` (zero for an op not in use) into the collection ``"active"`` under
the name ``"ops"``, so that scores of activations inside ops (NASWOT's ReLU codes) can leave the
unused ops out. Sown only when a caller makes the collection mutable."""


@dataclasses.dataclass(frozen=True)
class Relaxation(Generic[ArchT]):
    """A masked supernet with several ops per decision at once, each weighted (as in DARTS), so
    that a pruning search (TE-NAS) can score it with only some ops still active.

    Attributes:
        decisions: the name of each decision (e.g. an edge of a cell), ``D`` of them.
        options: the op names of each decision; ``K`` is the longest.
        weigh: ``(D, K)`` float32 op weights (zero for an inactive or absent op; each row sums
            to 1) -> the variable collections that weigh the supernet's ops so.
        arch: one option index per decision -> the arch that picks those ops.
        owner: a parameter's path in ``params`` (its keys, outermost first) -> the ``(decision,
            option)`` of the op that holds it, or None for a parameter outside every decision.
    """

    decisions: tuple[str, ...]
    options: tuple[tuple[str, ...], ...]
    weigh: Callable[[np.ndarray], Mapping[str, Any]]
    arch: Callable[[Sequence[int]], ArchT]
    owner: Callable[[Sequence[str]], tuple[int, int] | None]


@dataclasses.dataclass(frozen=True)
class MaskedForm(Generic[ArchT]):
    """One module for every arch of a space, the arch chosen at run time (a "masked supernet").

    ``module.apply({**variables, **select(arch)}, x, train=...)`` computes the outputs of
    ``build(arch)`` with the parameters that ``build(arch)`` has, at the same paths (so one key
    initialises both alike); the parameters that ``arch`` does not use get zero gradient, and each
    op sows its weight into `ACTIVE_COLLECTION`. One compiled function of ``module`` then serves
    every arch.

    Attributes:
        module: the supernet; its ``init`` creates every op's parameters.
        select: ``arch -> {collection: {name: array}}``, the variable collections (e.g. one-hot op
            masks) that choose ``arch``.
        relaxation: how to weigh several ops per decision, where the supernet allows it.
    """

    module: nn.Module
    select: Callable[[ArchT], Mapping[str, Any]]
    relaxation: Relaxation[ArchT] | None = None


class SearchSpace(abc.ABC, Generic[ArchT]):
    """A finite set of architectures of type ``ArchT`` and how to build them.

    Every module returned by :meth:`build` takes NHWC images (or ``(batch, features)`` for tabular
    spaces) of shape ``(batch, *input_shape)`` and is called as ``module(x, train=False)``:
    ``train=False`` uses BatchNorm running averages, ``train=True`` uses batch statistics and needs
    ``mutable=["batch_stats"]`` in ``apply``. It returns logits of shape ``(batch, num_classes)``.

    Attributes:
        name: the registry name of the space.
        input_shape: the shape of one input sample, without the batch axis.
    """

    name: ClassVar[str]
    input_shape: tuple[int, ...]

    @abc.abstractmethod
    def suggest(self, trial: CategoricalTrial) -> ArchT:
        """Builds an arch define-by-run from ``trial.suggest_categorical`` calls.

        Each parameter name always comes with the same choice list (plain str/int/bool values),
        so conditional choices use distinct names per branch.
        """

    def sample(self, rng: np.random.Generator) -> ArchT:
        """Draws an arch by answering every choice of :meth:`suggest` uniformly at random."""
        return self.suggest(RandomTrial(rng))

    @abc.abstractmethod
    def enumerate(self) -> Iterator[ArchT]:
        """Yields every arch of the space exactly once, lazily, in a deterministic order."""

    @abc.abstractmethod
    def build(self, arch: ArchT, *args: Any, **options: Any) -> nn.Module:
        """Returns the Flax module of ``arch``.

        Each space declares its own keyword-only options: ``num_classes`` and size options.
        """

    @abc.abstractmethod
    def to_str(self, arch: ArchT) -> str:
        """Formats ``arch`` as a string that :meth:`from_str` parses back to an equal arch."""

    @abc.abstractmethod
    def from_str(self, s: str) -> ArchT:
        """Parses an arch string; raises :class:`SearchSpaceError` quoting the bad part."""

    def canonical(self, arch: ArchT) -> ArchT:
        """Returns one representative of the archs that compute the same function as ``arch``.

        The default is the identity; spaces with known equivalences override it.
        """
        return arch

    def masked(self, *args: Any, **options: Any) -> MaskedForm[ArchT] | None:
        """The space's masked supernet for ``build``'s ``options``, or None (the default) where
        the space has none."""
        del args, options
        return None

    def num_params(self, arch: ArchT, **options: Any) -> int:
        """Counts the trainable parameters of ``build(arch, **options)`` via ``jax.eval_shape``."""
        return count_params(self.build(arch, **options), self.input_shape)
