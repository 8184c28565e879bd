"""experiments/seed_spread.py on hand-made reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import seed_spread


def _report(folder: Path, tau: float, rho: float, *, extra: bool) -> Path:
    scorers = {"a": {"n": 10, "kendall_tau": tau, "spearman_rho": rho}}
    unscored = {"a": {"n": 10 if extra else 0, "kendall_tau": tau, "spearman_rho": rho}}
    if extra:
        scorers["only_here"] = {"n": 10, "kendall_tau": 0.0, "spearman_rho": 0.0}
    folder.mkdir()
    report = {
        "targets": {
            "cifar10": {"scorers": scorers},
            "other": {"scorers": {}},
            "cifar100": {"scorers": unscored},  # no rows in the runs without `extra`
        }
    }
    (folder / "correlation.json").write_text(json.dumps(report))
    return folder


def test_mean_and_sample_std_over_runs(tmp_path: Path, capsys) -> None:
    runs = [
        _report(tmp_path / "s0", 0.4, 0.6, extra=True),
        _report(tmp_path / "s1", 0.5, 0.7, extra=False),
        _report(tmp_path / "s2", 0.6, 0.8, extra=False),
    ]
    out = tmp_path / "spread.json"
    assert seed_spread.main([*map(str, runs), "--out", str(out)]) == 0
    found = json.loads(out.read_text())["targets"]
    assert set(found["cifar10"]) == {"a"}  # only what every run has
    assert set(found) == {"cifar10"}  # only targets with cells scored in every run
    tau = found["cifar10"]["a"]["kendall_tau"]
    assert tau["mean"] == pytest.approx(0.5) and tau["std"] == pytest.approx(0.1)
    assert tau["runs"] == [0.4, 0.5, 0.6]
    assert found["cifar10"]["a"]["spearman_rho"]["mean"] == pytest.approx(0.7)
    assert "| cifar10 | a | 10 | 0.500 ± 0.100 | 0.700 ± 0.100 |" in capsys.readouterr().out


def test_a_folder_without_a_report_is_named(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="nowhere"):
        seed_spread.main([str(tmp_path / "nowhere")])
