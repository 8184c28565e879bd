"""Several `ntk-nas search` workers on one study: PostgreSQL (with a worker killed) and journal."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from ntk_nas import study as plugin
from tests.ntk_nas.postgres import postgres_server

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--build", "C=4", "--build", "N=1", "--data", "gaussian:8,8,3", "--batch-size", "4"]
TOTAL = 10


def _worker(storage: str, out: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "ntk_nas.cli",
        "search",
        "--storage",
        storage,
        "--study",
        "w",
        "--scorer",
        "params",
        "--trials",
        str(TOTAL),
        "--heartbeat",
        "1",
        "--out",
        str(out),
        *TINY,
    ]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


@contextlib.contextmanager
def _trials(storage: str) -> Iterator[list[optuna.trial.FrozenTrial]]:
    """The study's trials, read through a storage whose connections are closed afterwards."""
    if storage.startswith("journal:"):
        yield optuna.load_study(study_name="w", storage=plugin.open_storage(storage)).trials
        return
    rdb = optuna.storages.RDBStorage(storage)
    try:
        yield optuna.load_study(study_name="w", storage=rdb).trials
    finally:
        rdb.engine.dispose()


def _scored(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    return [t for t in trials if plugin.FIGURES in t.user_attrs]


def _check_totals(storage: str, workers: int) -> None:
    with _trials(storage) as trials:
        scored = plugin.scored_trials(trials)
        assert TOTAL <= len(scored) <= TOTAL + workers - 1
        assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
        counted = {t.number for t in scored}
        # Not counted: a killed worker's trial (failed, then retried) or a retry never run.
        others = {t.state for t in _scored(trials) if t.number not in counted}
        assert others <= {optuna.trial.TrialState.FAIL, optuna.trial.TrialState.WAITING}
        for trial in scored:
            assert trial.state == optuna.trial.TrialState.COMPLETE
            assert trial.value == trial.user_attrs[plugin.FIGURES]["params"]
        numbers = [t.number for t in trials]
        assert len(numbers) == len(set(numbers))


def test_three_postgres_workers_survive_a_killed_one(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with postgres_server() as url:
        workers = [_worker(url, tmp_path / f"w{i}", env) for i in range(3)]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                with _trials(url) as trials:
                    if len(_scored(trials)) >= 2:
                        break
            except KeyError:
                continue  # the study is not created yet
        workers[0].send_signal(signal.SIGKILL)
        workers[0].communicate(timeout=60)
        assert workers[0].returncode == -signal.SIGKILL
        for worker in workers[1:]:
            _, stderr = worker.communicate(timeout=600)
            assert worker.returncode == 0, stderr
        # A later run on the same study fails the killed worker's trial if it was still running.
        rerun = _worker(url, tmp_path / "rerun", env)
        _, stderr = rerun.communicate(timeout=600)
        assert rerun.returncode == 0, stderr
        _check_totals(url, workers=3)


def test_two_journal_workers_share_one_study(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    storage = f"journal:{tmp_path / 'journal.log'}"
    workers = [_worker(storage, tmp_path / f"w{i}", env) for i in range(2)]
    for worker in workers:
        _, stderr = worker.communicate(timeout=600)
        assert worker.returncode == 0, stderr
    _check_totals(storage, workers=2)


def test_server_needed_for_postgres_is_named_when_missing(monkeypatch):
    from experiments import postgres

    monkeypatch.setattr(postgres, "_binaries", lambda: None)
    hint = "install the Debian package postgresql"
    with pytest.raises(postgres.PostgresUnavailable, match=hint), postgres.postgres_server():
        pass
    with pytest.raises(pytest.skip.Exception, match=hint), postgres_server():
        pass
