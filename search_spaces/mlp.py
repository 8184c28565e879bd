"""An MLP space for tabular data.

An arch (:class:`MLPArch`) is 1 to 4 hidden layers (:data:`DEPTHS`), each of a width from
:data:`WIDTHS`, one activation for all layers (:data:`ACTIVATION_NAMES`) and LayerNorm on or off.
A hidden layer is Dense, then LayerNorm (if on), then the activation; a Dense head follows.

Arch strings are ``{width_1}-...-{width_depth}|{activation}|ln{0|1}``, e.g. ``256-64|gelu|ln1``.
The space has ``(5 + 5**2 + 5**3 + 5**4) * 4 * 2 = 6240`` archs.

Parameter names: ``dense_{i}``, ``ln_{i}`` (``i`` from 0) and ``head``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

import flax.linen as nn
import jax

from .base import CategoricalTrial, SearchSpace, SearchSpaceError, check_choice
from .layers import ACTIVATIONS

DEPTHS = (1, 2, 3, 4)
WIDTHS = (32, 64, 128, 256, 512)
ACTIVATION_NAMES = ("relu", "gelu", "tanh", "swish")
LAYER_NORMS = (False, True)

_FORMAT = "{width_1}-...-{width_depth}|{activation}|ln{0|1}"
_RE = re.compile(r"(?P<widths>\d+(?:-\d+)*)\|(?P<activation>[a-z]+)\|ln(?P<layer_norm>[01])")


@dataclass(frozen=True)
class MLPArch:
    """An MLP.

    Attributes:
        widths: the hidden layers' widths, 1 to 4 of :data:`WIDTHS` (any sequence; stored as a
            tuple).
        activation: one of :data:`ACTIVATION_NAMES`.
        layer_norm: LayerNorm after every hidden Dense.

    Raises:
        SearchSpaceError: for a depth, width or activation that is not a choice.
    """

    widths: tuple[int, ...]
    activation: str
    layer_norm: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(self.widths))
        check_choice(len(self.widths), DEPTHS, f"depth (number of widths in {self.widths})")
        for i, width in enumerate(self.widths):
            check_choice(width, WIDTHS, f"width of layer {i}")
        check_choice(self.activation, ACTIVATION_NAMES, "activation")
        check_choice(self.layer_norm, LAYER_NORMS, "layer_norm")


class MLP(nn.Module):
    """The network of an MLP arch.

    Attributes:
        arch: the layers.
        num_classes: outputs of the head.
    """

    arch: MLPArch
    num_classes: int = 10

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Maps ``(B, num_features)`` to ``(B, num_classes)``; ``train`` is unused."""
        del train
        act = ACTIVATIONS[self.arch.activation]
        for i, width in enumerate(self.arch.widths):
            x = nn.Dense(width, name=f"dense_{i}")(x)
            if self.arch.layer_norm:
                x = nn.LayerNorm(name=f"ln_{i}")(x)
            x = act(x)
        return nn.Dense(self.num_classes, name="head")(x)


class MLPSpace(SearchSpace[MLPArch]):
    """MLPs for inputs of shape ``input_shape = (num_features,)``.

    Args:
        input_shape: ``(num_features,)`` of the data; it only matters for :meth:`num_params`.
    """

    name = "mlp"

    def __init__(self, *, input_shape: tuple[int]) -> None:
        self.input_shape = tuple(input_shape)

    def suggest(self, trial: CategoricalTrial) -> MLPArch:
        """Categoricals ``depth``, ``width_{i}`` (``i < depth``), ``activation``, ``layer_norm``."""
        depth = trial.suggest_categorical("depth", DEPTHS)
        return MLPArch(
            widths=tuple(trial.suggest_categorical(f"width_{i}", WIDTHS) for i in range(depth)),
            activation=trial.suggest_categorical("activation", ACTIVATION_NAMES),
            layer_norm=trial.suggest_categorical("layer_norm", LAYER_NORMS),
        )

    def enumerate(self) -> Iterator[MLPArch]:
        """All 6240 archs: by depth, then widths, activation and LayerNorm in product order."""
        for depth in DEPTHS:
            for widths, activation, layer_norm in itertools.product(
                itertools.product(WIDTHS, repeat=depth), ACTIVATION_NAMES, LAYER_NORMS
            ):
                yield MLPArch(widths, activation, layer_norm)

    def build(self, arch: MLPArch, *, num_classes: int = 10) -> MLP:
        """The network of ``arch``."""
        return MLP(arch, num_classes=num_classes)

    def to_str(self, arch: MLPArch) -> str:
        """``{width_1}-...-{width_depth}|{activation}|ln{0|1}``."""
        widths = "-".join(map(str, arch.widths))
        return f"{widths}|{arch.activation}|ln{int(arch.layer_norm)}"

    def from_str(self, s: str) -> MLPArch:
        """Parses :meth:`to_str`'s format.

        Raises:
            SearchSpaceError: quoting the malformed string or the invalid choice.
        """
        match = _RE.fullmatch(s)
        if match is None:
            raise SearchSpaceError(
                f"MLP string {s!r} does not match {_FORMAT!r}, e.g. '256-64|gelu|ln1'"
            )
        return MLPArch(
            widths=tuple(int(w) for w in match["widths"].split("-")),
            activation=match["activation"],
            layer_norm=match["layer_norm"] == "1",
        )
