"""The spread over seeds of `nb201_correlation.py`'s correlations: mean and standard deviation.

Each run folder holds the ``correlation.json`` of one seed (initialisation and scoring batch),
scored on the same cells. For every target and every scorer (or rank combination) present in all
runs, prints Kendall tau and Spearman rho as mean ± std over the runs (sample std, ``ddof=1``)
with each run's value, and writes them to ``--out`` as JSON.

    python experiments/seed_spread.py runs/subset runs/seeds/s1 runs/seeds/s2 --out spread.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ntk_nas import results

STATISTICS = ("kendall_tau", "spearman_rho")


def read_report(folder: Path) -> dict[str, Any]:
    """The ``correlation.json`` of a run folder."""
    try:
        return dict(json.loads((folder / "correlation.json").read_text()))
    except (OSError, ValueError) as error:
        raise SystemExit(f"{folder}: cannot read its correlation.json ({error})") from None


def spread(reports: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{target: {scorer: {statistic: {"mean", "std", "runs"}, "n": [...]}}}`` over the targets
    and scorers every report has with at least one cell scored (a run on CIFAR-10 inputs only
    has no CIFAR-100 rows); a target with no such scorer is left out."""
    targets = set.intersection(*(set(r["targets"]) for r in reports))
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for target in sorted(targets):
        per_run = [r["targets"][target]["scorers"] for r in reports]
        names = [
            n for n in per_run[0] if all(scorers.get(n, {}).get("n", 0) > 0 for scorers in per_run)
        ]
        if not names:
            continue
        found[target] = {}
        for name in names:
            figures: dict[str, Any] = {"n": [run[name]["n"] for run in per_run]}
            for statistic in STATISTICS:
                values = np.array([run[name][statistic] for run in per_run], np.float64)
                figures[statistic] = {
                    "mean": float(values.mean()),
                    "std": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
                    "runs": values.tolist(),
                }
            found[target][name] = figures
    return found


def table(found: Mapping[str, Mapping[str, Mapping[str, Any]]], runs: int) -> str:
    """A markdown table: one row per target and scorer, mean ± std of each statistic."""
    header = ["target", "scorer", "n", f"Kendall tau (mean ± std, {runs} seeds)", "Spearman rho"]
    return results.markdown_table(
        header,
        (
            [target, name, "/".join(map(str, sorted(set(figures["n"]))))]
            + [results.format_mean_std(figures[s], digits=3) for s in STATISTICS]
            for target, scorers in found.items()
            for name, figures in scorers.items()
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders, one per seed")
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the figures")
    args = parser.parse_args(argv)
    found = spread([read_report(folder) for folder in args.runs])
    if args.out is not None:
        args.out.write_text(
            json.dumps({"runs": [str(r) for r in args.runs], "targets": found}, indent=2)
        )
    print(table(found, len(args.runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
