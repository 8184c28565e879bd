"""experiments/nb201_replay.py: replayed searches on a made-up table of scores."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

import search_spaces
from experiments import nb201_replay as exp
from experiments.nb201_correlation import read_accuracies

#: Two cells of one canonical form: node 2 feeds nothing, so its input edges do not matter.
TWINS = (
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
    "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
)
#: Canonical forms among the 42 cells of `run`: the twins count once.
CELLS = 41


@pytest.fixture
def run(accuracies: Path, tmp_path: Path) -> Path:
    """A scores.csv of 42 cells spread over the space, two of them twins: ``params`` holds the
    CIFAR-10 accuracy (maximised: a perfect score), and so does ``ntk_cond`` (minimised: the
    worst score)."""
    truth = read_accuracies(accuracies)
    space = search_spaces.get("nb201")
    cells = [space.to_str(a) for a in list(space.enumerate())[::389][:40]]
    out = tmp_path / "run"
    out.mkdir()
    with (out / "scores.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["data", "arch_index", "arch_str", "params", "ntk_cond", "params.seconds"])
        for arch in [*cells, *TWINS]:
            entry = truth[arch]
            writer.writerow(
                ["cifar10", entry["arch_index"], arch, entry["cifar10"], entry["cifar10"], 0.1]
            )
    return out


def test_a_perfect_score_picks_the_oracle_and_a_reversed_one_the_worst(
    run: Path, accuracies: Path
) -> None:
    table = exp.read_table(run, "cifar10", accuracies)
    space = search_spaces.get("nb201")
    forms = {space.canonical(space.from_str(a)) for a in table.archs}
    assert len(forms) == len(table.archs) == CELLS and len(set(TWINS) & set(table.archs)) == 1
    directions = {"params": "maximize", "ntk_cond": "minimize"}
    methods = {"params": ("params",), "ntk_cond": ("ntk_cond",), "random": ()}
    report = exp.replay(table, methods, directions, budget=10, replicates=30, seed=0)
    assert report["params"]["cifar10"] == report[exp.ORACLE]["cifar10"]
    worst = report["ntk_cond"]["cifar10"]["mean"]
    assert worst < report["random"]["cifar10"]["mean"] < report["params"]["cifar10"]["mean"]
    whole = exp.table_picks(table, methods, directions, top=5)
    best, last = table.accuracy["cifar10"].argmax(), table.accuracy["cifar10"].argmin()
    assert whole["params"]["arch_str"] == whole[exp.ORACLE]["arch_str"] == table.archs[best]
    assert whole["ntk_cond"]["arch_str"] == table.archs[last] and "random" not in whole
    ascending = np.sort(table.accuracy["cifar10"])
    assert whole["params"]["top"]["cifar10"]["mean"] == pytest.approx(ascending[-5:].mean())
    assert whole[exp.ORACLE]["top"] == whole["params"]["top"]
    assert whole["ntk_cond"]["top"]["cifar10"]["mean"] == pytest.approx(ascending[:5].mean())
    reaching = sum(a >= exp.TENAS_CIFAR10 for a in table.accuracy["cifar10"]) / CELLS
    assert exp.share_reaching_tenas(table) == pytest.approx(reaching)


def test_main_writes_the_report_and_refuses_bad_input(
    run: Path, accuracies: Path, tmp_path: Path
) -> None:
    out = tmp_path / "replay"
    argv = [str(run), "--methods", "params*ntk_cond", "random", "--budgets", "5", "7",
            "--replicates", "4", "--accuracies", str(accuracies), "--out", str(out)]  # fmt: skip
    assert exp.main(argv) == 0
    report = json.loads((out / "replay.json").read_text())
    assert list(report["budgets"]) == ["5", "7"]
    assert set(report["budgets"]["7"]) == {exp.ORACLE, "params*ntk_cond", "random"}
    assert set(report["table_picks"]) == {exp.ORACLE, "params*ntk_cond"}
    assert report["settings"]["cells"] == CELLS
    table = (out / "table.md").read_text()
    assert "| params*ntk_cond |" in table and "| its 10 best cells, CIFAR-10 |" in table
    assert 0 <= report["share_reaching_tenas"] <= 1
    with pytest.raises(SystemExit, match="--budgets 50 exceeds the 41 cells scored"):
        exp.main([*argv[:4], "--budgets", "50", *argv[7:]])
    with pytest.raises(SystemExit, match="--top 42 exceeds the 41 cells scored"):
        exp.main([*argv, "--top", "42"])
    with pytest.raises(SystemExit):
        exp.main([*argv, "--top", "0"])
    with pytest.raises(SystemExit, match="'naswot', which is not among --scorers"):
        exp.main([str(run), "--methods", "naswot", *argv[4:]])
    with pytest.raises(SystemExit, match="no scores in"):
        exp.main([str(tmp_path), "--methods", "random", "--accuracies", str(accuracies)])


def test_join_adds_the_scores_of_another_run(run: Path, accuracies: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    rows = list(csv.DictReader((run / "scores.csv").read_text().splitlines()))
    with (other / "scores.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["data", "arch_index", "arch_str", "meco", "meco.seconds"])
        for row in rows[1:]:  # the first cell is not scored there
            writer.writerow([row["data"], row["arch_index"], row["arch_str"], row["params"], 0.1])
    settings = {"settings": {"scorers": ["meco"]}}
    (other / "correlation.json").write_text(json.dumps(settings))
    table = exp.read_table(run, "cifar10", accuracies, join=[other])
    assert set(table.scores) == {"params", "ntk_cond", "meco"}
    first = table.archs.index(rows[0]["arch_str"])
    assert np.isnan(table.scores["meco"][first])
    np.testing.assert_array_equal(
        np.delete(table.scores["meco"], first), np.delete(table.scores["params"], first)
    )
    out = tmp_path / "replay"
    argv = [str(run), "--join", str(other), "--methods", "meco*params", "--budgets", "5",
            "--replicates", "3", "--accuracies", str(accuracies), "--out", str(out)]  # fmt: skip
    assert exp.main(argv) == 0
    assert "meco*params" in json.loads((out / "replay.json").read_text())["table_picks"]
