"""A macro CNN space of ResNet / MobileNetV2-style stages.

The network is a stem (3x3 conv to ``stem_width`` channels, BN, ReLU), a fixed number of stages,
global average pooling and a Dense classifier. Each stage (:class:`Stage`) chooses:

- ``depth``: number of blocks, :data:`DEPTHS`;
- ``width``: output channels, ``w * 2**s`` for ``w`` in :data:`BASE_WIDTHS` at stage ``s``;
- ``kernel``: spatial kernel size, :data:`KERNELS`;
- ``expansion``: :data:`EXPANSIONS`; 1 makes ResNet basic blocks (conv kxk, BN, act, conv kxk,
  BN, add, act), more makes MobileNetV2 inverted residuals (1x1 conv to ``expansion * C_in``, BN,
  act, depthwise kxk conv, BN, act, 1x1 conv, BN, add; no activation after the add);
- ``stride``: :data:`STRIDES`, the stride of the stage's first block;
- ``activation``: :data:`ACTIVATION_NAMES`;
- ``residual``: whether blocks add a shortcut (identity, or 1x1 conv + BN where the shape changes).

Arch strings join one ``d{depth}-w{width}-k{kernel}-e{expansion}-s{stride}-{activation}-r{0|1}``
group per stage with ``|``, e.g. ``d2-w32-k3-e6-s1-relu-r1|d1-w64-k5-e1-s2-gelu-r0|...``.

The space is finite but large: ``972 ** num_stages`` archs (972 = 3 * 3 * 3 * 3 * 2 * 3 * 2 choices
per stage); :meth:`MacroSpace.enumerate` yields them lazily.

Parameter names: ``stem_conv``, ``stem_bn``, ``stage{s}_block{b}``, ``classifier``; inside a block
``conv1, bn1, conv2, bn2`` (basic) or ``expand, bn_expand, depthwise, bn_depthwise, project,
bn_project`` (inverted residual), and ``shortcut/conv, shortcut/bn`` for a projection shortcut.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax

from .base import CategoricalTrial, SearchSpace, SearchSpaceError, check_choice, image_shape
from .layers import ACTIVATIONS, batch_norm, conv, global_avg_pool

DEPTHS = (1, 2, 3)
BASE_WIDTHS = (16, 32, 64)
KERNELS = (3, 5, 7)
EXPANSIONS = (1, 3, 6)
STRIDES = (1, 2)
ACTIVATION_NAMES = ("relu", "gelu", "swish")
RESIDUALS = (False, True)

_STAGE_FORMAT = "d{depth}-w{width}-k{kernel}-e{expansion}-s{stride}-{activation}-r{0|1}"
_STAGE_RE = re.compile(
    r"d(?P<depth>\d+)-w(?P<width>\d+)-k(?P<kernel>\d+)-e(?P<expansion>\d+)-s(?P<stride>\d+)"
    r"-(?P<activation>[a-z]+)-r(?P<residual>[01])"
)


def stage_widths(stage: int) -> tuple[int, ...]:
    """The width choices of stage ``stage`` (0-based): :data:`BASE_WIDTHS` times ``2**stage``."""
    return tuple(w * 2**stage for w in BASE_WIDTHS)


def _stage_choices(stage: int) -> dict[str, tuple[Any, ...]]:
    """The choices of every :class:`Stage` field at stage ``stage``, in field order."""
    return {
        "depth": DEPTHS,
        "width": stage_widths(stage),
        "kernel": KERNELS,
        "expansion": EXPANSIONS,
        "stride": STRIDES,
        "activation": ACTIVATION_NAMES,
        "residual": RESIDUALS,
    }


@dataclass(frozen=True)
class Stage:
    """The choices of one stage; see the module docstring."""

    depth: int
    width: int
    kernel: int
    expansion: int
    stride: int
    activation: str
    residual: bool

    def to_str(self) -> str:
        """``d{depth}-w{width}-k{kernel}-e{expansion}-s{stride}-{activation}-r{0|1}``."""
        return (
            f"d{self.depth}-w{self.width}-k{self.kernel}-e{self.expansion}-s{self.stride}"
            f"-{self.activation}-r{int(self.residual)}"
        )


@dataclass(frozen=True)
class MacroArch:
    """A macro CNN: one :class:`Stage` per stage (any sequence; stored as a tuple).

    Raises:
        SearchSpaceError: if there is no stage or a stage has an invalid choice.
    """

    stages: tuple[Stage, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        if not self.stages:
            raise SearchSpaceError("a macro arch needs at least one stage, got none")
        for s, stage in enumerate(self.stages):
            for field, choices in _stage_choices(s).items():
                check_choice(getattr(stage, field), choices, f"{field} of stage {s}")


class Shortcut(nn.Module):
    """Identity, or 1x1 conv + BN (submodules ``conv, bn``) where the resolution or channels change.

    Attributes:
        features: output channels.
        stride: spatial stride.
    """

    features: int
    stride: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Maps ``(B, H, W, C_in)`` to ``(B, ceil(H / stride), ceil(W / stride), features)``."""
        if self.stride == 1 and x.shape[-1] == self.features:
            return x
        x = conv(self.features, 1, stride=self.stride, name="conv")(x)
        return batch_norm(train, name="bn")(x)


class BasicBlock(nn.Module):
    """ResNet basic block: act(BN(conv(act(BN(conv(x))))) [+ shortcut(x)]).

    Attributes:
        stage: the stage's choices (``expansion`` is ignored).
        stride: spatial stride of the first conv.
    """

    stage: Stage
    stride: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Maps ``(B, H, W, C_in)`` to ``(B, ceil(H / stride), ceil(W / stride), width)``."""
        act = ACTIVATIONS[self.stage.activation]
        f, k = self.stage.width, self.stage.kernel
        y = act(batch_norm(train, name="bn1")(conv(f, k, stride=self.stride, name="conv1")(x)))
        y = batch_norm(train, name="bn2")(conv(f, k, name="conv2")(y))
        if self.stage.residual:
            y = y + Shortcut(f, self.stride, name="shortcut")(x, train)
        return act(y)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: BN(project(act(BN(depthwise(act(BN(expand(x)))))))) [+ shortcut(x)].

    Attributes:
        stage: the stage's choices.
        stride: spatial stride of the depthwise conv.
    """

    stage: Stage
    stride: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Maps ``(B, H, W, C_in)`` to ``(B, ceil(H / stride), ceil(W / stride), width)``."""
        act = ACTIVATIONS[self.stage.activation]
        hidden = x.shape[-1] * self.stage.expansion
        y = act(batch_norm(train, name="bn_expand")(conv(hidden, 1, name="expand")(x)))
        y = conv(hidden, self.stage.kernel, stride=self.stride, groups=hidden, name="depthwise")(y)
        y = act(batch_norm(train, name="bn_depthwise")(y))
        y = batch_norm(train, name="bn_project")(conv(self.stage.width, 1, name="project")(y))
        if self.stage.residual:
            y = y + Shortcut(self.stage.width, self.stride, name="shortcut")(x, train)
        return y


class MacroNetwork(nn.Module):
    """The network of a macro arch.

    Attributes:
        arch: the stages.
        stem_width: channels of the stem.
        num_classes: classifier outputs.
    """

    arch: MacroArch
    stem_width: int = 16
    num_classes: int = 10

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Maps images ``(B, H, W, C)`` to logits ``(B, num_classes)``."""
        x = conv(self.stem_width, 3, name="stem_conv")(x)
        x = nn.relu(batch_norm(train, name="stem_bn")(x))
        for s, stage in enumerate(self.arch.stages):
            block = BasicBlock if stage.expansion == 1 else InvertedResidual
            for b in range(stage.depth):
                stride = stage.stride if b == 0 else 1
                x = block(stage, stride, name=f"stage{s}_block{b}")(x, train)
        return nn.Dense(self.num_classes, name="classifier")(global_avg_pool(x))


def _parse_stage(s: int, text: str, full: str) -> Stage:
    """Parses the group of stage ``s``; ``full`` is the whole string, for messages."""
    match = _STAGE_RE.fullmatch(text)
    if match is None:
        raise SearchSpaceError(
            f"stage {s} {text!r} of {full!r} does not match {_STAGE_FORMAT!r}, e.g. "
            f"'d2-w32-k3-e6-s1-relu-r1'"
        )
    g = match.groupdict()
    return Stage(
        depth=int(g["depth"]),
        width=int(g["width"]),
        kernel=int(g["kernel"]),
        expansion=int(g["expansion"]),
        stride=int(g["stride"]),
        activation=g["activation"],
        residual=g["residual"] == "1",
    )


class MacroSpace(SearchSpace[MacroArch]):
    """Macro CNNs with ``num_stages`` stages.

    Args:
        num_stages: the number of stages of every arch.
        input_shape: one image ``(H, W, C)``; CIFAR's ``(32, 32, 3)`` by default.
    """

    name = "macro"

    def __init__(
        self, num_stages: int = 3, input_shape: tuple[int, int, int] = (32, 32, 3)
    ) -> None:
        self.num_stages = num_stages
        self.input_shape = image_shape(self.name, input_shape)

    def suggest(self, trial: CategoricalTrial) -> MacroArch:
        """Seven categoricals per stage ``s``, named ``stage{s}_{field}``, e.g. ``stage0_depth``."""
        return MacroArch(
            tuple(
                Stage(
                    **{
                        field: trial.suggest_categorical(f"stage{s}_{field}", choices)
                        for field, choices in _stage_choices(s).items()
                    }
                )
                for s in range(self.num_stages)
            )
        )

    def enumerate(self) -> Iterator[MacroArch]:
        """All ``972 ** num_stages`` archs, in ``itertools.product`` order of the choices."""
        per_stage = [
            [Stage(*values) for values in itertools.product(*_stage_choices(s).values())]
            for s in range(self.num_stages)
        ]
        return (MacroArch(stages) for stages in itertools.product(*per_stage))

    def build(
        self, arch: MacroArch, *, num_classes: int = 10, stem_width: int = 16
    ) -> MacroNetwork:
        """The network of ``arch``."""
        return MacroNetwork(arch, stem_width=stem_width, num_classes=num_classes)

    def to_str(self, arch: MacroArch) -> str:
        """Joins the stages' strings with ``|``."""
        return "|".join(stage.to_str() for stage in arch.stages)

    def from_str(self, s: str) -> MacroArch:
        """Parses ``num_stages`` ``|``-separated stage groups.

        Raises:
            SearchSpaceError: quoting the malformed group or invalid choice, or for a wrong number
                of stages.
        """
        groups = s.split("|")
        if len(groups) != self.num_stages:
            raise SearchSpaceError(
                f"macro string {s!r} has {len(groups)} '|'-separated stages, expected "
                f"{self.num_stages} of the form {_STAGE_FORMAT!r}"
            )
        return MacroArch(tuple(_parse_stage(i, g, s) for i, g in enumerate(groups)))
