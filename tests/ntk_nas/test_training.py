"""Training with optax: the loss falls, and an interrupted run resumes to the same parameters."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import numpy as np
import pytest

from ntk_nas import training


class Tiny(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Dense(16)(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
        return nn.Dense(3)(nn.relu(x))


def _clusters(n: int = 96, seed: int = 0) -> training.Split:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = rng.normal(size=(3, 5)) * 3
    x = (centres[y] + rng.normal(size=(n, 5))).astype(np.float32)
    return training.split(x, y, 0.25, seed)


CONFIG = training.TrainConfig(epochs=4, batch_size=16, learning_rate=0.05)


@functools.cache
def _trained(config: training.TrainConfig) -> tuple[dict, list[dict[str, float]]]:
    """An uninterrupted run of `Tiny` on `_clusters()`, trained once per config and session."""
    return training.train_module(Tiny(), _clusters(), config, progress=False)


def test_training_reduces_the_loss_and_learns():
    _, history = _trained(CONFIG)
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["held_out_accuracy"] > 0.8
    assert history[-1]["train_accuracy"] > 0.8


def test_training_moves_the_batchnorm_statistics():
    state, _ = _trained(CONFIG)
    mean = state["batch_stats"]["BatchNorm_0"]["mean"]
    assert np.abs(np.asarray(mean)).max() > 0.1  # from 0 at init: BatchNorm ran in train mode


def test_the_schedule_spans_every_step_of_every_epoch(monkeypatch):
    spans = []
    make_optimizer = training.make_optimizer

    def recorded(config, total_steps):
        spans.append(total_steps)
        return make_optimizer(config, total_steps)

    monkeypatch.setattr(training, "make_optimizer", recorded)
    config = training.TrainConfig(epochs=2, batch_size=16)
    training.train_module(Tiny(), _clusters(), config, progress=False)
    assert set(spans) == {2 * (72 // 16)}


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_interrupted_run_resumes_to_the_same_parameters(tmp_path, monkeypatch, optimizer):
    config = training.TrainConfig(
        epochs=4,
        batch_size=16,
        learning_rate=0.05 if optimizer == "sgd" else 0.01,
        optimizer=optimizer,
    )
    whole, whole_history = _trained(config)  # for sgd, the run of the test above
    save = training._save

    def save_then_die(out, state, history):
        save(out, state, history)
        if int(state["epoch"]) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        training.train_module(Tiny(), _clusters(), config, out=tmp_path, progress=False)
    monkeypatch.setattr(training, "_save", save)
    resumed, history = training.train_module(
        Tiny(), _clusters(), config, out=tmp_path, progress=False
    )
    assert history == whole_history
    for a, b in zip(
        jax.tree.leaves(whole["params"]), jax.tree.leaves(resumed["params"]), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_checkpoint_of_another_model_is_refused(tmp_path):
    training.train_module(Tiny(), _clusters(), CONFIG, out=tmp_path, progress=False)

    class Other(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            return nn.Dense(3)(x)

    with pytest.raises(training.TrainError, match="cannot resume"):
        training.train_module(Other(), _clusters(), CONFIG, out=tmp_path, progress=False)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"held_out_fraction": 0.0}, "held_out_fraction"),
        ({"held_out_fraction": 1.0}, "held_out_fraction"),
        ({"held_out_fraction": 1.5}, "held_out_fraction"),
        ({"optimizer": "lion"}, "lion"),
    ],
)
def test_bad_config(options, message):
    with pytest.raises(training.TrainError, match=message):
        training.TrainConfig(**options)


def test_the_smallest_config():
    assert training.TrainConfig(epochs=1, batch_size=1, held_out_fraction=0.01).epochs == 1


def test_split_holds_out_at_least_one_sample_each_side():
    x, y = np.zeros((3, 5), np.float32), np.arange(3)
    held_out = training.split(x, y, 0.01, seed=0)
    assert (len(held_out.x_train), len(held_out.x_held_out)) == (2, 1)
    most = training.split(x, y, 0.99, seed=0)
    assert (len(most.x_train), len(most.x_held_out)) == (1, 2)
    pair = training.split(x[:2], y[:2], 0.5, seed=0)
    assert (len(pair.x_train), len(pair.x_held_out)) == (1, 1)
    with pytest.raises(training.TrainError, match=r"need at least 2 samples .* got 1"):
        training.split(x[:1], y[:1], 0.25, seed=0)


@pytest.mark.parametrize(
    ("optimizer", "direction"),
    [
        # SGD: the decayed gradient g + wd * p, then Nesterov's g' + 0.9 g' on the first step.
        ("sgd", lambda g, p: 1.9 * (g + 5e-4 * p)),
        # AdamW: the first bias-corrected step is sign(g), plus the decoupled decay wd * p.
        ("adam", lambda g, p: np.sign(g) + 5e-4 * p),
    ],
)
def test_the_optimizers_first_step(optimizer, direction):
    config = training.TrainConfig(learning_rate=0.1, optimizer=optimizer, weight_decay=5e-4)
    transform = training.make_optimizer(config, total_steps=10)
    params, grads = np.array([1.0, -2.0, 3.0]), np.array([0.5, -1.0, 0.0])
    updates, _ = transform.update(grads, transform.init(params), params)
    np.testing.assert_allclose(updates, -0.1 * direction(grads, params), rtol=1e-5, atol=1e-9)


def test_a_batch_larger_than_the_training_split_is_refused():
    config = training.TrainConfig(epochs=1, batch_size=100)
    with pytest.raises(training.TrainError, match=r"batch_size=100 is larger .* \(72 samples\)"):
        training.train_module(Tiny(), _clusters(), config, progress=False)


def test_a_batch_of_the_whole_training_split_is_allowed_and_progress_is_shown(capsys):
    config = training.TrainConfig(epochs=2, batch_size=72)
    _, history = training.train_module(Tiny(), _clusters(), config)
    assert [row["epoch"] for row in history] == [1, 2]
    assert "epochs: 100%" in capsys.readouterr().err


def test_train_an_nb201_architecture_on_gaussian_data(tmp_path):
    result = training.train(
        "nb201",
        "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|",
        "gaussian:8,8,3",
        training.TrainConfig(epochs=1, batch_size=32),
        build_options={"C": 4, "N": 1},
        out=tmp_path / "runs" / "first",
        progress=False,
    )
    assert len(result.history) == 1 and 0.0 <= result.held_out_accuracy <= 1.0
    out = tmp_path / "runs" / "first"
    assert (out / "history.json").exists() and (out / "checkpoint.msgpack").exists()
    conv = result.state["params"]["cells_0"]["edge_1_0"]["nor_conv_3x3"]["conv"]["kernel"]
    assert conv.shape == (3, 3, 4, 4)  # C=4 from the build options


def test_ntk_nas_train_is_the_function_even_once_the_cli_is_imported():
    import ntk_nas
    import ntk_nas.cli  # imports the training module

    assert ntk_nas.train is training.train and ntk_nas.TrainConfig is training.TrainConfig
