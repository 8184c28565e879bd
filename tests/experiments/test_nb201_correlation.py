"""End to end: experiments/nb201_correlation.py on a tiny slice (tiny networks and batches)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from experiments import nb201_correlation as exp

ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|",
]
ACCURACY = [(93.7, 70.3, 44.0), (85.9, 52.9, 26.6), (10.0, 1.0, 0.8), (88.0, 60.0, 30.0)]
PARAMS_MB = ["0.802426", "0.129306", "0.073306", "0.999999"]  # the last one is wrong on purpose


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    accuracies = tmp_path / "acc.csv"
    with accuracies.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arch_index", "arch_str", *(c for c, _ in exp.TARGETS.values())])
        for i, (arch, acc) in enumerate(zip(ARCHS, ACCURACY, strict=True)):
            writer.writerow([i, arch, *acc])
    params = tmp_path / "params.csv"
    with params.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arch_index", "arch_str", "params_mb"])
        writer.writerows([i, a, p] for i, (a, p) in enumerate(zip(ARCHS, PARAMS_MB, strict=True)))
    rng = np.random.default_rng(0)
    paths = {"acc": accuracies, "params": params}
    for name, classes in (("c10", 10), ("c100", 100)):
        paths[name] = tmp_path / f"{name}.npz"
        np.savez(
            paths[name],
            x=rng.integers(0, 256, (8, 8, 8, 3), dtype=np.uint8),  # tiny images: cheap scoring
            y=rng.integers(0, classes, 8),
            label_names=np.array([f"c{i}" for i in range(classes)]),
        )
    return paths


def run(files: dict[str, Path], out: Path, *extra: str) -> int:
    return exp.main(
        [
            "--archs", "3", "--scorers", "naswot", "params", "--batch-size", "4",
            "--build", "C=4,N=1", "--resamples", "20", "--out", str(out),
            "--accuracies", str(files["acc"]),
            "--cifar10", str(files["c10"]), "--cifar100", str(files["c100"]),
            *extra,
        ]
    )  # fmt: skip


def test_scores_reports_and_resumes(files: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert run(files, out) == 0
    with (out / "scores.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6  # 3 cells x (cifar10, cifar100) inputs
    assert {r["data"] for r in rows} == {"cifar10", "cifar100"}
    assert all(float(r["params"]) > 0 for r in rows)
    report = json.loads((out / "correlation.json").read_text())
    assert set(report["targets"]) == {"cifar10", "cifar100", "imagenet16"}
    c10 = report["targets"]["cifar10"]["scorers"]
    assert set(c10) == {"naswot", "params"} and c10["params"]["n"] == 3
    assert -1 <= c10["params"]["kendall_tau"] <= 1
    assert (out / "scatter_naswot.png").stat().st_size > 0
    assert "| cifar10 (cifar10) | params | 3 |" in capsys.readouterr().out

    # An interrupted run (a file with only some rows) is completed, keeping the rows it has.
    lines = (out / "scores.csv").read_text().splitlines()
    (out / "scores.csv").write_text("\n".join(lines[:5]) + "\n")  # the header and 4 of 6 rows
    assert run(files, out) == 0
    again = (out / "scores.csv").read_text().splitlines()
    assert again[:5] == lines[:5] and len(again) == 7

    def keys(text_lines: list[str]) -> set[str]:
        return {",".join(line.split(",")[:3]) for line in text_lines}

    assert keys(again) == keys(lines)
    # A complete run scores nothing.
    assert run(files, out, "--no-plots") == 0
    assert (out / "scores.csv").read_text().splitlines() == again
    assert run(files, out, "--no-score", "--no-plots") == 0
    assert len((out / "scores.csv").read_text().splitlines()) == 7

    with pytest.raises(SystemExit, match="columns"):
        exp.main(["--archs", "3", "--scorers", "params", "--out", str(out),
                  "--accuracies", str(files["acc"])])  # fmt: skip


def test_cells_per_call_give_the_same_rows(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, many = tmp_path / "one", tmp_path / "many"
    extra = ("--scorers", "ntk_cond", "--inputs", "cifar10", "--no-plots")
    assert run(files, one, *extra) == 0
    assert run(files, many, *extra, "--archs-per-call", "2") == 0

    def scores(out: Path) -> dict[str, str]:
        with (out / "scores.csv").open() as f:
            return {r["arch_str"]: r["ntk_cond"] for r in csv.DictReader(f)}

    assert len(scores(one)) == 3 and scores(many) == scores(one)
    with pytest.raises(SystemExit):
        run(files, tmp_path / "bad", "--archs-per-call", "0")
    assert "--archs-per-call must be a positive integer, got 0" in capsys.readouterr().err


def test_missing_images_are_named_without_a_traceback(
    files: dict[str, Path], tmp_path: Path
) -> None:
    files = {**files, "c10": tmp_path / "absent.npz"}
    with pytest.raises(SystemExit, match=r"cannot load the images .*absent\.npz"):
        run(files, tmp_path / "out", "--inputs", "cifar10")


def test_calls_take_blocks_of_cells_on_every_input() -> None:
    done = {("c100", "b")}
    calls = list(exp._calls(["a", "b", "c"], ["c10", "c100"], done, per_call=2))
    assert calls == [("c10", ["a", "b"]), ("c100", ["a"]), ("c10", ["c"]), ("c100", ["c"])]
    assert list(exp._calls(["a", "b"], ["c10"], set(), per_call=1)) == [
        ("c10", ["a"]),
        ("c10", ["b"]),
    ]


def test_join_adds_another_runs_scores(files: dict[str, Path], tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert run(files, first, "--no-plots") == 0
    lines = (first / "scores.csv").read_text().splitlines()
    assert lines[-1].startswith("cifar100,")  # the first run now lacks it:
    (first / "scores.csv").write_text("\n".join(lines[:-1]) + "\n")
    assert exp.main([
        "--archs", "3", "--scorers", "params:name=size", "--batch-size", "4",
        "--build", "C=4,N=1", "--resamples", "20", "--out", str(second),
        "--accuracies", str(files["acc"]), "--cifar10", str(files["c10"]),
        "--cifar100", str(files["c100"]), "--no-plots", "--join", str(first),
    ]) == 0  # fmt: skip
    report = json.loads((second / "correlation.json").read_text())
    c10 = report["targets"]["cifar10"]["scorers"]
    assert set(c10) == {"size", "naswot", "params"} and c10["params"]["n"] == 3
    assert report["targets"]["cifar100"]["scorers"]["params"]["n"] == 2
    assert c10["params"]["kendall_tau"] == c10["size"]["kendall_tau"]
    assert report["settings"]["joined"] == {str(first): ["naswot", "params"]}
    with pytest.raises(SystemExit, match=r"cannot read its correlation\.json"):
        run(files, second, "--no-score", "--join", str(tmp_path))


def test_combinations_and_orientation() -> None:
    rows = [
        {"ntk_cond": "10", "linear_regions": "5", "naswot": "1"},
        {"ntk_cond": "100", "linear_regions": "7", "naswot": "2"},
        {"ntk_cond": "inf", "linear_regions": "9", "naswot": "nan"},
    ]
    directions = {"ntk_cond": "minimize", "linear_regions": "maximize", "naswot": "maximize"}
    oriented = exp.oriented_scores(rows, directions)
    np.testing.assert_array_equal(oriented["ntk_cond"], [-10, -100, -np.inf])
    # ranks of -cond (3, 2, 1) + ranks of linear regions (1, 2, 3) or of naswot (2, 3, 1)
    np.testing.assert_array_equal(oriented["ntk_cond+linear_regions"], [4, 4, 4])
    np.testing.assert_array_equal(oriented["ntk_cond+naswot"], [5, 5, 2])
    # AZ-NAS's rule: the sum of log(rank / n); ranks (1, 2, 3), (3, 2, 1), (2, 3, 1).
    rows = [
        {"expressivity": "1", "progressivity": "3", "params": "2"},
        {"expressivity": "2", "progressivity": "2", "params": "3"},
        {"expressivity": "3", "progressivity": "1", "params": "1"},
    ]
    az = dict.fromkeys(rows[0], "maximize")
    oriented = exp.oriented_scores(rows, az)
    np.testing.assert_array_equal(oriented["expressivity+progressivity+params"], [6, 7, 5])
    np.testing.assert_allclose(
        oriented["expressivity*progressivity*params"], np.log([6 / 27, 12 / 27, 3 / 27])
    )


def test_check_params_reports_mismatches(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "params"
    argv = ["--check-params", "--params-file", str(files["params"]), "--verify", "1"]
    assert exp.main([*argv, "--out", str(out)]) == 0
    summary = json.loads((out / "params_check.json").read_text())
    assert summary["rows"] == 4 and summary["matching"] == 3 and summary["mismatching"] == 1
    with (out / "params_mismatches.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert row["arch_index"] == "3"
    # ours: 73,306 + 2 conv1x1 + 1 conv3x3 = 372,346
    assert int(row["num_params"]) == 73306 + 2 * 28000 + 243040


def test_arch_sample_is_reproducible() -> None:
    table = {f"a{i}": {"arch_index": i} for i in range(50)}
    first = exp.select_archs(table, count=10, subset=None, seed=1)
    assert first == exp.select_archs(table, count=10, subset=None, seed=1)
    assert first != exp.select_archs(table, count=10, subset=None, seed=2)
    assert len(set(first)) == 10
