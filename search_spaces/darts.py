"""The DARTS CIFAR space (Liu et al., ICLR 2019): a normal and a reduction cell, stacked.

A cell has two input nodes (0: the output of the cell before the previous one, 1: the previous
cell's output) and four intermediate nodes 2..5. Node ``n`` sums two ops, each applied to an
earlier node (input ``< n``); the cell output concatenates nodes 2..5 on the channel axis. An arch
(:class:`DartsGenotype`) lists, per cell type, eight ``(op, input)`` pairs: pairs ``2k`` and
``2k + 1`` feed node ``k + 2``. Strings use the ``Genotype`` repr of the DARTS code::

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=range(2, 6),
             reduce=[('max_pool_3x3', 0), ...], reduce_concat=range(2, 6))

Network (``NetworkCIFAR`` of the DARTS code, without auxiliary head and drop path): stem conv 3x3
to ``3C`` + BN; ``layers`` cells, those at ``layers // 3`` and ``2 * layers // 3`` being reduction
cells that double the channels and halve the resolution; global average pooling; Dense classifier.
Each cell first maps its inputs to ``C`` channels (ReLU-Conv1x1-BN, or FactorizedReduce for input 0
when the previous cell reduced). In a reduction cell the ops on inputs 0 and 1 have stride 2 and
``skip_connect`` there is a FactorizedReduce.

Parameter names mirror the DARTS code: ``stem_conv``, ``stem_bn``, ``cells_{i}`` with
``preprocess0``, ``preprocess1`` and ``ops_{k}/{op}`` (``k`` the index of the pair in the cell's
list, e.g. ``cells_0/ops_3/sep_conv_3x3/dw1/kernel``), and ``classifier``.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp

from .base import CategoricalTrial, SearchSpace, SearchSpaceError, check_choice, image_shape
from .layers import (
    ReLUConvBN,
    avg_pool_3x3,
    batch_norm,
    conv,
    global_avg_pool,
    max_pool_3x3,
)

#: The seven ops of the evaluated DARTS networks.
OPS = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
#: The intermediate nodes; the cell output concatenates them.
NODES = (2, 3, 4, 5)
#: The two cell types, as named in genotype strings.
CELL_TYPES = ("normal", "reduce")

Pair = tuple[str, int]

_CONCAT_RANGE = ast.dump(ast.parse("range(2, 6)", mode="eval").body)


def _check_cell(cell_type: str, pairs: tuple[Pair, ...]) -> None:
    """Raises :class:`SearchSpaceError` unless ``pairs`` is a valid list of 8 ``(op, input)``."""
    if len(pairs) != 2 * len(NODES):
        raise SearchSpaceError(
            f"{cell_type} cell: expected {2 * len(NODES)} (op, input) pairs, two per node "
            f"{list(NODES)}, got {len(pairs)}: {list(pairs)}"
        )
    for k, pair in enumerate(pairs):
        node = NODES[k // 2]
        if not (isinstance(pair, tuple) and len(pair) == 2 and type(pair[1]) is int):
            raise SearchSpaceError(
                f"{cell_type} cell: {pair!r} is not an (op, input) pair like ('sep_conv_3x3', 0)"
            )
        check_choice(pair[0], OPS, f"op of {pair!r} in the {cell_type} cell")
        check_choice(pair[1], range(node), f"input of {pair!r} into {cell_type} node {node}")


@dataclass(frozen=True)
class DartsGenotype:
    """A DARTS architecture: the ``(op, input)`` pairs of the normal and the reduction cell.

    Attributes:
        normal: eight pairs (any sequence of tuples; stored as a tuple); pairs ``2k`` and
            ``2k + 1`` feed node ``k + 2`` and their inputs are in ``0..k + 1``.
        reduce: the same for the reduction cell.

    Raises:
        SearchSpaceError: for a wrong number of pairs, an unknown op or an input out of range.
    """

    normal: tuple[Pair, ...]
    reduce: tuple[Pair, ...]

    def __post_init__(self) -> None:
        for cell_type in CELL_TYPES:
            object.__setattr__(self, cell_type, tuple(getattr(self, cell_type)))
            _check_cell(cell_type, getattr(self, cell_type))


def canonical_cell(pairs: tuple[Pair, ...]) -> tuple[Pair, ...]:
    """Orders the two pairs of every node by ``(input, op)``: a node sums them, in any order."""
    nodes = (sorted(pairs[k : k + 2], key=lambda p: (p[1], p[0])) for k in range(0, len(pairs), 2))
    return tuple(itertools.chain.from_iterable(nodes))


def to_str(genotype: DartsGenotype) -> str:
    """Formats a genotype like the DARTS code prints one."""
    return (
        f"Genotype(normal={list(genotype.normal)}, normal_concat=range(2, 6), "
        f"reduce={list(genotype.reduce)}, reduce_concat=range(2, 6))"
    )


def _parse_pairs(s: str, node: ast.expr) -> tuple[Pair, ...]:
    """Reads a list literal of ``(op, input)`` tuples (validated later by the genotype)."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError):
        value = None
    if not isinstance(value, list | tuple):
        raise SearchSpaceError(
            f"{ast.get_source_segment(s, node)!r} is not a list of (op, input) pairs"
        )
    return tuple(tuple(p) if isinstance(p, list) else p for p in value)


def _check_concat(s: str, node: ast.expr) -> None:
    """Checks that a concat field is ``range(2, 6)`` or ``[2, 3, 4, 5]``."""
    if ast.dump(node) == _CONCAT_RANGE:
        return
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError):
        value = None
    if value != list(NODES):
        raise SearchSpaceError(
            f"concat {ast.get_source_segment(s, node)!r} is not supported: the cell output "
            f"concatenates all intermediate nodes, range(2, 6) or {list(NODES)}"
        )


def from_str(s: str) -> DartsGenotype:
    """Parses a ``Genotype(normal=..., normal_concat=..., reduce=..., reduce_concat=...)`` string.

    The string is parsed with :mod:`ast`, never evaluated. The concat fields must be
    ``range(2, 6)`` or ``[2, 3, 4, 5]``.

    Raises:
        SearchSpaceError: quoting the malformed part, unknown op or out-of-range input.
    """
    fields = ("normal", "normal_concat", "reduce", "reduce_concat")
    expected = "Genotype(" + ", ".join(f"{f}=..." for f in fields) + ")"
    text = s.strip()
    try:
        call = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError) as e:
        raise SearchSpaceError(f"malformed genotype {s!r}: expected {expected}") from e
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == "Genotype"
        and not call.args
        and sorted(str(k.arg) for k in call.keywords) == sorted(fields)
    ):
        raise SearchSpaceError(f"malformed genotype {s!r}: expected {expected}")
    values = {str(k.arg): k.value for k in call.keywords}
    for cell_type in CELL_TYPES:
        _check_concat(text, values[f"{cell_type}_concat"])
    return DartsGenotype(
        normal=_parse_pairs(text, values["normal"]), reduce=_parse_pairs(text, values["reduce"])
    )


class SepConv(nn.Module):
    """Twice ReLU, depthwise conv, pointwise conv, BN; only the first depthwise conv is strided.

    Submodules: ``dw1, pw1, bn1, dw2, pw2, bn2``.

    Attributes:
        features: output channels.
        kernel_size: depthwise kernel size.
        stride: spatial stride.
    """

    features: int
    kernel_size: int
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Maps ``(B, H, W, C_in)`` to ``(B, ceil(H / stride), ceil(W / stride), features)``."""
        c_in = x.shape[-1]
        k = self.kernel_size
        x = conv(c_in, k, stride=self.stride, groups=c_in, name="dw1")(nn.relu(x))
        x = batch_norm(train, name="bn1")(conv(c_in, 1, name="pw1")(x))
        x = conv(c_in, k, groups=c_in, name="dw2")(nn.relu(x))
        return batch_norm(train, name="bn2")(conv(self.features, 1, name="pw2")(x))


class DilConv(nn.Module):
    """ReLU, depthwise conv with dilation 2, pointwise conv, BN.

    Submodules: ``dw, pw, bn``.

    Attributes:
        features: output channels.
        kernel_size: depthwise kernel size.
        stride: spatial stride.
    """

    features: int
    kernel_size: int
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Maps ``(B, H, W, C_in)`` to ``(B, ceil(H / stride), ceil(W / stride), features)``."""
        c_in = x.shape[-1]
        x = conv(c_in, self.kernel_size, stride=self.stride, dilation=2, groups=c_in, name="dw")(
            nn.relu(x)
        )
        return batch_norm(train, name="bn")(conv(self.features, 1, name="pw")(x))


class FactorizedReduce(nn.Module):
    """ReLU, two stride-2 1x1 convs on pixel grids offset by one, concatenated, then BN.

    Submodules: ``conv_1, conv_2, bn``.

    Attributes:
        features: output channels (even).
    """

    features: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Maps ``(B, H, W, C_in)`` with even ``H, W`` to ``(B, H // 2, W // 2, features)``."""
        x = nn.relu(x)
        a = conv(self.features // 2, 1, stride=2, name="conv_1")(x)
        b = conv(self.features // 2, 1, stride=2, name="conv_2")(x[:, 1:, 1:, :])
        return batch_norm(train, name="bn")(jnp.concatenate([a, b], axis=-1))


class DartsOp(nn.Module):
    """One op of a cell; its parameters, if any, live under a submodule named after the op.

    Attributes:
        op: an op name from :data:`OPS`.
        features: channels of input and output.
        stride: 2 for the ops on the input nodes of a reduction cell, else 1.
    """

    op: str
    features: int
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Maps ``(B, H, W, features)`` to ``(B, H / stride, W / stride, features)``."""
        if self.op == "max_pool_3x3":
            return max_pool_3x3(x, self.stride)
        if self.op == "avg_pool_3x3":
            return avg_pool_3x3(x, self.stride)
        if self.op == "skip_connect":
            return (
                x if self.stride == 1 else FactorizedReduce(self.features, name=self.op)(x, train)
            )
        kind, size = self.op.rsplit("_", 1)
        module = {"sep_conv": SepConv, "dil_conv": DilConv}[kind]
        return module(self.features, int(size[0]), self.stride, name=self.op)(x, train)


class DartsCell(nn.Module):
    """A normal or reduction cell.

    Attributes:
        pairs: the cell's eight ``(op, input)`` pairs.
        features: channels ``C`` of every node; the output has ``4C``.
        reduction: halve the resolution.
        reduction_prev: the previous cell halved the resolution (so ``s0`` has twice ``s1``'s).
    """

    pairs: tuple[Pair, ...]
    features: int
    reduction: bool
    reduction_prev: bool

    @nn.compact
    def __call__(self, s0: jax.Array, s1: jax.Array, train: bool = False) -> jax.Array:
        """Maps the two previous cell outputs ``(B, H', W', C0)``, ``(B, H, W, C1)`` to
        ``(B, H / r, W / r, 4 * features)`` with ``r = 2`` for a reduction cell, else 1."""
        if self.reduction_prev:
            s0 = FactorizedReduce(self.features, name="preprocess0")(s0, train)
        else:
            s0 = ReLUConvBN(self.features, 1, name="preprocess0")(s0, train)
        states = [s0, ReLUConvBN(self.features, 1, name="preprocess1")(s1, train)]
        for node in NODES:
            terms = []
            for k in (2 * node - 4, 2 * node - 3):
                op, src = self.pairs[k]
                stride = 2 if self.reduction and src < 2 else 1
                terms.append(
                    DartsOp(op, self.features, stride, name=f"ops_{k}")(states[src], train)
                )
            states.append(terms[0] + terms[1])
        return jnp.concatenate(states[2:], axis=-1)


class DartsNetwork(nn.Module):
    """The DARTS CIFAR network of one genotype.

    Attributes:
        genotype: the two cells.
        C: channels of the first cells' nodes (doubled at every reduction cell).
        layers: number of cells.
        num_classes: classifier outputs.
    """

    genotype: DartsGenotype
    C: int = 16
    layers: int = 8
    num_classes: int = 10

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Maps images ``(B, H, W, 3)`` (``H, W`` divisible by 4) to logits ``(B, num_classes)``."""
        x = batch_norm(train, name="stem_bn")(conv(3 * self.C, 3, name="stem_conv")(x))
        s0 = s1 = x
        features = self.C
        reduction_prev = False
        for i in range(self.layers):
            reduction = i in (self.layers // 3, 2 * self.layers // 3)
            features *= 2 if reduction else 1
            pairs = self.genotype.reduce if reduction else self.genotype.normal
            cell = DartsCell(pairs, features, reduction, reduction_prev, name=f"cells_{i}")
            s0, s1 = s1, cell(s0, s1, train)
            reduction_prev = reduction
        return nn.Dense(self.num_classes, name="classifier")(global_avg_pool(s1))


class DartsSpace(SearchSpace[DartsGenotype]):
    """DARTS genotypes whose two inputs per node are distinct (as DARTS derives them).

    :meth:`from_str` also accepts a node fed twice by the same input. The space has
    ``(49 * 147 * 294 * 490) ** 2``, about ``1.1e18``, canonical genotypes (per node ``n``:
    ``C(n, 2)`` input pairs times ``7 ** 2`` ops), which :meth:`enumerate` yields lazily.

    Args:
        input_shape: one image ``(H, W, 3)``; CIFAR's ``(32, 32, 3)`` by default.
    """

    name = "darts"

    def __init__(self, input_shape: tuple[int, int, int] = (32, 32, 3)) -> None:
        self.input_shape = image_shape(self.name, input_shape)

    def suggest(self, trial: CategoricalTrial) -> DartsGenotype:
        """Per cell type and node ``n``: ``{cell}_node{n}_inputs`` (a pair ``"a,b"`` with
        ``a < b < n``) and ``{cell}_node{n}_op0``/``_op1`` (the ops on inputs ``a`` and ``b``)."""
        cells = []
        for cell_type in CELL_TYPES:
            pairs: list[Pair] = []
            for node in NODES:
                choices = [f"{a},{b}" for a, b in itertools.combinations(range(node), 2)]
                inputs = trial.suggest_categorical(f"{cell_type}_node{node}_inputs", choices)
                for m, src in enumerate(inputs.split(",")):
                    op = trial.suggest_categorical(f"{cell_type}_node{node}_op{m}", OPS)
                    pairs.append((op, int(src)))
            cells.append(tuple(pairs))
        return DartsGenotype(*cells)

    def enumerate(self) -> Iterator[DartsGenotype]:
        """All canonical genotypes with distinct inputs per node, in a fixed product order."""
        node_choices = [
            [
                ((op_a, a), (op_b, b))
                for a, b in itertools.combinations(range(n), 2)
                for op_a in OPS
                for op_b in OPS
            ]
            for n in NODES
        ]
        # Nested loops: itertools.product would materialise its ~1e9-element inputs.
        for normal in itertools.product(*node_choices):
            for reduce in itertools.product(*node_choices):
                yield DartsGenotype(
                    tuple(itertools.chain.from_iterable(normal)),
                    tuple(itertools.chain.from_iterable(reduce)),
                )

    def build(
        self, arch: DartsGenotype, *, num_classes: int = 10, C: int = 16, layers: int = 8
    ) -> DartsNetwork:
        """The network of ``arch``.

        The defaults (8 cells, ``C=16``) are the size of the DARTS search network, small enough to
        score quickly; the published CIFAR-10 network is ``layers=20, C=36``.

        Raises:
            ValueError: if ``C`` is odd (FactorizedReduce splits channels in halves).
        """
        if C % 2:
            raise ValueError(f"C must be even for FactorizedReduce, got C={C}")
        return DartsNetwork(arch, C=C, layers=layers, num_classes=num_classes)

    def to_str(self, arch: DartsGenotype) -> str:
        """See :func:`to_str`."""
        return to_str(arch)

    def from_str(self, s: str) -> DartsGenotype:
        """See :func:`from_str`."""
        return from_str(s)

    def canonical(self, arch: DartsGenotype) -> DartsGenotype:
        """See :func:`canonical_cell`."""
        return DartsGenotype(canonical_cell(arch.normal), canonical_cell(arch.reduce))
