"""experiments/bench_workers.py: its figures from trials, and a tiny run on a real server."""

from __future__ import annotations

import datetime
import json

import optuna
import pytest

from experiments import bench_workers, postgres
from ntk_nas import study as plugin
from tests.ntk_nas.postgres import postgres_server

TINY = ["--build", "C=4", "--build", "N=1", "--data", "gaussian:8,8,3", "--batch-size", "4"]
LAUNCH = datetime.datetime(2026, 1, 1, 12, 0, 0)


def _trial(number: int, start_s: float, end_s: float, arch: str) -> optuna.trial.FrozenTrial:
    return optuna.trial.FrozenTrial(
        number=number,
        state=optuna.trial.TrialState.COMPLETE,
        value=1.0,
        datetime_start=LAUNCH + datetime.timedelta(seconds=start_s),
        datetime_complete=LAUNCH + datetime.timedelta(seconds=end_s),
        params={},
        distributions={},
        user_attrs={plugin.FIGURES: {"params": 1.0}, plugin.CANONICAL: arch},
        system_attrs={},
        intermediate_values={},
        trial_id=number,
    )


def test_summary_counts_repeats_and_leaves_start_up_out_of_the_steady_rate():
    # Two workers: each first trial ends at 30 s (start-up), then one trial every 2 s each.
    trials = [_trial(0, 1, 30, "a"), _trial(1, 1, 30, "a"), _trial(2, 30, 32, "b")]
    trials += [_trial(3, 30, 32, "c"), _trial(4, 32, 34, "d")]
    unscored = _trial(5, 34, 35, "e")
    unscored.user_attrs = {}
    row = bench_workers.summarize([*trials, unscored], workers=2, launched=LAUNCH, wall_s=40.0)
    assert row["trials"] == 5 and row["distinct"] == 4
    assert row["per_min"] == 5 / 40 * 60
    assert row["first_s"] == 30.0
    assert row["steady_per_min"] == 3 / 4 * 60  # trials 2-4, from the 2nd to the last completion
    assert row["median_trial_s"] == 2.0


def test_missing_server_names_the_package(monkeypatch):
    monkeypatch.setattr(postgres, "_binaries", lambda: None)
    with pytest.raises(SystemExit, match="install the Debian package postgresql"):
        bench_workers.main(["--workers", "1", "--trials", "1"])


@pytest.mark.slow  # about a minute on 2 cores: three worker processes start JAX
def test_one_and_two_workers_on_a_throwaway_server(tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = ["--workers", "1", "2", "--trials", "3", "--scorer", "params", *TINY]
    with postgres_server() as url:
        rows = bench_workers.main([*argv, "--storage", url, "--out", str(out)])
    assert [row["workers"] for row in rows] == [1, 2]
    for row in rows:
        assert 3 <= row["trials"] <= 3 + row["workers"] - 1
        assert 1 <= row["distinct"] <= row["trials"]
        assert row["per_min"] > 0 and 0 < row["first_s"] <= row["wall_s"]
        assert len(row["load_before"]) == 3 and row["cpu_s"] > 0
    assert rows[0]["ratio"] == 1.0
    report = json.loads(out.read_text())
    assert report["rows"] == rows and report["settings"]["storage"] == url
    assert bench_workers.CACHE_ENV in report["settings"]
    assert "cpus" in report["machine"]
    printed = capsys.readouterr().out
    assert printed.rstrip().endswith(report["table"]) and report["table"].count("\n") == 3
