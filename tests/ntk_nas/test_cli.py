"""The `ntk-nas` command end to end, through a real subprocess."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TINY = ["--build", "C=4", "--build", "N=1", "--data", "gaussian:8,8,3", "--batch-size", "4"]
ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+" + (
    "|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+" + (
    "|skip_connect~0|skip_connect~1|skip_connect~2|"
)


ROOT = Path(__file__).resolve().parents[2]


def ntk_nas(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "ntk_nas.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
        check=False,
    )


def test_search_writes_results_and_resumes(tmp_path):
    out = tmp_path / "out"
    first = ntk_nas("search", "--scorer", "params", "--trials", "3", "--out", str(out), *TINY)
    assert first.returncode == 0, first.stderr
    assert "rank" in first.stdout and "params" in first.stdout
    for name in ["results.csv", "results.json", "history.png", "study.db"]:
        assert (out / name).stat().st_size > 0
    resumed = ntk_nas("search", "--scorer", "params", "--trials", "5", "--out", str(out), *TINY)
    assert resumed.returncode == 0, resumed.stderr
    rows = json.loads((out / "results.json").read_text())["trials"]
    assert len(rows) == 5
    assert rows[0]["params"] == max(r["params"] for r in rows)


def test_multi_objective_search_draws_pareto_plot(tmp_path):
    out = tmp_path / "out"
    done = ntk_nas(
        "search",
        "--scorer",
        "ntk_cond:repeats=1",
        "--scorer",
        "params",
        "--trials",
        "2",
        "--out",
        str(out),
        *TINY,
    )
    assert done.returncode == 0, done.stderr
    assert (out / "pareto.png").stat().st_size > 0


def test_rank_and_score(tmp_path):
    archs = tmp_path / "archs.txt"
    archs.write_text(f"# two archs\n{ALL_SKIP}\n{ALL_CONV}\n")
    ranked = tmp_path / "ranked.csv"
    done = ntk_nas("rank", "--archs", str(archs), "--scorer", "params", "--out", str(ranked), *TINY)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(ranked.read_text().splitlines()))
    assert [r["arch"] for r in rows] == [ALL_CONV, ALL_SKIP]
    scored = ntk_nas("score", ALL_CONV, "--scorer", "params", *TINY)
    assert scored.returncode == 0, scored.stderr
    assert f"arch: {ALL_CONV}" in scored.stdout and "params: " in scored.stdout


def test_lists():
    assert "nb201" in ntk_nas("spaces").stdout.split()
    assert "ntk_cond" in ntk_nas("scorers").stdout.split()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "--space", "nope"], "nope"),
        (["search", "--scorer", "nope"], "nope"),
        (["search", "--data", "nope:x"], "nope"),
        (["search", "--data", "npz:/no/such.npz"], "/no/such.npz"),
        (["search", "--storage", "nosuchdb://x"], "nosuchdb"),
        (["score", "|bad~0|"], "bad"),
        (["rank", "--archs", "/no/such/file"], "/no/such/file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    done = ntk_nas(
        *args,
        "--out" if args[0] == "search" else "--seed",
        str(tmp_path / "o") if args[0] == "search" else "0",
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ntk-nas: error:") and message in lines[0]
