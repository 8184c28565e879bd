"""ntk_nas.results: result files, the printed table, the Pareto front, the running best and
the plots' axis scale."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from ntk_nas import results


def test_write_csv_takes_the_union_of_columns_in_first_seen_order(tmp_path) -> None:
    path = tmp_path / "rows.csv"
    results.write_csv([{"arch": "a", "score": 1.5}, {"score": 2.0, "params": 7}], path)
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["arch", "score", "params"]
        assert list(reader) == [
            {"arch": "a", "score": "1.5", "params": ""},
            {"arch": "", "score": "2.0", "params": "7"},
        ]


def test_write_json_writes_non_finite_floats_as_strings_at_any_depth(tmp_path) -> None:
    path = tmp_path / "payload.json"
    payload = {"a": math.inf, "b": [1.5, -math.inf, (math.nan, 2)], "c": {"d": 3, "e": "x"}}
    results.write_json(payload, path)
    assert json.loads(path.read_text()) == {
        "a": "inf",
        "b": [1.5, "-inf", ["nan", 2]],
        "c": {"d": 3, "e": "x"},
    }


def test_format_table_ranks_the_first_rows_in_aligned_columns() -> None:
    rows = [{"arch": "long-name", "score": 1 / 3}, {"arch": "b", "score": None}, {"arch": "c"}]
    assert results.format_table(rows, ["arch", "score"], limit=2).splitlines() == [
        "rank  arch       score",
        "----  ---------  --------",
        "1     long-name  0.333333",
        "2     b",
    ]


def test_format_table_without_ranks() -> None:
    table = results.format_table([{"n": 12}, {"n": 3}], ["n"], ranked=False)
    assert table.splitlines() == ["n", "--", "12", "3"]


def test_format_table_shows_ten_rows_by_default() -> None:
    table = results.format_table([{"n": n} for n in range(11)], ["n"])
    assert table.splitlines()[-1].split() == ["10", "9"]


@pytest.mark.parametrize(
    ("value", "cell"),
    [(123456789.0, "1.23457e+08"), (0.5, "0.5"), (None, ""), (7, "7"), ("x", "x"), (True, "True")],
)
def test_format_cell(value: object, cell: str) -> None:
    assert results.format_cell(value) == cell


def test_markdown_table() -> None:
    table = results.markdown_table(["method", "acc"], [["a", 0.5], ["b|c", None]])
    assert table.splitlines() == ["| method | acc |", "|---|---|", "| a | 0.5 |", "| b\\|c |  |"]


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [(0.12345, 3, "0.123"), (93.456, 1, "93.5"), (math.nan, 2, "nan"), (-math.inf, 3, "nan")],
)
def test_format_figure(value: float, digits: int, text: str) -> None:
    assert results.format_figure(value, digits) == text


def test_format_mean_std_and_interval() -> None:
    assert results.format_mean_std({"mean": 93.705, "std": math.nan}) == "93.70 ± nan"
    assert results.format_mean_std({"mean": 0.5, "std": 0.25}, digits=1) == "0.5 ± 0.2"
    figures = {"kendall_tau": 0.5, "kendall_tau_ci95": [0.1234, math.nan]}
    assert results.format_interval(figures, "kendall_tau") == "0.500 [0.123, nan]"


@pytest.mark.parametrize(
    ("minimize", "front"),
    [
        ((True, True), [0, 1, 4]),
        ((False, False), [2, 3]),
        ((True, False), [5]),
    ],
)
def test_pareto_front(minimize: tuple[bool, bool], front: list[int]) -> None:
    # (1, 5) and (3, 2) trade off; (3, 2) and its duplicate both stay on a minimising front;
    # a point equal to another in one objective and worse in the other is dominated.
    points = [(1.0, 5.0), (3.0, 2.0), (4.0, 6.0), (5.0, 5.0), (3.0, 2.0), (1.0, 6.0)]
    assert results.pareto_front(points, minimize) == front


@pytest.mark.parametrize(
    ("minimize", "best"),
    [(True, [math.nan, 3.0, 3.0, 1.0, 1.0]), (False, [math.nan, 3.0, 4.0, 4.0, 4.0])],
)
def test_best_so_far_skips_nan(minimize: bool, best: list[float]) -> None:
    values = [math.nan, 3.0, 4.0, 1.0, math.nan]
    np.testing.assert_array_equal(results.best_so_far(values, minimize), best)


@pytest.mark.parametrize(
    ("values", "scale"),
    [
        ([20.0, 1e3], "linear"),  # under two decades
        ([1.0, 100.0], "linear"),  # exactly two decades
        ([1.0, 100.5], "log"),
        ([2.0, 5e3], "log"),
        ([-1.0, 0.0, 5e3], "symlog"),  # magnitudes span decades, not all positive
        ([0.0, 7.0], "linear"),  # one non-zero value
        ([1.0, 5.0, np.inf, np.nan], "linear"),  # non-finite values left out
        ([-np.inf, 1.0, 5e3], "log"),
    ],
)
def test_scale_for(values: list[float], scale: str) -> None:
    assert results.scale_for(np.array(values)) == scale


def test_plots_write_png_files(tmp_path) -> None:
    x = [1.0, 10.0, 1e4, float("inf")]
    panels = [("score", "acc", x, [90.0, 91.0, 93.0, 94.0]), ("score", "empty", x, [np.nan] * 4)]
    results.plot_scatter(panels, tmp_path / "scatter.png")
    results.plot_history([5.0, 3.0, 1e4, math.nan], True, "score", tmp_path / "history.png")
    results.plot_pareto(
        [(1.0, 5.0), (3.0, 2.0), (4.0, 6.0)], (True, True), ("a", "b"), tmp_path / "pareto.png"
    )
    for name in ("scatter", "history", "pareto"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
