"""Flax linen plumbing shared by the scorers: forward passes, initialisation, parameter subsets and
per-module caches of compiled functions."""

from __future__ import annotations

import collections
import functools
import zlib
from collections.abc import Callable, Collection
from typing import Any, Literal, TypeVar, cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from scorers.base import ScorerError, Variables

T = TypeVar("T")
Path = tuple[str, ...]
FlatParams = dict[Path, jax.Array]
#: How a scorer initialises parameters it is not given: the model's own initialisers, or those
#: redrawn by `kaiming_normal_fan_out` (TE-NAS's).
Init = Literal["model", "kaiming_fan_out"]

_CACHE_SIZE = 32
_SELECTED, _FIXED = "params", "scorers_fixed_params"


def per_module_cache(builder: Callable[..., T]) -> Callable[..., T]:
    """Caches ``builder(module, *options)`` (compiled functions) per module configuration.

    Flax linen modules compare and hash by their configuration, so equal architectures share
    compiled code. Unhashable modules (e.g. with a list attribute) are built afresh every time.
    """
    cached = functools.lru_cache(maxsize=_CACHE_SIZE)(builder)

    @functools.wraps(builder)
    def get(*args: Any) -> T:
        try:
            hash(args)
        except TypeError:
            return builder(*args)
        return cached(*args)

    return get


def forward(module: nn.Module, variables: Variables, x: jax.Array, *, train: bool) -> jax.Array:
    """The module's output on ``x: (N, ...)``.

    ``train=True`` normalises BatchNorm with the batch's statistics (running statistics are updated
    and discarded); ``train=False`` uses the running statistics.
    """
    if not train:
        return cast(jax.Array, module.apply(variables, x, train=False))
    y, _ = module.apply(variables, x, train=True, mutable=["batch_stats"])
    return cast(jax.Array, y)


#: ``keep(module, method_name, output)``: whether `recorded_forward` records a method call.
Keep = Callable[[nn.Module, str, Any], bool]
#: ``replace(i, output)``: what the ``i``-th recorded call returns, and records, instead of
#: ``output`` (e.g. the output plus a zero perturbation to differentiate with respect to).
Replace = Callable[[int, Any], Any]


def recorded_forward(
    module: nn.Module,
    variables: Variables,
    x: jax.Array,
    *,
    train: bool,
    keep: Keep,
    replace: Replace | None = None,
) -> tuple[list[tuple[Path, Any]], jax.Array]:
    """`forward`, recording the outputs of the method calls of submodules that `keep` selects.

    Returns:
      ``(calls, y)``: ``(module path, output)`` for every kept call, in call order (outputs
      as `replace` returns them), and the network's output ``y``.
    """
    calls: list[tuple[Path, Any]] = []

    def record(call: Callable[..., Any], args: Any, kwargs: Any, context: Any) -> Any:
        out = call(*args, **kwargs)
        if not keep(context.module, context.method_name, out):
            return out
        if replace is not None:
            out = replace(len(calls), out)
        calls.append((tuple(context.module.path), out))
        return out

    with nn.intercept_methods(record):
        y = forward(module, variables, x, train=train)
    return calls, y


def is_floating_array(value: Any, min_ndim: int) -> bool:
    """Whether `value` is a floating `jax.Array` of rank `min_ndim` or more."""
    return (
        isinstance(value, jax.Array)
        and value.ndim >= min_ndim
        and bool(jnp.issubdtype(value.dtype, jnp.floating))
    )


def needs_init(variables: Variables | None) -> bool:
    """Whether `variables` leaves the parameters to be initialised: None, or only collections
    other than ``"params"`` (e.g. the op mask of a masked supernet)."""
    return variables is None or "params" not in variables


def with_batch_statistics(module: nn.Module, variables: Variables, x: jax.Array) -> Variables:
    """`variables` with each BatchNorm's running statistics replaced by the statistics of its
    input on `x` in a training-mode forward pass ("decoupled" BatchNorm).

    Applied in eval mode, the network then normalises `x` exactly as in training mode, but with
    the statistics as constants: the gradients of one sample no longer depend on the others.
    """
    if "batch_stats" not in variables:
        return variables
    statistics = _batch_statistics(module)(variables, x)
    return {**variables, "batch_stats": traverse_util.unflatten_dict(statistics)}


@per_module_cache
def _batch_statistics(module: nn.Module) -> Callable[[Variables, jax.Array], FlatParams]:
    """A compiled ``(variables, x) -> {(*bn_path, "mean" | "var"): (features,)}``."""

    def statistics(variables: Variables, x: jax.Array) -> FlatParams:
        found: FlatParams = {}

        def record(call: Callable[..., Any], args: Any, kwargs: Any, context: Any) -> Any:
            norm = context.module
            if isinstance(norm, nn.BatchNorm) and context.method_name == "__call__":
                inputs = args[0]
                features = {a % inputs.ndim for a in np.atleast_1d(norm.axis)}
                axes = tuple(a for a in range(inputs.ndim) if a not in features)
                found[(*norm.path, "mean")] = jnp.mean(inputs, axes)
                found[(*norm.path, "var")] = jnp.var(inputs, axes)
            return call(*args, **kwargs)

        with nn.intercept_methods(record):
            forward(module, variables, x, train=True)
        return found

    return jax.jit(statistics)


def init_variables(
    module: nn.Module,
    variables: Variables | None,
    x: jax.Array,
    key: jax.Array,
    init: Init = "model",
) -> Variables:
    """`variables` if they hold parameters; else ``module.init(key, x[:1])`` with the collections
    of `variables` (if any) in place of the initial ones, and with ``init="kaiming_fan_out"``
    its kernels redrawn by `kaiming_normal_fan_out` from `key`.

    Initialisation runs eagerly, not under `jax.jit`: compiling a network's random initialisers
    takes tens of seconds per architecture on CPU, while eager primitives are compiled once per
    shape and reused across architectures (about 0.1 s per NB201 network once warm). The last
    few initialisations are cached per module, key and input, so a masked supernet scored for
    many architectures is initialised once per key.
    """
    if not needs_init(variables):
        return cast(Variables, variables)
    try:
        initial = _cached_init(module, key, x[:1], init)
    except TypeError:  # an unhashable module
        initial = _initial(module, key, x[:1], init)
    return {**initial, **(variables or {})}


def _initial(module: nn.Module, key: jax.Array, x: jax.Array, init: Init) -> Variables:
    """``module.init(key, x)``, its kernels redrawn where `init` asks for it."""
    initial = module.init(key, x)
    return kaiming_normal_fan_out(initial, key) if init == "kaiming_fan_out" else initial


def kaiming_normal_fan_out(variables: Variables, key: jax.Array) -> Variables:
    """`variables` with every ``kernel`` parameter redrawn from ``N(0, 2 / fan_out)``, PyTorch's
    ``kaiming_normal_(mode="fan_out", nonlinearity="relu")`` (TE-NAS's initialisation for the
    NTK); ``fan_out`` is the kernel's receptive field times its output features
    (``prod(shape[:-2]) * shape[-1]``, Flax's ``(..., in, out)`` layout). Other parameters are
    kept (Flax's defaults already match PyTorch's there: zero biases, unit BatchNorm scales).

    Each kernel's draw comes from `key` folded with a checksum of its path, so a parameter gets
    the same draw in a masked supernet as in the network built alone (same paths).
    """
    flat = traverse_util.flatten_dict(variables["params"])
    redrawn = {path: _kaiming_fan_out(path, leaf, key) for path, leaf in flat.items()}
    return {**variables, "params": traverse_util.unflatten_dict(redrawn)}


def _kaiming_fan_out(path: Path, leaf: jax.Array, key: jax.Array) -> jax.Array:
    if path[-1] != "kernel" or leaf.ndim < 2:
        return leaf
    fan_out = int(np.prod(leaf.shape[:-2])) * leaf.shape[-1]
    path_key = jax.random.fold_in(key, zlib.crc32("/".join(path).encode()) & 0x7FFFFFFF)
    return jax.random.normal(path_key, leaf.shape, leaf.dtype) * np.sqrt(2.0 / fan_out)


_INITS: collections.OrderedDict[tuple[Any, ...], Variables] = collections.OrderedDict()


def _cached_init(module: nn.Module, key: jax.Array, x: jax.Array, init: Init) -> Variables:
    """`_initial`, from a small LRU cache keyed by the module, `init` and the key's and inputs'
    values; raises TypeError for an unhashable module."""
    first = np.asarray(x)
    cache_key = (
        module,
        init,
        np.asarray(jax.random.key_data(key)).tobytes(),
        first.shape,
        first.dtype.str,
        first.tobytes(),
    )
    if cache_key in _INITS:
        _INITS.move_to_end(cache_key)
        return _INITS[cache_key]
    initial = _INITS[cache_key] = _initial(module, key, x, init)
    if len(_INITS) > _CACHE_SIZE:
        _INITS.popitem(last=False)
    return initial


def split_params(variables: Variables, names: Collection[str] | None) -> dict[str, Any]:
    """Moves the parameters that are not differentiated out of the ``"params"`` collection.

    Args:
      variables: Flax variables with a ``"params"`` collection.
      names: the leaf names to keep in ``"params"`` (e.g. ``{"kernel"}``); None keeps all.

    Returns:
      The variables with ``"params"`` flattened to ``{path: leaf}`` for the selected leaves and the
      others in a ``"scorers_fixed_params"`` collection; `merge_params` undoes it. The NTK
      engine differentiates only ``"params"``.

    Raises:
      ScorerError: if no parameter has one of `names`.
    """
    flat: FlatParams = traverse_util.flatten_dict(variables["params"])
    chosen = {path: leaf for path, leaf in flat.items() if names is None or path[-1] in names}
    if not chosen:
        raise ScorerError(f"the model has no parameter named {' or '.join(sorted(names or ()))}")
    fixed = {path: leaf for path, leaf in flat.items() if path not in chosen}
    return {**variables, _SELECTED: chosen, _FIXED: fixed}


def merge_params(split: dict[str, Any]) -> dict[str, Any]:
    """The Flax variables that `split_params` split."""
    rest = {name: tree for name, tree in split.items() if name not in (_SELECTED, _FIXED)}
    params = traverse_util.unflatten_dict({**split[_SELECTED], **split[_FIXED]})
    return {**rest, "params": params}
