"""NAS-Bench-201 (Dong & Yang, ICLR 2020): one 4-node cell repeated in a fixed ResNet-like skeleton.

Cell: node 0 is the cell input; node ``j`` (1..3) is the sum over ``i < j`` of
``op_{i->j}(node_i)``; the cell output is node 3. The six edges, in the benchmark's order, are
``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2`` (:data:`EDGES`); the five ops are :data:`OPS`.

Arch strings use the benchmark's format, one ``|op~input|`` group per node joined by ``+``::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|

Network (``C`` channels, ``N`` cells per stage, input ``(B, H, W, 3)``): stem conv 3x3 + BN;
``N`` cells at ``C``; a stride-2 ResNet basic block to ``2C``; ``N`` cells; basic block to ``4C``;
``N`` cells; BN + ReLU; global average pooling; Dense classifier. With ``C=16, N=5`` and 10 classes
the number of trainable parameters equals the benchmark's for every arch (BatchNorm affine
parameters included).

Parameter names mirror the reference PyTorch code: ``stem_conv``, ``stem_bn``, ``cells_{k}``
(``k`` in ``0..3N+1``; the basic blocks are ``cells_{N}`` and ``cells_{2N+1}``), ``lastact_bn``,
``classifier``. Inside a cell, the op on edge ``i->j`` lives under ``edge_{j}_{i}/{op}`` (e.g.
``cells_0/edge_2_1/nor_conv_3x3/conv/kernel``), so a supernet holding every op of an edge can use
the same keys.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from .base import (
    ACTIVE_COLLECTION,
    ACTIVE_NAME,
    CategoricalTrial,
    MaskedForm,
    Relaxation,
    SearchSpace,
    SearchSpaceError,
    check_choice,
    count_params,
    image_shape,
)
from .layers import ReLUConvBN, avg_pool_3x3, batch_norm, conv, global_avg_pool

#: The five candidate ops, in the benchmark's order.
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: The six edges ``(to, from)`` in the benchmark's order.
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
#: Number of nodes of a cell, input node included.
NUM_NODES = 4
#: The variable collection of `NB201MaskedNetwork` that holds the op mask.
MASK_COLLECTION = "arch"
#: Ops that map an all-zero input to an all-zero output for every parameter value.
ZERO_PRESERVING = frozenset({"none", "skip_connect", "avg_pool_3x3"})


@dataclass(frozen=True)
class NB201Arch:
    """One NAS-Bench-201 cell.

    Attributes:
        ops: six op names from :data:`OPS`, one per edge of :data:`EDGES`, in that order (any
            sequence; stored as a tuple).

    Raises:
        SearchSpaceError: if there are not six ops or one is unknown.
    """

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))
        if len(self.ops) != len(EDGES):
            raise SearchSpaceError(
                f"a NAS-Bench-201 cell has {len(EDGES)} edges, got {len(self.ops)} ops: {self.ops}"
            )
        for (j, i), op in zip(EDGES, self.ops, strict=True):
            check_choice(op, OPS, f"op on edge {j}<-{i}")


def _edges_into(j: int) -> list[int]:
    """Indices into :data:`EDGES` of the edges into node ``j``, by input node."""
    return [e for e, (to, _) in enumerate(EDGES) if to == j]


def canonical_ops(ops: tuple[str, ...]) -> tuple[str, ...]:
    """Replaces by ``none`` every op that cannot change the cell's function.

    The rule is sound for every value of the parameters and BatchNorm statistics, in both train
    modes (it is not complete: e.g. cells that differ by a chain of skip connections stay distinct):

    1. Zero nodes. A node all of whose incoming terms are zero is identically zero. An op out of a
       zero node whose output is zero for a zero input (``none``, ``skip_connect``,
       ``avg_pool_3x3``) contributes nothing and becomes ``none``. Convolutions out of a zero node
       are kept: ReLU-Conv-BN maps zeros to the BatchNorm shift, which is not zero in general.
    2. Dead nodes. A node whose value reaches node 3 through no non-``none`` op does not affect the
       output; the ops into it become ``none``.

    Args:
        ops: six op names in :data:`EDGES` order.

    Returns:
        Six op names in :data:`EDGES` order; applying the function again changes nothing.
    """
    out = list(ops)
    zero = [False]
    for j in range(1, NUM_NODES):
        for e in _edges_into(j):
            if zero[EDGES[e][1]] and out[e] in ZERO_PRESERVING:
                out[e] = "none"
        zero.append(all(out[e] == "none" for e in _edges_into(j)))
    live = [False] * (NUM_NODES - 1) + [True]
    for i in range(NUM_NODES - 2, 0, -1):
        live[i] = any(
            out[e] != "none" and live[to] for e, (to, src) in enumerate(EDGES) if src == i
        )
        if not live[i]:
            for e in _edges_into(i):
                out[e] = "none"
    return tuple(out)


def to_str(arch: NB201Arch) -> str:
    """Formats an arch in the benchmark's ``|op~i|+|op~i|op~i|+...`` format."""
    groups = ("|".join(f"{arch.ops[e]}~{EDGES[e][1]}" for e in _edges_into(j)) for j in (1, 2, 3))
    return "+".join(f"|{g}|" for g in groups)


def from_str(s: str) -> NB201Arch:
    """Parses the benchmark's arch string.

    Raises:
        SearchSpaceError: quoting the malformed group or token, or the unknown op.
    """
    groups = s.split("+")
    if len(groups) != NUM_NODES - 1:
        raise SearchSpaceError(
            f"NAS-Bench-201 string {s!r} has {len(groups)} '+'-separated node groups, "
            f"expected {NUM_NODES - 1} like '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'"
        )
    ops: list[str] = []
    for j, group in enumerate(groups, start=1):
        tokens = group.strip("|").split("|")
        if not (group.startswith("|") and group.endswith("|")) or len(tokens) != j:
            raise SearchSpaceError(
                f"node group {group!r} of {s!r}: expected {j} '|op~input|' tokens "
                f"with inputs {list(range(j))}"
            )
        for i, token in enumerate(tokens):
            op, sep, src = token.partition("~")
            if not sep or src != str(i):
                raise SearchSpaceError(
                    f"token {token!r} in node group {group!r} of {s!r}: expected 'op~{i}', "
                    f"the op on edge {j}<-{i}"
                )
            check_choice(op, OPS, f"op {token!r} in {s!r}")
            ops.append(op)
    return NB201Arch(tuple(ops))


def _op(op: str, features: int, x: jax.Array, train: bool) -> jax.Array:
    """Applies ``op`` to ``(B, H, W, features)``; called inside a compact method, whose submodule
    named ``op`` holds the op's parameters, if any."""
    if op == "none":
        # Zeros computed from x, not a constant: XLA spends seconds constant-folding a pooling
        # of a constant array (a pooled node all of whose inputs are "none").
        return x * 0
    if op == "skip_connect":
        return x
    if op == "avg_pool_3x3":
        return avg_pool_3x3(x)
    kernel_size = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}[op]
    return ReLUConvBN(features, kernel_size, name=op)(x, train)


def _cell_output(
    x: jax.Array,
    edge: Callable[[int, jax.Array], jax.Array],
    node: Callable[[jax.Array], jax.Array] = lambda value: value,
) -> jax.Array:
    """Node 3 of a cell whose node 0 is ``x``; ``edge(e, node_i)`` is the term of edge ``e`` and
    ``node(sum of terms)`` the value of a node."""
    nodes = [x]
    for j in range(1, NUM_NODES):
        terms = [edge(e, nodes[EDGES[e][1]]) for e in _edges_into(j)]
        nodes.append(node(sum(terms[1:], terms[0])))
    return nodes[-1]


def _stored(value: jax.Array, weights: jax.Array) -> jax.Array:
    """``value``, written to memory once in the forward pass and once (its cotangent) in the
    backward pass; NaN where ``weights`` has a non-finite entry, as a weighted sum would be.

    XLA fuses elementwise work into each consumer and recomputes it there. In the supernet a
    node is a weighted sum of about fifteen terms and, through skip connections, of the nodes
    before it, cells included: the backward pass recomputed the chain back to the last
    convolution in every fusion that read a node, so its time grew with the square of the depth.
    A conditional is a boundary XLA fuses nothing across; the predicate comes from the run-time
    weights, so it cannot be folded away (under ``vmap`` over weights it becomes a select).
    """
    return jax.lax.cond(
        jnp.all(jnp.isfinite(weights)),
        lambda v: v,
        lambda v: jnp.full_like(v, jnp.nan),
        value,
    )


def _edge_name(e: int) -> str:
    j, i = EDGES[e]
    return f"edge_{j}_{i}"


class NB201Edge(nn.Module):
    """The op of one edge; its parameters, if any, live under a submodule named after the op.

    Attributes:
        op: an op name from :data:`OPS`.
        features: channels of input and output.
    """

    op: str
    features: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Maps ``(B, H, W, features)`` to the same shape."""
        return _op(self.op, self.features, x, train)


class NB201MixedEdge(nn.Module):
    """Every op of one edge, each under a submodule named after the op (as in `NB201Edge`).

    Attributes:
        features: channels of input and output.
    """

    features: int

    @nn.compact
    def __call__(self, x: jax.Array, weights: jax.Array, train: bool = False) -> jax.Array:
        """``sum_k weights[k] * op_k(x)`` for ``x: (B, H, W, features)``, ``weights: (len(OPS),)``.

        A one-hot ``weights`` computes the selected op: the others add exact zeros, and their
        parameters get zero gradient. The weights are sown into `ACTIVE_COLLECTION`.
        """
        ops = {k: op for k, op in enumerate(OPS) if op != "none"}
        self.sow(ACTIVE_COLLECTION, ACTIVE_NAME, {op: weights[k] for k, op in ops.items()})
        terms = [weights[k] * _op(op, self.features, x, train) for k, op in ops.items()]
        return sum(terms[1:], terms[0])


class NB201Cell(nn.Module):
    """A NAS-Bench-201 cell; the op on edge ``i->j`` is the submodule ``edge_{j}_{i}``.

    Attributes:
        arch: the cell.
        features: channels of input and output.
    """

    arch: NB201Arch
    features: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Maps ``(B, H, W, features)`` to the same shape."""
        return _cell_output(
            x,
            lambda e, node: NB201Edge(self.arch.ops[e], self.features, name=_edge_name(e))(
                node, train
            ),
        )


class NB201MaskedCell(nn.Module):
    """A cell holding every op on every edge (`NB201MixedEdge`), the ops chosen by a mask.

    Attributes:
        features: channels of input and output.
    """

    features: int

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array, train: bool = False) -> jax.Array:
        """Maps ``(B, H, W, features)`` to the same shape; ``mask: (len(EDGES), len(OPS))``."""
        return _cell_output(
            x,
            lambda e, node: NB201MixedEdge(self.features, name=_edge_name(e))(node, mask[e], train),
            lambda value: _stored(value, mask),
        )


class ResNetBasicBlock(nn.Module):
    """The stride-2 reduction block between stages.

    ``conv_b(conv_a(x)) + downsample(x)`` with ReLU-Conv3x3-BN ``conv_a`` (stride 2) and
    ``conv_b``, and a shortcut of 2x2 average pooling (stride 2) then a bias-free 1x1 conv.

    Attributes:
        features: output channels.
    """

    features: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Maps ``(B, H, W, C_in)`` to ``(B, H // 2, W // 2, features)`` for even ``H, W``."""
        y = ReLUConvBN(self.features, 3, stride=2, name="conv_a")(x, train)
        y = ReLUConvBN(self.features, 3, name="conv_b")(y, train)
        shortcut = conv(self.features, 1, name="downsample")(nn.avg_pool(x, (2, 2), (2, 2)))
        return y + shortcut


class Sizes(NamedTuple):
    """The network around the cells: ``C`` channels in the first stage (then ``2C`` and ``4C``),
    ``N`` cells per stage, ``num_classes`` outputs; only the first ``depth`` blocks (cells and
    reduction blocks, TE-NAS's ``depth``; all when None), and a stem (3x3 conv and BatchNorm
    to ``C`` channels) or none (TE-NAS's ``use_stem=False``: the input must have ``C``)."""

    C: int
    N: int
    num_classes: int
    depth: int | None = None
    stem: bool = True


def _check_sizes(sizes: Sizes) -> None:
    blocks = 3 * sizes.N + 2
    for name, value in (("C", sizes.C), ("N", sizes.N), ("num_classes", sizes.num_classes)):
        if not isinstance(value, int) or value < 1:
            raise SearchSpaceError(f"{name} must be a positive integer, got {value!r}")
    if sizes.depth is not None and not (isinstance(sizes.depth, int) and sizes.depth >= 1):
        raise SearchSpaceError(f"depth must be a positive integer or None, got {sizes.depth!r}")
    if sizes.depth is not None and sizes.depth > blocks:
        raise SearchSpaceError(f"depth {sizes.depth} exceeds the {blocks} blocks of N={sizes.N}")


def _network(
    x: jax.Array,
    train: bool,
    sizes: Sizes,
    cell: Callable[[int, str], Callable[[jax.Array], jax.Array]],
) -> jax.Array:
    """The skeleton around the cells; called inside a compact method.

    Args:
        x: images ``(B, H, W, 3)``, ``H, W`` divisible by 4 (by 2 ** the reduction blocks kept),
          or ``(B, H, W, C)`` without a stem.
        train: BatchNorm on batch statistics.
        sizes: the network's sizes.
        cell: ``cell(features, name)`` is the cell submodule's forward pass.

    Returns:
        Logits ``(B, num_classes)``.
    """
    _check_sizes(sizes)
    if sizes.stem:
        x = batch_norm(train, name="stem_bn")(conv(sizes.C, 3, name="stem_conv")(x))
    elif x.shape[-1] != sizes.C:
        raise SearchSpaceError(
            f"without a stem the input's channels must equal C={sizes.C}, got {x.shape[-1]}"
        )
    blocks = [
        (reduction, sizes.C * 2**stage)
        for stage in range(3)
        for reduction in [True] * (stage > 0) + [False] * sizes.N
    ][: sizes.depth]
    for index, (reduction, features) in enumerate(blocks):
        name = f"cells_{index}"
        if reduction:
            x = ResNetBasicBlock(features, name=name)(x, train)
        else:
            x = cell(features, name)(x)
    x = nn.relu(batch_norm(train, name="lastact_bn")(x))
    return nn.Dense(sizes.num_classes, name="classifier")(global_avg_pool(x))


class NB201Network(nn.Module):
    """The NAS-Bench-201 network of one cell.

    Attributes:
        arch: the cell, repeated ``3 * N`` times.
        C: channels of the first stage (then ``2C`` and ``4C``).
        N: cells per stage.
        num_classes: classifier outputs.
        depth: keep only the first ``depth`` blocks (see `Sizes`).
        stem: begin with the stem (see `Sizes`).
    """

    arch: NB201Arch
    C: int = 16
    N: int = 5
    num_classes: int = 10
    depth: int | None = None
    stem: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Maps images ``(B, H, W, 3)`` (``H, W`` divisible by 4) to logits ``(B, num_classes)``."""

        def cell(features: int, name: str) -> Callable[[jax.Array], jax.Array]:
            module = NB201Cell(self.arch, features, name=name)
            return lambda y: module(y, train)

        sizes = Sizes(self.C, self.N, self.num_classes, self.depth, self.stem)
        return _network(x, train, sizes, cell)


class NB201MaskedNetwork(nn.Module):
    """Every NAS-Bench-201 network in one module: every op on every edge, the cell chosen at run
    time by a one-hot mask ``(len(EDGES), len(OPS))`` in the variable collection ``"arch"``
    (:func:`arch_mask`).

    Parameter paths, and so the initial values from one key, are those of `NB201Network`, plus
    the ops that a given cell does not use: with the cell's mask, the outputs equal that network's
    and the unused ops' parameters get zero gradient, so its empirical NTK is that network's too.
    Initialising creates an all-ones mask (the sum of every op on every edge).

    Attributes:
        C: channels of the first stage (then ``2C`` and ``4C``).
        N: cells per stage.
        num_classes: classifier outputs.
        depth: keep only the first ``depth`` blocks (see `Sizes`).
        stem: begin with the stem (see `Sizes`).
    """

    C: int = 16
    N: int = 5
    num_classes: int = 10
    depth: int | None = None
    stem: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Maps images ``(B, H, W, 3)`` (``H, W`` divisible by 4) to logits ``(B, num_classes)``."""
        shape = (len(EDGES), len(OPS))
        mask = self.variable(MASK_COLLECTION, "ops", jnp.ones, shape, jnp.float32).value

        def cell(features: int, name: str) -> Callable[[jax.Array], jax.Array]:
            module = NB201MaskedCell(features, name=name)
            return lambda y: module(y, mask, train)

        sizes = Sizes(self.C, self.N, self.num_classes, self.depth, self.stem)
        return _network(x, train, sizes, cell)


def op_weights(weights: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """The ``"arch"`` variable collection of `NB201MaskedNetwork` that weighs each edge's ops by
    `weights`, ``(len(EDGES), len(OPS))``."""
    weights = np.asarray(weights, np.float32)
    if weights.shape != (len(EDGES), len(OPS)):
        raise SearchSpaceError(f"op weights must have shape (6, 5), got {weights.shape}")
    return {MASK_COLLECTION: {"ops": weights}}


def arch_mask(arch: NB201Arch) -> dict[str, dict[str, np.ndarray]]:
    """The ``"arch"`` variable collection that selects ``arch`` in `NB201MaskedNetwork`: one-hot
    rows ``(len(EDGES), len(OPS))`` float32."""
    mask = np.zeros((len(EDGES), len(OPS)), np.float32)
    mask[np.arange(len(EDGES)), [OPS.index(op) for op in arch.ops]] = 1.0
    return op_weights(mask)


_EDGE_SCOPES = {f"edge_{j}_{i}": e for e, (j, i) in enumerate(EDGES)}


def op_owner(path: Sequence[str]) -> tuple[int, int] | None:
    """``(edge, op)`` indices (into `EDGES`, `OPS`) of the op that holds the parameter at `path`
    (e.g. ``("cells_0", "edge_2_1", "nor_conv_3x3", "conv", "kernel")``), or None outside the
    cells' edges."""
    for depth, name in enumerate(path[:-1]):
        if name in _EDGE_SCOPES:
            return _EDGE_SCOPES[name], OPS.index(path[depth + 1])
    return None


RELAXATION = Relaxation(
    decisions=tuple(f"edge_{j}<-{i}" for j, i in EDGES),
    options=(OPS,) * len(EDGES),
    weigh=op_weights,
    arch=lambda indices: NB201Arch(tuple(OPS[i] for i in indices)),
    owner=op_owner,
)


class NB201Space(SearchSpace[NB201Arch]):
    """The 5**6 = 15,625 NAS-Bench-201 cells.

    Args:
        input_shape: one image ``(H, W, 3)``; CIFAR's ``(32, 32, 3)`` by default.
    """

    name = "nb201"

    def __init__(self, input_shape: tuple[int, int, int] = (32, 32, 3)) -> None:
        self.input_shape = image_shape(self.name, input_shape)

    def suggest(self, trial: CategoricalTrial) -> NB201Arch:
        """One categorical over :data:`OPS` per edge, named ``edge_{j}<-{i}``."""
        return NB201Arch(tuple(trial.suggest_categorical(f"edge_{j}<-{i}", OPS) for j, i in EDGES))

    def enumerate(self) -> Iterator[NB201Arch]:
        """All 15,625 cells, in ``itertools.product(OPS, repeat=6)`` order."""
        return (NB201Arch(ops) for ops in itertools.product(OPS, repeat=len(EDGES)))

    def build(
        self,
        arch: NB201Arch,
        *,
        num_classes: int = 10,
        C: int = 16,
        N: int = 5,
        depth: int | None = None,
        stem: bool = True,
    ) -> NB201Network:
        """The benchmark's network (``C=16, N=5``) or a resized one (`Sizes`: e.g. TE-NAS's
        linear-region network ``C=1, N=1, depth=1, stem=False`` on one-channel inputs)."""
        _check_sizes(Sizes(C, N, num_classes, depth, stem))
        return NB201Network(arch, C=C, N=N, num_classes=num_classes, depth=depth, stem=stem)

    def masked(
        self,
        *,
        num_classes: int = 10,
        C: int = 16,
        N: int = 5,
        depth: int | None = None,
        stem: bool = True,
    ) -> MaskedForm[NB201Arch]:
        """`NB201MaskedNetwork` of the same sizes as ``build``, with :func:`arch_mask` and
        :data:`RELAXATION` (ops weighted by :func:`op_weights`)."""
        _check_sizes(Sizes(C, N, num_classes, depth, stem))
        network = NB201MaskedNetwork(C=C, N=N, num_classes=num_classes, depth=depth, stem=stem)
        return MaskedForm(network, arch_mask, RELAXATION)

    def num_params(self, arch: NB201Arch, **options: Any) -> int:
        """Counts the trainable parameters of ``build(arch, **options)``: the skeleton's plus
        each edge's op's (every edge of a cell maps its channels to the same number, so an op's
        count does not depend on its edge). Traced once per size, not per arch."""
        skeleton, per_op = _param_counts(self.input_shape, tuple(sorted(options.items())))
        return skeleton + sum(per_op[op] for op in arch.ops)

    def to_str(self, arch: NB201Arch) -> str:
        """See :func:`to_str`."""
        return to_str(arch)

    def from_str(self, s: str) -> NB201Arch:
        """See :func:`from_str`."""
        return from_str(s)

    def canonical(self, arch: NB201Arch) -> NB201Arch:
        """See :func:`canonical_ops`."""
        return NB201Arch(canonical_ops(arch.ops))


@functools.lru_cache(maxsize=32)
def _param_counts(
    input_shape: tuple[int, int, int], options: tuple[tuple[str, Any], ...]
) -> tuple[int, dict[str, int]]:
    """``(parameters of the network with "none" on every edge, {op: parameters one edge with op
    adds})`` for `NB201Space.build`'s `options`, on images of `input_shape`."""
    space = NB201Space(input_shape)

    def count(ops: tuple[str, ...]) -> int:
        return count_params(space.build(NB201Arch(ops), **dict(options)), input_shape)

    none = ("none",) * len(EDGES)
    skeleton = count(none)
    return skeleton, {op: count((op, *none[1:])) - skeleton for op in OPS}
