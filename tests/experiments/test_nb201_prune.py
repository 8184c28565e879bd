"""experiments/nb201_prune.py end to end on a tiny network (the search itself:
tests/ntk_nas/test_pruning.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from experiments import nb201_prune as exp
from ntk_nas import pruning


def test_scorers_that_read_unused_ops_are_refused(accuracies: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="bad --scorers: scorer flops cannot score"):
        exp.main(["--scorers", "flops", "--methods", "flops", "--out", str(tmp_path),
                  "--accuracies", str(accuracies)])  # fmt: skip
    with pytest.raises(SystemExit, match="'random' is not a pruning method"):
        exp.main(["--scorers", "params", "--methods", "random", "--out", str(tmp_path),
                  "--accuracies", str(accuracies)])  # fmt: skip


def tiny_argv(accuracies: Path, out: Path, *methods: str) -> list[str]:
    """One seed of `methods` on a tiny network, scored by `expressivity` and `params`."""
    return ["--seeds", "1", "--build", "C=4,N=1", "--batch-size", "4", "--scorers",
            "expressivity", "params", "--accuracies", str(accuracies), "--out", str(out),
            "--methods", *methods]  # fmt: skip


def test_prune_end_to_end_reports_and_resumes(
    accuracies: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = tiny_argv(accuracies, out, "params", "expressivity*params")
    assert exp.main(argv) == 0
    printed = capsys.readouterr().out
    with (out / "prune.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["method"], r["seed"]) for r in rows] == [
        ("params", "0"),
        ("expressivity*params", "0"),
    ]
    # The most parameters: a 3x3 conv on every edge.
    assert (
        rows[0]["arch_str"]
        == "|"
        + "|+|".join("|".join(f"nor_conv_3x3~{i}" for i in range(j)) for j in (1, 2, 3))
        + "|"
    )
    assert all(r["scored"] == "54" for r in rows)
    report = json.loads((out / "prune.json").read_text())
    assert set(report["methods"]) == {"params", "expressivity*params"}
    assert "| expressivity*params |" in printed and "TE-NAS (published)" in printed
    assert f"seed 0: params picked {rows[0]['arch_str']}" in printed
    # A rerun keeps the rows and scores nothing.
    before = (out / "prune.csv").read_text()
    assert exp.main(argv) == 0
    assert (out / "prune.csv").read_text() == before
    with pytest.raises(SystemExit, match="other settings"):
        exp.main([*argv, "--batch-size", "8"])
    # Another seed in the same folder adds its rows; the report covers the seeds asked for.
    assert exp.main([*argv, "--first-seed", "1", "--methods", "params"]) == 0
    report = json.loads((out / "prune.json").read_text())
    assert report["settings"]["seeds"] == [1]
    assert [(r["method"], r["seed"]) for r in report["rows"]] == [("params", 1)]
    with pytest.raises(SystemExit):
        exp.main([*argv, "--first-seed", "-1"])


def test_a_seed_resumes_from_its_stored_supernet_scores(
    accuracies: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    argv = [*tiny_argv(accuracies, out, "expressivity*params"), "--quiet"]
    assert exp.main(argv) == 0
    (store,) = out.glob("supernets_seed0_*.jsonl")
    assert len(store.read_text().splitlines()) == 1 + 54  # the settings, then each supernet
    first = (out / "prune.csv").read_text()
    (out / "prune.csv").unlink()  # as if the seed had been stopped before its row was written

    def refuse(*args: object) -> None:
        raise AssertionError("a stored supernet was scored again")

    monkeypatch.setattr(pruning.SupernetScores, "_score", refuse)
    assert exp.main(argv) == 0
    assert (out / "prune.csv").read_text() == first
    # Methods that use other scorers score another set, kept in a file of its own.
    monkeypatch.undo()
    assert exp.main([*tiny_argv(accuracies, out, "params"), "--quiet"]) == 0
    assert len(list(out.glob("supernets_seed0_*.jsonl"))) == 2


def test_tenas_linear_regions_drive_the_search(accuracies: Path, tmp_path: Path) -> None:
    out = tmp_path / "regions"
    argv = ["--seeds", "1", "--regions", "40", "--scorers", "params", "--methods", "regions",
            "regions+params", "--accuracies", str(accuracies), "--out", str(out)]  # fmt: skip
    assert exp.main(argv) == 0
    report = json.loads((out / "prune.json").read_text())
    assert report["settings"]["regions"] == 40
    assert [r["scored"] for r in report["rows"]] == [54, 54]
    with pytest.raises(SystemExit, match="'regions' is the name of --regions' score"):
        exp.main([*argv[:4], "--scorers", "linear_regions:name=regions", *argv[5:]])
    with pytest.raises(SystemExit, match="'regions', which is not among --scorers"):
        exp.main(["--scorers", "params", "--methods", "regions", "--out", str(tmp_path / "x"),
                  "--accuracies", str(accuracies)])  # fmt: skip
