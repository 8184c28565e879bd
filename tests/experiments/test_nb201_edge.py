"""experiments/nb201_edge.py: the five cells of one edge, ranked by each method."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from experiments import nb201_edge as exp
from search_spaces.nb201 import OPS, from_str


def test_parse_edge_names_every_edge_when_refusing() -> None:
    assert exp.parse_edge("3<-0") == 3
    assert exp.parse_edge("1<-0") == 0
    with pytest.raises(SystemExit, match=r"bad --edge '0<-3': expected one of 1<-0, 2<-0, "):
        exp.parse_edge("0<-3")
    with pytest.raises(SystemExit, match="bad --edge '3-0'"):
        exp.parse_edge("3-0")


def test_variants_differ_from_the_base_on_the_edge_only() -> None:
    base = from_str(exp.ALL_3X3)
    cells = exp.variants(base, 3)
    assert list(cells) == list(OPS)
    for op, arch in cells.items():
        ops = from_str(arch).ops
        assert ops[3] == op
        assert ops[:3] + ops[4:] == base.ops[:3] + base.ops[4:]


def test_order_joins_ties() -> None:
    assert exp.order({"a": 2.0, "b": 1.0, "c": 2.0}) == "a = c > b"
    assert exp.order({"a": 1.0}) == "a"
    assert exp.order({"skip_connect": 1.0, "b": 0.0}, exp.LABELS) == "skip > b"


def test_summarise_against_a_hand_worked_case() -> None:
    accuracy = {"x": 90.0, "y": 94.0, "z": 92.0}  # best op y; the base cell has z
    rows = [
        # seed 0: "up" orders y > z > x (as the benchmark), "down" (minimised) x > z > y
        {"seed": 0, "op": "x", "up": 1.0, "down": 1.0},
        {"seed": 0, "op": "y", "up": 3.0, "down": 3.0},
        {"seed": 0, "op": "z", "up": 2.0, "down": 2.0},
        # seed 1: "up" puts z first, then y, then x
        {"seed": 1, "op": "x", "up": 1.0, "down": 1.0},
        {"seed": 1, "op": "y", "up": 2.0, "down": 3.0},
        {"seed": 1, "op": "z", "up": 3.0, "down": 2.0},
    ]
    methods = {
        "up": ("up",),
        "down": ("down",),
        "up+down": ("up", "down"),
        "up*down": ("up", "down"),
        "flat": ("flat",),
    }
    directions = {"up": "maximize", "down": "minimize", "flat": "maximize"}
    for row in rows:
        row["flat"] = 0.0
    summary = exp.summarise(rows, methods, directions, accuracy, "z")
    assert (summary["best_op"], summary["base_op"]) == ("y", "z")
    up, down, summed, logged, flat = (summary["methods"][m] for m in methods)
    assert up["orders"] == ["y > z > x", "z > y > x"]
    assert up["kendall_tau"]["runs"] == pytest.approx([1.0, 1 / 3])
    assert up["kendall_tau"]["mean"] == pytest.approx(2 / 3)
    assert (up["prefers_best_op"], up["seeds"]) == (1, 2)
    assert down["orders"] == ["x > z > y"] * 2
    assert down["kendall_tau"]["runs"] == pytest.approx([-1.0, -1.0])
    assert down["prefers_best_op"] == 0
    # Opposite orders in seed 0: the sum of ranks ties every op, while AZ-NAS's log rule puts the
    # op both rank second above the ops one of them ranks last.
    assert summed["orders"][0] == "x = y = z"
    assert logged["orders"][0] == "z > x = y"
    # A tie of the best op with the base op is no preference.
    assert flat["orders"] == ["x = y = z"] * 2 and flat["prefers_best_op"] == 0


def test_edge_end_to_end_reports_and_resumes(
    accuracies: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs" / "edge"
    argv = ["--seeds", "1", "--build", "C=4,N=1", "--batch-size", "4", "--scorers", "params",
            "expressivity", "--methods", "params", "expressivity*params",
            "--accuracies", str(accuracies), "--out", str(out)]  # fmt: skip
    assert exp.main(argv) == 0
    printed = capsys.readouterr().out
    with (out / "edge.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["seed"], r["op"]) for r in rows] == [("0", op) for op in OPS]
    assert all(float(r["expressivity"]) > 0 for r in rows)
    report = json.loads((out / "edge.json").read_text())
    assert report["base_op"] == "nor_conv_3x3" and report["settings"]["edge"] == "3<-0"
    # The parameter count: the 3x3 conv, then the 1x1, and the three ops without parameters tie.
    params = report["methods"]["params"]
    assert params["orders"] == ["3x3 > 1x1 > none = skip = pool"]
    accuracy = report["accuracy"]["cifar10"]
    truth = " > ".join(
        f"{exp.LABELS[op]} ({accuracy[op]:.2f})" for op in sorted(accuracy, key=accuracy.get)[::-1]
    )
    assert f"| benchmark (CIFAR-10 test accuracy) | {truth} | 1 | - |" in printed
    assert "| expressivity*params |" in printed
    assert printed.strip() == (out / "table.md").read_text().strip()
    # A rerun scores nothing; other settings need another folder.
    before = (out / "edge.csv").read_text()
    assert exp.main(argv) == 0
    assert (out / "edge.csv").read_text() == before
    with pytest.raises(SystemExit, match="other settings"):
        exp.main([*argv, "--edge", "2<-1"])
    # A second seed adds its rows; the report covers the seeds asked for.
    assert exp.main([*argv, "--seeds", "2"]) == 0
    assert json.loads((out / "edge.json").read_text())["methods"]["params"]["seeds"] == 2
    assert exp.main(argv) == 0
    report = json.loads((out / "edge.json").read_text())
    assert report["methods"]["params"]["seeds"] == 1
    assert len(report["methods"]["params"]["orders"]) == 1


def test_bad_input_is_refused_by_name(accuracies: Path, tmp_path: Path) -> None:
    common = ["--accuracies", str(accuracies), "--out", str(tmp_path / "x")]
    with pytest.raises(SystemExit, match="'random' ranks nothing here"):
        exp.main(["--scorers", "params", "--methods", "random", *common])
    with pytest.raises(SystemExit, match=r"bad --scorers or --base: .*'conv_5x5'"):
        exp.main(
            [
                "--scorers",
                "params",
                "--base",
                exp.ALL_3X3.replace("nor_conv_3x3~0|+", "conv_5x5~0|+", 1),
                *common,
            ]
        )
    with pytest.raises(SystemExit, match="bad --edge"):
        exp.main(["--scorers", "params", "--edge", "4<-0", *common])
    with pytest.raises(SystemExit):
        exp.main(["--seeds", "0", *common])
