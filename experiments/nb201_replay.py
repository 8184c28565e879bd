"""NAS-Bench-201: searches replayed on a table of scores, for far more seeds than live searches
afford, and the pick of a search that reached each method's optimum over the whole space.

Reads the ``scores.csv`` of an ``nb201_correlation.py`` run (best over every cell: ``--archs
15625``; one initialisation and batch for the whole table) and, per method (components joined by
``+`` or ``*`` as in ``nb201_search.py``):

- replayed searches: for each of ``--budgets``, ``--replicates`` times that many distinct cells
  (one per canonical form, as a study counts them) drawn without replacement, and the method's
  pick among them: mean and std of its test accuracy, and the share of picks at or above
  TE-NAS's CIFAR-10 mean;
- the table's pick: the best cell of the whole table by the method's combined rank, and the mean
  test accuracy of its ``--top`` best cells (what a search that reached the method's optimum
  would pick if the score's order among them were noise); with the share of the table's cells
  at or above TE-NAS's CIFAR-10 mean.

``random`` (one of the drawn cells; no table's pick) and the best of the drawn cells by CIFAR-10
accuracy (oracle) come alongside. Live searches draw a new initialisation and batch per seed; a
replay shares one, so its spread is that of the sample only.

Outputs in ``--out``: ``replay.json`` and ``table.md`` (also printed).

    python experiments/nb201_replay.py runs/all15625 --budgets 100 1000 --replicates 1000 \\
        --methods naswot 'expressivity*progressivity*params' random --out runs/replay
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ntk_nas import results

try:  # run as a script (python experiments/nb201_replay.py) or imported as a module
    from experiments import nb201_search
    from experiments.nb201_correlation import (
        DEFAULT_ACC,
        join_scores,
        parse_float,
        read_accuracies,
        read_csv,
    )
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from experiments import nb201_search
    from experiments.nb201_correlation import (
        DEFAULT_ACC,
        join_scores,
        parse_float,
        read_accuracies,
        read_csv,
    )

KEYS = ("data", "arch_index", "arch_str")
ORACLE = "best of the drawn cells (oracle)"
TENAS_CIFAR10 = nb201_search.TENAS["cifar10"][0]


@dataclasses.dataclass(frozen=True)
class Table:
    """One row per canonical cell: its arch string, scores and test accuracies.

    Attributes:
      archs: ``(n,)`` arch strings (the first of each canonical form by arch index).
      scores: ``scorer -> (n,)`` float64 values (NaN where none was stored).
      accuracy: ``dataset -> (n,)`` test accuracies, per `nb201_search.DATASETS`.
    """

    archs: list[str]
    scores: dict[str, np.ndarray]
    accuracy: dict[str, np.ndarray]


def read_table(run: Path, data: str, accuracy_file: Path, join: Sequence[Path] = ()) -> Table:
    """The rows of ``run/scores.csv`` scored on `data`, one per canonical cell, with the scores
    of the runs in `join` added by cell ("nan" where one did not score it), and their test
    accuracies from `accuracy_file`."""
    from search_spaces.nb201 import NB201Space

    path = run / "scores.csv"
    if not path.exists():
        raise SystemExit(f"no scores in {run}: run nb201_correlation.py --out {run} first")
    every = read_csv(path)
    for other in join:
        names = [c for c in (every[0] if every else {}) if c not in KEYS]
        every, _ = join_scores(every, dict.fromkeys(names, ""), other)
    rows = sorted((r for r in every if r["data"] == data), key=lambda r: int(r["arch_index"]))
    if not rows:
        raise SystemExit(f"{path} has no rows scored on {data!r}")
    space, seen, kept = NB201Space(), set(), []
    for row in rows:
        canonical = space.canonical(space.from_str(row["arch_str"]))
        if canonical not in seen:
            seen.add(canonical)
            kept.append(row)
    names = [c for c in rows[0] if c not in KEYS and not c.endswith(".seconds")]
    archs = [r["arch_str"] for r in kept]
    accuracies = read_accuracies(accuracy_file)
    truth = [nb201_search.lookup(accuracies, a, accuracy_file) for a in archs]
    return Table(
        archs,
        {n: np.array([parse_float(r[n]) for r in kept]) for n in names},
        {t: np.array([e[t] for e in truth]) for t in nb201_search.DATASETS},
    )


def picks(
    table: Table,
    cells: np.ndarray,
    methods: Mapping[str, tuple[str, ...]],
    directions: Mapping[str, Any],
    rng: np.random.Generator,
) -> dict[str, int]:
    """``method -> the row it picks among `cells` ``, plus the oracle's (best CIFAR-10)."""
    chosen = {ORACLE: int(cells[np.argmax(table.accuracy["cifar10"][cells])])}
    for method, components in methods.items():
        if not components:
            chosen[method] = int(rng.choice(cells))
            continue
        chosen[method] = int(cells[ranked(table, cells, method, components, directions)[0]])
    return chosen


def ranked(
    table: Table,
    cells: np.ndarray,
    method: str,
    components: tuple[str, ...],
    directions: Mapping[str, Any],
) -> np.ndarray:
    """Positions in `cells`, best first by the method's combined rank."""
    from scorers import rank_sum

    columns = {n: table.scores[n][cells] for n in components}
    sums = rank_sum(columns, directions, log=nb201_search.uses_log_rule(method))
    return np.argsort(-np.asarray(sums), kind="stable")


def replay(
    table: Table,
    methods: Mapping[str, tuple[str, ...]],
    directions: Mapping[str, Any],
    *,
    budget: int,
    replicates: int,
    seed: int,
) -> dict[str, Any]:
    """Per method (and the oracle): the accuracies of its picks in `replicates` searches of
    `budget` cells (mean, std, and the share at or above TE-NAS's CIFAR-10 mean)."""
    rng = np.random.default_rng(seed)
    everything = np.arange(len(table.archs))
    drawn: dict[str, list[int]] = {}
    for _ in range(replicates):
        cells = rng.choice(everything, budget, replace=False)
        for method, row in picks(table, cells, methods, directions, rng).items():
            drawn.setdefault(method, []).append(row)
    report = {}
    for method, rows in drawn.items():
        accuracy = {t: table.accuracy[t][rows] for t in nb201_search.DATASETS}
        report[method] = {
            **{t: nb201_search.mean_std(a.tolist()) for t, a in accuracy.items()},
            "reaches_tenas_cifar10": float(np.mean(accuracy["cifar10"] >= TENAS_CIFAR10)),
        }
    return report


def table_picks(
    table: Table,
    methods: Mapping[str, tuple[str, ...]],
    directions: Mapping[str, Any],
    top: int = 10,
) -> dict[str, Any]:
    """Per method but ``random`` (and the oracle, by CIFAR-10 accuracy): its pick among every
    cell of the table, and the mean and std of the test accuracies of its `top` best cells."""
    everything = np.arange(len(table.archs))
    orders = {ORACLE: np.argsort(-table.accuracy["cifar10"], kind="stable")}
    for method, components in methods.items():
        if components:
            orders[method] = ranked(table, everything, method, components, directions)
    return {
        method: {
            "arch_str": table.archs[order[0]],
            **{t: float(table.accuracy[t][order[0]]) for t in nb201_search.DATASETS},
            "top": {
                "cells": top,
                **{
                    t: nb201_search.mean_std(table.accuracy[t][order[:top]].tolist())
                    for t in nb201_search.DATASETS
                },
            },
        }
        for method, order in orders.items()
    }


def share_reaching_tenas(table: Table) -> float:
    """The share of the table's cells at or above TE-NAS's CIFAR-10 mean."""
    return float(np.mean(table.accuracy["cifar10"] >= TENAS_CIFAR10))


def markdown(report: Mapping[str, Any], replicates: int) -> str:
    """Markdown: per budget, the replayed picks; then each method's pick of the whole table."""
    datasets = nb201_search.DATASETS
    blocks = [
        results.markdown_table(
            [
                f"method ({replicates} replays of {budget} cells)",
                *datasets.values(),
                f"picks >= {TENAS_CIFAR10:.2f}",
            ],
            (
                [
                    method,
                    *(results.format_mean_std(entry[t]) for t in datasets),
                    f"{entry['reaches_tenas_cifar10']:.1%}",
                ]
                for method, entry in methods.items()
            ),
        )
        for budget, methods in report["budgets"].items()
    ]
    picks = report["table_picks"]
    top = next(iter(picks.values()))["top"]["cells"]
    blocks.append(
        results.markdown_table(
            [
                "method (pick of the whole table)",
                *datasets.values(),
                f"its {top} best cells, {datasets['cifar10']}",
                "arch",
            ],
            (
                [
                    method,
                    *(f"{pick[t]:.2f}" for t in datasets),
                    results.format_mean_std(pick["top"]["cifar10"]),
                    f"`{pick['arch_str']}`",
                ]
                for method, pick in picks.items()
            ),
        )
    )
    share = report["share_reaching_tenas"]
    blocks.append(f"Cells of the table at or above {TENAS_CIFAR10:.2f} on CIFAR-10: {share:.2%}.")
    return "\n\n".join(blocks)


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="an nb201_correlation.py --out folder")
    parser.add_argument("--methods", nargs="+", required=True, help="as in nb201_search.py")
    parser.add_argument(
        "--budgets", type=int, nargs="+", default=[1000], help="cells per replayed search"
    )
    parser.add_argument("--replicates", type=int, default=1000, help="replayed searches")
    parser.add_argument("--seed", type=int, default=0, help="draws the replayed searches")
    parser.add_argument(
        "--top", type=int, default=10, help="best cells of the table per method to average"
    )
    parser.add_argument("--data", default="cifar10", help="the scores' input data (its rows)")
    parser.add_argument("--accuracies", type=Path, default=DEFAULT_ACC)
    parser.add_argument("--out", type=Path, default=Path("runs/nb201_replay"))
    parser.add_argument(
        "--join",
        type=Path,
        nargs="+",
        default=[],
        metavar="DIR",
        help="also use the scores of these nb201_correlation.py runs (same cells)",
    )
    args = parser.parse_args(argv)
    if min(args.budgets) < 1 or args.replicates < 1 or args.top < 1:
        parser.error(f"--budgets, --replicates and --top must be positive, got {args.budgets}, "
                     f"{args.replicates}, {args.top}")  # fmt: skip
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from ntk_nas.study import StudyError, resolve_scorers

    table = read_table(args.run, args.data, args.accuracies, args.join)
    for flag, cells in (("--budgets", max(args.budgets)), ("--top", args.top)):
        if cells > len(table.archs):
            raise SystemExit(f"{flag} {cells} exceeds the {len(table.archs)} cells scored")
    try:
        methods = nb201_search.parse_methods(args.methods, list(table.scores))
    except SystemExit as error:  # its --scorers are, here, the scorers of the run
        raise SystemExit(f"{error} (here: the scorers of {args.run})") from None
    used = sorted({n for components in methods.values() for n in components})
    try:
        directions = {s.name: s.direction for s in resolve_scorers(used)} if used else {}
    except (StudyError, ValueError) as error:
        raise SystemExit(f"bad scorer column: {error}") from None
    report = {
        "budgets": {
            budget: replay(
                table,
                methods,
                directions,
                budget=budget,
                replicates=args.replicates,
                seed=args.seed,
            )
            for budget in args.budgets
        },
        "table_picks": table_picks(table, methods, directions, top=args.top),
        "share_reaching_tenas": share_reaching_tenas(table),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    text = markdown(report, args.replicates)
    (args.out / "table.md").write_text(text + "\n")
    settings = {**{k: v for k, v in vars(args).items() if k != "out"}, "cells": len(table.archs)}
    (args.out / "replay.json").write_text(
        json.dumps({"settings": settings, **report}, indent=2, default=str) + "\n"
    )
    print(f"{len(table.archs)} canonical cells in {args.run}")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
