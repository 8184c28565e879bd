"""Train a chosen architecture with optax, resumably: the check that a training-free pick is good.

The default recipe is NAS-Bench-201's: SGD with Nesterov momentum 0.9, a cosine learning-rate
schedule from 0.1, weight decay 5e-4, cross-entropy loss. Every epoch ends with a checkpoint (all
of the training state, in Flax's msgpack format) and a line of history, so an interrupted run
resumes from its last epoch and reaches the same final parameters as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization
from tqdm.auto import tqdm

import search_spaces
from ntk_nas.data import Dataset, load_dataset

Optimizer = Literal["sgd", "adam"]
CHECKPOINT = "checkpoint.msgpack"
HISTORY = "history.json"


class TrainError(ValueError):
    """A training run that cannot start as asked; the message names the bad value."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Attributes:
      epochs: passes over the training split.
      batch_size: samples per step.
      learning_rate: peak learning rate (cosine-decayed to 0 over all steps).
      optimizer: ``"sgd"`` (Nesterov momentum 0.9) or ``"adam"``.
      weight_decay: L2 weight decay added to the gradient (SGD) or decoupled (AdamW).
      held_out_fraction: fraction of the data held out for accuracy, split by `seed`.
      seed: seeds the split, the initialisation and the order of the batches.
    """

    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 0.1
    optimizer: Optimizer = "sgd"
    weight_decay: float = 5e-4
    held_out_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise TrainError(
                f"epochs and batch_size must be positive, got {self.epochs} and {self.batch_size}"
            )
        if not 0.0 < self.held_out_fraction < 1.0:
            raise TrainError(f"held_out_fraction must be in (0, 1), got {self.held_out_fraction}")
        if self.optimizer not in ("sgd", "adam"):
            raise TrainError(f"unknown optimizer {self.optimizer!r}; valid: sgd, adam")


@dataclasses.dataclass(frozen=True)
class Split:
    """Training and held-out arrays: ``x: (N, ...)`` float32, ``y: (N,)`` int."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_held_out: np.ndarray
    y_held_out: np.ndarray


def split(x: np.ndarray, y: np.ndarray, fraction: float, seed: int) -> Split:
    """Shuffles by `seed` and holds out ``ceil(fraction * N)`` samples (at least one each side)."""
    n = len(x)
    held = min(max(1, int(np.ceil(fraction * n))), n - 1)
    if n < 2:
        raise TrainError(f"need at least 2 samples to split into train and held-out, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    return Split(x[order[held:]], y[order[held:]], x[order[:held]], y[order[:held]])


def make_optimizer(config: TrainConfig, total_steps: int) -> optax.GradientTransformation:
    """The recipe's optimizer with a cosine schedule over `total_steps`."""
    schedule = optax.cosine_decay_schedule(config.learning_rate, max(total_steps, 1))
    if config.optimizer == "adam":
        return optax.adamw(schedule, weight_decay=config.weight_decay)
    return optax.chain(
        optax.add_decayed_weights(config.weight_decay),
        optax.sgd(schedule, momentum=0.9, nesterov=True),
    )


def _state(module: nn.Module, x: np.ndarray, config: TrainConfig, steps: int) -> dict[str, Any]:
    variables = module.init(jax.random.key(config.seed), jnp.asarray(x[:1]), train=False)
    params = variables["params"]
    return {
        "epoch": 0,
        "params": params,
        "batch_stats": variables.get("batch_stats", {}),
        "opt_state": make_optimizer(config, steps).init(params),
    }


def _make_step(module: nn.Module, optimizer: optax.GradientTransformation) -> Any:
    def loss_fn(params: Any, batch_stats: Any, x: jax.Array, y: jax.Array) -> Any:
        variables = {"params": params, "batch_stats": batch_stats}
        logits, updates = module.apply(variables, x, train=True, mutable=["batch_stats"])
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        accuracy = jnp.mean(jnp.argmax(logits, axis=-1) == y)
        return loss, (updates.get("batch_stats", batch_stats), accuracy)

    @jax.jit
    def step(
        state: dict[str, Any], x: jax.Array, y: jax.Array
    ) -> tuple[dict, jax.Array, jax.Array]:
        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (loss, (batch_stats, accuracy)), grads = grad_fn(
            state["params"], state["batch_stats"], x, y
        )
        updates, opt_state = optimizer.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        new = {**state, "params": params, "batch_stats": batch_stats, "opt_state": opt_state}
        return new, loss, accuracy

    return step


def accuracy(module: nn.Module, state: Mapping[str, Any], x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of the trained network (BatchNorm on running statistics)."""
    variables = {"params": state["params"], "batch_stats": state["batch_stats"]}
    logits = jax.jit(lambda v, x: module.apply(v, x, train=False))(variables, jnp.asarray(x))
    return float(np.mean(np.argmax(np.asarray(logits), axis=-1) == y))


def _epoch_order(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    order = np.random.default_rng([seed, epoch]).permutation(n)
    steps = max(n // batch_size, 1)
    return [order[i * batch_size : (i + 1) * batch_size] for i in range(steps)]


def train_module(
    module: nn.Module,
    data: Split,
    config: TrainConfig,
    *,
    out: Path | None = None,
    progress: bool = True,
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Trains `module` (called as ``module(x, train=...)``) on `data`.

    Args:
      module: a Flax linen module returning logits ``(N, classes)``.
      data: the training and held-out split.
      config: the recipe.
      out: a folder for the checkpoint and history; a run with a checkpoint there resumes.
      progress: show a progress bar over epochs.

    Returns:
      ``(state, history)``: the final training state (``params``, ``batch_stats``, ...) and one
      row per epoch (``epoch``, ``train_loss``, ``train_accuracy``, ``held_out_accuracy``).
    """
    if len(data.x_train) < config.batch_size:
        raise TrainError(
            f"batch_size={config.batch_size} is larger than the training split "
            f"({len(data.x_train)} samples)"
        )
    steps_per_epoch = max(len(data.x_train) // config.batch_size, 1)
    optimizer = make_optimizer(config, config.epochs * steps_per_epoch)
    state = _state(module, data.x_train, config, config.epochs * steps_per_epoch)
    history: list[dict[str, float]] = []
    if out is not None and (out / CHECKPOINT).exists():
        state, history = _load(out, state)
    step = _make_step(module, optimizer)
    start = int(state["epoch"])
    for epoch in tqdm(
        range(start, config.epochs),
        initial=start,
        total=config.epochs,
        desc="epochs",
        disable=not progress,
    ):
        losses, accuracies = [], []
        for rows in _epoch_order(len(data.x_train), config.batch_size, config.seed, epoch):
            state, loss, acc = step(state, data.x_train[rows], data.y_train[rows])
            losses.append(loss)
            accuracies.append(acc)
        state = {**state, "epoch": epoch + 1}
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": float(np.mean(jax.device_get(losses))),
                "train_accuracy": float(np.mean(jax.device_get(accuracies))),
                "held_out_accuracy": accuracy(module, state, data.x_held_out, data.y_held_out),
            }
        )
        if out is not None:
            _save(out, state, history)
    return state, history


def _shapes(tree: Any) -> tuple[Any, list[tuple[int, ...]]]:
    return jax.tree.structure(tree), [np.shape(leaf) for leaf in jax.tree.leaves(tree)]


def _load(out: Path, template: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, float]]]:
    try:
        state = serialization.from_bytes(template, (out / CHECKPOINT).read_bytes())
        history = json.loads((out / HISTORY).read_text())
        if _shapes(state) != _shapes(template):
            raise ValueError("its parameters have other names or shapes")
    except (ValueError, KeyError, OSError) as error:
        raise TrainError(
            f"cannot resume from {out / CHECKPOINT}: it does not match this architecture and "
            f"recipe, or is damaged ({type(error).__name__}: {error}); use another output folder"
        ) from None
    return state, history[: int(state["epoch"])]


def _save(out: Path, state: Mapping[str, Any], history: list[dict[str, float]]) -> None:
    """Writes the checkpoint and history atomically (a kill mid-write leaves the old ones)."""
    out.mkdir(parents=True, exist_ok=True)
    for name, payload in [
        (CHECKPOINT, serialization.to_bytes(state)),
        (HISTORY, json.dumps(history, indent=2).encode()),
    ]:
        partial = out / (name + ".partial")
        partial.write_bytes(payload)
        partial.replace(out / name)


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """A trained architecture: its string, final state and per-epoch history."""

    arch: str
    state: dict[str, Any]
    history: list[dict[str, float]]

    @property
    def held_out_accuracy(self) -> float:
        return self.history[-1]["held_out_accuracy"]


def train(
    space: str | search_spaces.SearchSpace,
    arch: Any,
    data: str | Dataset = "cifar10",
    config: TrainConfig = TrainConfig(),
    *,
    build_options: Mapping[str, Any] | None = None,
    out: Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Trains one architecture of `space` on `data` (a `--data` spec or a dataset).

    The data is split into training and held-out parts by ``config.seed``; `out` holds the
    checkpoint and ``history.json`` (resumable). See `train_module` for the returned history.
    """
    dataset = load_dataset(data, seed=config.seed) if isinstance(data, str) else data
    if isinstance(space, str):
        space = search_spaces.get(space, input_shape=tuple(dataset.x.shape[1:]))
    arch = space.from_str(arch) if isinstance(arch, str) else arch
    options = {"num_classes": dataset.num_classes, **(build_options or {})}
    module = space.build(arch, **options)
    parts = split(
        np.asarray(dataset.x), np.asarray(dataset.y), config.held_out_fraction, config.seed
    )
    state, history = train_module(module, parts, config, out=out, progress=progress)
    return TrainResult(space.to_str(arch), state, history)
