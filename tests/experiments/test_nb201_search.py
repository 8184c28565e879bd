"""End to end: experiments/nb201_search.py on a tiny slice (tiny network and batch, 2 seeds)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import optuna
import pytest
import scipy.stats

from experiments import nb201_search as exp

SCORERS = ["ntk_cond:repeats=1", "naswot", "linear_regions", "params"]
DIRECTIONS = {"ntk_cond": "minimize", "naswot": "maximize", "linear_regions": "maximize",
              "params": "maximize"}  # fmt: skip
METHODS = ["ntk_cond", "ntk_cond+linear_regions", "ntk_cond+naswot+params", "params", "random"]
TRIALS = 3  # the budget per search


def run(accuracies: Path, out: Path, *extra: str) -> int:
    return exp.main(
        [
            "--trials", str(TRIALS), "--seeds", "2", "--build", "C=4,N=1", "--batch-size", "4",
            "--scorers", *SCORERS, "--accuracies", str(accuracies), "--out", str(out), "--quiet",
            *extra,
        ]
    )  # fmt: skip


def read(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def scored_cells(out: Path, seed: int) -> list[dict]:
    """The first trial of each canonical cell in the seed's study, in trial order."""
    study = optuna.load_study(study_name=f"seed{seed}", storage=f"sqlite:///{out / 'studies.db'}")
    trials = [t for t in study.get_trials() if "figures" in t.user_attrs]
    assert len(trials) == TRIALS  # the budget
    cells: dict[str, dict] = {}
    for t in sorted(trials, key=lambda t: t.number):
        cells.setdefault(t.user_attrs["canonical_arch"],
                         {"arch": t.user_attrs["arch"], **t.user_attrs["figures"]})  # fmt: skip
    return list(cells.values())


def expected_pick(cells: list[dict], components: list[str]) -> str:
    total = np.zeros(len(cells))
    for name in components:
        values = np.array([c[name] for c in cells], dtype=float)
        oriented = -values if DIRECTIONS[name] == "minimize" else values
        total += scipy.stats.rankdata(np.where(np.isfinite(oriented), oriented, -np.inf))
    return cells[int(np.argmax(total))]["arch"]  # the earliest of tied sums


def test_search_picks_by_rank_sum_reports_and_resumes(
    accuracies: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert run(accuracies, out, "--methods", *METHODS) == 0
    printed = capsys.readouterr().out
    rows = read(out / "search.csv")
    assert [(r["method"], r["seed"]) for r in rows] == [
        (m, str(s)) for s in (0, 1) for m in METHODS
    ]
    truth = {r["arch_str"]: r for r in read(accuracies)}
    report = json.loads((out / "search.json").read_text())
    for seed in (0, 1):
        cells = scored_cells(out, seed)
        mine = {r["method"]: r for r in rows if r["seed"] == str(seed)}
        for method in METHODS[:-1]:
            assert mine[method]["arch_str"] == expected_pick(cells, method.split("+")), method
        assert mine["random"]["arch_str"] in {c["arch"] for c in cells}
        assert mine["random"]["rank_sum"] == "nan"
        for r in mine.values():
            assert int(r["scored"]) == len(cells) and r["trials"] == str(TRIALS)
            entry = truth[r["arch_str"]]
            assert r["arch_index"] == entry["arch_index"]
            assert float(r["cifar10"]) == float(entry["cifar10_test_acc"])
            assert float(r["imagenet16"]) == float(entry["imagenet16_test_acc"])
        # The wall time drops the scorers a method does not use: random pays only bookkeeping.
        walls = {m: float(r["wall_s"]) for m, r in mine.items()}
        assert 0 < walls["random"] <= walls["params"] <= walls["ntk_cond+naswot+params"]
        assert walls["ntk_cond"] <= walls["ntk_cond+linear_regions"]
        facts = report["seeds"][seed]
        assert facts["scored"] == len(cells)
        assert walls["ntk_cond+naswot+params"] == pytest.approx(facts["search_s"])
        best = max(float(truth[c["arch"]]["cifar100_test_acc"]) for c in cells)
        assert facts["best_sampled"]["cifar100"] == pytest.approx(best)

    for method in METHODS:
        c10 = [float(r["cifar10"]) for r in rows if r["method"] == method]
        stat = report["methods"][method]["cifar10"]
        assert stat["mean"] == pytest.approx(np.mean(c10)) and stat["n"] == 2
        assert stat["std"] == pytest.approx(np.std(c10))
        assert report["methods"][method]["meets_tenas"] is False  # synthetic accuracies < 93.9
        assert f"| {method} | {stat['mean']:.2f} ± {stat['std']:.2f} |" in printed
    optimum = max(float(r["cifar10_test_acc"]) for r in truth.values())
    assert report["references"]["optimum"]["cifar10"] == optimum
    table = (out / "table.md").read_text()
    for line in (f"| best of the {TRIALS} sampled (oracle) |",
                 f"| NAS-Bench-201 optimum | {optimum:.2f}",
                 "| TE-NAS (published) | 93.90 ± 0.47 | 71.24 ± 0.56 | 42.38 ± 0.46 | 1,558",
                 "| NASWOT, N=1000 (published) | 92.96 ± 0.81 | - | - | 306 s |"):  # fmt: skip
        assert line in table and line in printed
    assert "ntk_cond: misses the TE-NAS target" in table

    # Resume: a lost row and a new method are picked from the studies; nothing is scored again.
    before = (out / "studies.db").stat().st_mtime_ns
    (out / "search.csv").write_text("".join((out / "search.csv").read_text().splitlines(True)[:-1]))
    assert run(accuracies, out, "--methods", *METHODS, "naswot") == 0
    again = read(out / "search.csv")
    assert len(again) == 12
    assert [r for r in again if r["method"] != "naswot"] == rows
    assert (out / "studies.db").stat().st_mtime_ns == before
    for seed in (0, 1):
        (naswot,) = [r for r in again if r["method"] == "naswot" and r["seed"] == str(seed)]
        assert naswot["arch_str"] == expected_pick(scored_cells(out, seed), ["naswot"])

    with pytest.raises(SystemExit, match=r"other settings \(batch_size"):
        run(accuracies, out, "--batch-size", "8")


def test_bad_methods_and_missing_ground_truth_say_why(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="'naswot', which is not among --scorers"):
        exp.parse_methods(["ntk_cond+naswot"], ["ntk_cond", "params"])
    with pytest.raises(SystemExit, match="twice"):
        exp.parse_methods(["params+params"], ["params"])
    with pytest.raises(SystemExit, match="mixes"):
        exp.parse_methods(["params+ntk_cond*naswot"], ["ntk_cond", "params", "naswot"])
    found = exp.parse_methods(
        ["random", "params+ntk_cond", "params*ntk_cond"], ["ntk_cond", "params"]
    )
    assert found == {
        "random": (),
        "params+ntk_cond": ("params", "ntk_cond"),
        "params*ntk_cond": ("params", "ntk_cond"),
    }
    assert [exp.uses_log_rule(m) for m in found] == [False, False, True]
    arch = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    with pytest.raises(SystemExit, match=r"\|none~2\| is not in .*acc.csv \(1 rows\)"):
        exp.lookup({"other": {}}, arch, tmp_path / "acc.csv")


def test_wall_time_charges_shared_work() -> None:
    cells = [{"a.seconds": 1.0, "b.seconds": 2.0, "c.seconds": 4.0}] * 2
    names = ["a", "b", "c"]
    assert exp.wall_seconds(cells, 20.0, names, ["a"]) == 20 - 2 * (2 + 4)
    assert exp.wall_seconds(cells, 20.0, names, ["a"], [{"a", "b"}]) == 20 - 2 * 4
    assert exp.wall_seconds(cells, 20.0, names, [], [{"a", "b"}]) == 20 - 2 * 7


def test_the_log_rule_prefers_a_cell_no_component_ranks_low() -> None:
    cells = [{"a": 3.0, "b": 1.0}, {"a": 2.0, "b": 2.0}, {"a": 1.0, "b": 3.0}]
    directions = {"a": "maximize", "b": "maximize"}
    assert exp.pick(cells, ["a", "b"], directions, seed=0)[0] == 0  # rank sums tie: the earliest
    index, score = exp.pick(cells, ["a", "b"], directions, seed=0, log=True)
    assert index == 1 and score == pytest.approx(2 * np.log(2 / 3))
