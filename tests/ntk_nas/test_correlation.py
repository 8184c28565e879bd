"""ntk_nas.correlation: reading a table of measured architectures, and `correlate` end to end on
tiny NAS-Bench-201 networks (a target that is the parameter count itself must rank perfectly)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ntk_nas import correlation, study
from ntk_nas.study import StudyError

ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|",
    "|skip_connect~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|nor_conv_1x1~2|",
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|skip_connect~1|+|none~0|skip_connect~1|avg_pool_3x3~2|",
    "|nor_conv_1x1~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|none~2|",
]
OPTIONS = {
    "data": "gaussian:8,8,3",
    "batch_size": 4,
    "build_options": {"C": 4, "N": 1},
    "show_progress": False,
}


def write_table(path: Path, rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def params_by_arch() -> dict[str, float]:
    rows = study.rank("nb201", ARCHS, "params", OPTIONS["data"], **_rank_options())
    return {row[study.ARCH]: row["params"] for row in rows}


def _rank_options() -> dict[str, object]:
    return {k: v for k, v in OPTIONS.items() if k != "data"}


def test_a_target_that_is_the_score_ranks_perfectly_and_the_run_resumes(
    tmp_path, params_by_arch, monkeypatch
) -> None:
    noise = np.random.default_rng(0).normal(size=len(ARCHS))
    path = write_table(
        tmp_path / "table.csv",
        [
            {"arch_str": a, "size": params_by_arch[a], "noise": n, "note": "x"}
            for a, n in zip(ARCHS, noise, strict=True)
        ],
    )
    table = correlation.read_table(path, ["size", "noise", "note"], arch_column="arch_str")
    out = tmp_path / "out"
    found = correlation.correlate(
        "nb201", table, ["params", "naswot"], resamples=50, out=out, **OPTIONS
    )

    exact = found.report["size"]["params"]
    assert exact["n"] == len(ARCHS)
    assert exact["kendall_tau"] == pytest.approx(1.0)
    assert exact["spearman_rho"] == pytest.approx(1.0)
    assert exact["top10_precision"] == 1.0
    assert set(found.report["noise"]) == {"params", "naswot", "params+naswot"}
    assert abs(found.report["noise"]["params"]["kendall_tau"]) < 1.0
    assert found.report["note"]["params"]["n"] == 0  # not a number: no pairs
    assert [r[study.ARCH] for r in found.rows] == ARCHS
    assert [r["size"] for r in found.rows] == [params_by_arch[a] for a in ARCHS]
    saved = json.loads((out / "correlation.json").read_text())
    assert saved["report"]["size"]["params"]["kendall_tau"] == pytest.approx(1.0)
    assert saved["settings"]["build_options"] == {"C": 4, "N": 1}
    assert saved["settings"]["data"] == "gaussian:8,8,3"
    assert (out / "scatter_naswot.png").stat().st_size > 0
    with (out / "rows.csv").open() as handle:
        assert [r[study.ARCH] for r in csv.DictReader(handle)] == ARCHS

    def no_scoring(*args: object, **kwargs: object) -> None:
        raise AssertionError("an architecture was scored again")

    monkeypatch.setattr(study, "evaluate_many", no_scoring)
    again = correlation.correlate(
        "nb201", table, ["params", "naswot"], resamples=50, out=out, **OPTIONS
    )
    assert again.report["size"] == found.report["size"]  # the scores, read back exactly
    assert again.report["noise"] == found.report["noise"]
    one_resample = correlation.correlate(
        "nb201", table, ["params", "naswot"], resamples=1, out=out, **OPTIONS
    )
    assert one_resample.report["size"]["params"]["kendall_tau"] == pytest.approx(1.0)
    for taken in ("params", "naswot.seconds"):  # a score, or a figure of one
        clash = correlation.Table(ARCHS, {taken: np.zeros(len(ARCHS))})
        with pytest.raises(StudyError, match=f"target column '{taken}' has the name of a column"):
            correlation.correlate("nb201", clash, ["params", "naswot"], **OPTIONS)
    typo = correlation.Table([ARCHS[0], ARCHS[1].replace("none", "nothing")], {"acc": np.ones(2)})
    with pytest.raises(StudyError, match=r"row 2 of the table: invalid op 'nothing~1'"):
        correlation.correlate("nb201", typo, "params", **OPTIONS)
    with pytest.raises(StudyError, match="resamples must be a positive integer, got 0"):
        correlation.correlate("nb201", table, "params", resamples=0, **OPTIONS)
    with pytest.raises(StudyError, match="other settings"):
        correlation.correlate("nb201", table, "params", out=out, **{**OPTIONS, "batch_size": 8})


def test_read_table_names_what_is_wrong(tmp_path) -> None:
    path = write_table(tmp_path / "t.csv", [{"arch": ARCHS[0], "acc": "93.1"}])
    assert correlation.read_table(path, ["acc"]).targets["acc"].tolist() == [93.1]
    with pytest.raises(
        StudyError, match=r"lacks the column\(s\) 'accuracy'; its columns: arch, acc"
    ):
        correlation.read_table(path, ["accuracy"])
    with pytest.raises(StudyError, match="at least one target"):
        correlation.read_table(path, [])
    with pytest.raises(StudyError, match="cannot read table"):
        correlation.read_table(tmp_path / "missing.csv", ["acc"])
    (tmp_path / "empty.csv").write_text("arch,acc\n")
    with pytest.raises(StudyError, match="lists no architectures"):
        correlation.read_table(tmp_path / "empty.csv", ["acc"])


def test_sample_is_reproducible_and_keeps_the_table_order() -> None:
    table = correlation.Table(ARCHS, {"acc": np.arange(len(ARCHS), dtype=float)})
    drawn = correlation.sample(table, 3, seed=1)
    assert drawn.archs == correlation.sample(table, 3, seed=1).archs
    assert len(drawn.archs) == 3 and list(drawn.targets["acc"]) == sorted(drawn.targets["acc"])
    assert [ARCHS[int(i)] for i in drawn.targets["acc"]] == drawn.archs
    assert correlation.sample(table, None, seed=0) is table
    assert correlation.sample(table, 1, seed=0).archs[0] in ARCHS
    for seed in range(5):  # drawn without replacement
        assert len(set(correlation.sample(table, 5, seed=seed).archs)) == 5
    assert correlation.sample(table, len(ARCHS), seed=0) is table
    assert correlation.sample(table, 100, seed=0) is table
    with pytest.raises(StudyError, match="at least one architecture, got 0"):
        correlation.sample(table, 0, seed=0)


def test_format_report_lines_up_one_row_per_target_and_score() -> None:
    c = {
        "n": 5,
        "kendall_tau": 0.5,
        "kendall_tau_ci95": [0.1, 0.9],
        "spearman_rho": float("nan"),
        "spearman_rho_ci95": [float("nan"), float("nan")],
        "top10_precision": 1.0,
    }
    text = correlation.format_report({"acc": {"params": c, "ntk_cond": c}})
    lines = text.splitlines()
    assert len(lines) == 4 and lines[1].startswith("------")
    assert " ".join(lines[2].split()) == "acc params 5 0.500 [0.100, 0.900] nan [nan, nan] 1.000"


def test_score_log_appends_rows_under_its_first_header(tmp_path) -> None:
    path = tmp_path / "scores.csv"
    log = correlation.ScoreLog(path)
    log({})
    assert not path.exists()  # nothing scored, no file
    log({"a": {"params": 1.0, "params.seconds": 0.5}})
    log({"b": {"params": 2.0, "extra": 9.0}, "c": {"params": float("nan")}})
    scores = correlation.read_scores(path)
    assert list(scores) == ["a", "b", "c"]
    assert scores["b"]["params"] == 2.0 and "extra" not in scores["b"]  # not in the header
    assert np.isnan(scores["b"]["params.seconds"])  # empty cell, read back as NaN
    assert scores["a"] == {"params": 1.0, "params.seconds": 0.5}
    assert np.isnan(scores["c"]["params"])
    assert correlation.read_scores(tmp_path / "absent.csv") == {}
