"""How well do training-free scores rank architectures by a measured target (accuracy, ...)?

`correlate` scores the architectures listed in a table (a CSV with one architecture per row and
one or more measured targets, e.g. NAS-Bench-201's test accuracies, or your own trained runs) and
reports, per scorer and target, Kendall's tau-b and Spearman's rho with bootstrap 95% intervals
and the top-10% precision (`ntk_nas.stats`). Scores are oriented so that a positive correlation
means the score predicts the target (a minimised score such as ``ntk_cond`` is negated). With
several scorers, their rank sum (TE-NAS's combination, `scorers.rank_sum`) is reported too.

The scores are kept in a CSV as they come, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

import scorers as scorer_registry
from ntk_nas import results, stats, study
from ntk_nas.data import Dataset, load_dataset
from ntk_nas.study import Batch, Figures, StudyError, Supernet
from scorers import Scorer
from search_spaces import SearchSpace, SearchSpaceError

Report = dict[str, dict[str, dict[str, Any]]]
"""``{target: {score: stats.correlations(...)}}``."""

SCORED_AS = "scored_as"
"""The column of `ScoreLog`'s file that holds the arch string each row was scored as
(`study.score_key`)."""

ARCH_COLUMN = "arch"
"""The default column of the architecture strings (as in `ntk-nas search`'s results.csv)."""


@dataclasses.dataclass(frozen=True)
class Table:
    """Architectures and their measured targets.

    Attributes:
      archs: K architecture strings, in the file's order.
      targets: each target column's K values (NaN where a cell is not a number).
    """

    archs: list[str]
    targets: dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Correlation:
    """What `correlate` measured.

    Attributes:
      rows: one per row of the table, in its order: the arch, its canonical form, every figure of
        the scorers (values, seconds, ...) and the targets.
      report: each oriented score's statistics against each target.
    """

    rows: list[dict[str, Any]]
    report: Report


def correlate(
    space: str | SearchSpace,
    table: Table,
    scorers: str | Scorer | Sequence[str | Scorer],
    data: str | Dataset | Batch = "cifar10",
    *,
    out: Path | None = None,
    seed: int = 0,
    batch_size: int = 64,
    class_balanced: bool = False,
    build_options: Mapping[str, Any] | None = None,
    supernet: Supernet = "auto",
    resamples: int = 1000,
    show_progress: bool = True,
) -> Correlation:
    """Scores the architectures of `table` (see `study.rank` for the scoring options) and
    correlates each score with each target.

    With `out`, the scores are appended to ``out/scores.csv`` as they come, so the same call
    resumes after an interruption (a folder with other settings is refused), and the results go
    to ``out/rows.csv``, ``out/correlation.json`` and ``out/scatter_<scorer>.png`` (the raw
    score against each target).

    Raises:
      StudyError: bad input, such as an arch string that does not parse (naming its row).
    """
    chosen = study.resolve_scorers(scorers)
    if resamples < 1:
        raise StudyError(f"resamples must be a positive integer, got {resamples}")
    _check_target_names(table, chosen)
    dataset = load_dataset(data, seed=seed) if isinstance(data, str) else data
    batch, _ = study.resolve_batch(dataset, batch_size, seed, class_balanced=class_balanced)
    resolved = study.resolve_space(space, batch)
    archs = [_parse(resolved, text, row) for row, text in enumerate(table.archs, start=1)]
    settings = {
        "space": resolved.name,
        "scorers": [repr(s) for s in chosen],
        "data": data if isinstance(data, str) else "given in Python",
        "seed": seed,
        "batch_size": batch_size,
        "class_balanced": class_balanced,
        "build_options": dict(build_options or {}),
    }
    if out is not None:
        check_settings(out, settings)
    scored = study.rank(
        resolved,
        archs,
        chosen,
        dataset,
        seed=seed,
        batch_size=batch_size,
        class_balanced=class_balanced,
        build_options=build_options,
        supernet=supernet,
        show_progress=show_progress,
        known=None if out is None else read_scores(out / "scores.csv"),
        on_scored=None if out is None else ScoreLog(out / "scores.csv"),
    )
    by_arch = {row[study.ARCH]: row for row in scored}
    rows = [
        {
            **by_arch[resolved.to_str(arch)],
            study.ARCH: text,
            **{name: float(values[i]) for name, values in table.targets.items()},
        }
        for i, (arch, text) in enumerate(zip(archs, table.archs, strict=True))
    ]
    report = correlations(
        oriented_scores(rows, chosen),
        table,
        resamples=resamples,
        seed=seed,
        show_progress=show_progress,
    )
    if out is not None:
        results.write_csv(rows, out / "rows.csv")
        results.write_json({"settings": settings, "report": report}, out / "correlation.json")
        for scorer in chosen:
            panels = [
                (scorer.name, target, [r[scorer.name] for r in rows], list(values))
                for target, values in table.targets.items()
            ]
            results.plot_scatter(panels, out / f"scatter_{scorer.name}.png")
    return Correlation(rows, report)


def _parse(space: SearchSpace, text: str, row: int) -> Any:
    try:
        return space.from_str(text)
    except SearchSpaceError as error:
        raise StudyError(f"row {row} of the table: {error}") from None


def _check_target_names(table: Table, chosen: Sequence[Scorer]) -> None:
    """Targets must not take the name of a column of the scores (``arch``, ``params``, ...)."""
    taken = {study.ARCH, study.CANONICAL, *(s.name for s in chosen)}
    for target in table.targets:
        if target in taken or target.partition(".")[0] in taken:
            raise StudyError(
                f"target column {target!r} has the name of a column of the scores; rename it"
            )


def read_table(path: Path, targets: Sequence[str], arch_column: str = ARCH_COLUMN) -> Table:
    """The architectures and `targets` columns of the CSV file at `path`.

    Raises:
      StudyError: the file cannot be read, lacks a named column (the message lists those it
        has), names no target or lists no architecture.
    """
    if not targets:
        raise StudyError("name at least one target column (the measured accuracy, e.g.)")
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = list(reader.fieldnames or [])
    except OSError as error:
        raise StudyError(f"cannot read table {path}: {error.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as error:
        raise StudyError(f"table {path} is not a CSV file: {error}") from None
    missing = [c for c in (arch_column, *targets) if c not in columns]
    if missing:
        raise StudyError(
            f"table {path} lacks the column(s) {', '.join(map(repr, missing))}; its columns: "
            f"{', '.join(columns) or 'none'}"
        )
    if not rows:
        raise StudyError(f"table {path} lists no architectures")
    return Table(
        archs=[row[arch_column].strip() for row in rows],
        targets={t: np.array([_number(row[t]) for row in rows]) for t in targets},
    )


def _number(text: str | None) -> float:
    try:
        return float(text or "nan")
    except ValueError:
        return math.nan


def sample(table: Table, count: int | None, seed: int) -> Table:
    """`count` rows of `table` drawn without replacement from `seed`, in the table's order (all
    rows when `count` is None or at least their number)."""
    if count is None or count >= len(table.archs):
        return table
    if count < 1:
        raise StudyError(f"the sample must hold at least one architecture, got {count}")
    chosen = np.sort(np.random.default_rng(seed).choice(len(table.archs), count, replace=False))
    return Table(
        archs=[table.archs[i] for i in chosen],
        targets={name: values[chosen] for name, values in table.targets.items()},
    )


def read_scores(path: Path) -> dict[str, Figures]:
    """The figures kept by `ScoreLog` in `path`, by `study.score_key` (none if absent)."""
    if not path.exists():
        return {}
    with path.open(newline="") as handle:
        return {
            row[SCORED_AS]: {k: _number(v) for k, v in row.items() if k != SCORED_AS}
            for row in csv.DictReader(handle)
        }


class ScoreLog:
    """Appends scored figures to a CSV file as they come (`study.rank`'s ``on_scored``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, scored: dict[str, Figures]) -> None:
        rows = [{SCORED_AS: key, **figures} for key, figures in scored.items()]
        if not rows:
            return
        fresh = not self.path.exists()
        columns = list(rows[0]) if fresh else _header(self.path)
        with self.path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            if fresh:
                writer.writeheader()
            writer.writerows(rows)


def _header(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return next(csv.reader(handle))


def check_settings(folder: Path, settings: Mapping[str, Any]) -> None:
    """Records `settings` in ``folder/settings.json``, or checks them against those recorded.

    Raises:
      StudyError: the folder holds scores made with other settings.
    """
    path = folder / "settings.json"
    if path.exists():
        recorded = json.loads(path.read_text())
        changed = sorted(k for k in {*recorded, *settings} if recorded.get(k) != settings.get(k))
        if changed:
            raise StudyError(
                f"{folder} holds scores made with other settings ({', '.join(changed)}); "
                "use another output folder"
            )
        return
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(settings), indent=2) + "\n")


def oriented_scores(
    rows: Sequence[Mapping[str, Any]], chosen: Sequence[Scorer]
) -> dict[str, np.ndarray]:
    """Each scorer's values over `rows`, negated when minimised (so higher predicts better), and
    their rank sum when there are several (non-finite scores rank last)."""
    oriented = {}
    for scorer in chosen:
        values = np.array([float(row[scorer.name]) for row in rows])
        oriented[scorer.name] = -values if scorer.direction == "minimize" else values
    if len(chosen) > 1:
        oriented["+".join(oriented)] = scorer_registry.rank_sum(
            dict(oriented), dict.fromkeys(oriented, "maximize")
        )
    return oriented


def correlations(
    oriented: Mapping[str, np.ndarray],
    table: Table,
    *,
    resamples: int = 1000,
    seed: int = 0,
    show_progress: bool = False,
) -> Report:
    """``{target: {score: stats.correlations(...)}}`` of each oriented score with each target,
    with a progress bar over the pairs if `show_progress` (the bootstrap takes about 24 s per
    pair over 15,625 architectures on one CPU core)."""
    pairs = [(target, name) for target in table.targets for name in oriented]
    report: Report = {target: {} for target in table.targets}
    for target, name in tqdm(pairs, desc="correlations", disable=not show_progress):
        report[target][name] = stats.correlations(
            oriented[name], table.targets[target], resamples=resamples, seed=seed
        )
    return report


def format_report(report: Report) -> str:
    """A plain-text table: one line per target and score."""
    header = ["target", "score", "n", "Kendall tau [95% CI]", "Spearman rho [95% CI]", "top-10%"]
    rows = [
        dict(
            zip(
                header,
                [
                    target,
                    name,
                    c["n"],
                    results.format_interval(c, "kendall_tau"),
                    results.format_interval(c, "spearman_rho"),
                    results.format_figure(c["top10_precision"]),
                ],
                strict=True,
            )
        )
        for target, by_score in report.items()
        for name, c in by_score.items()
    ]
    return results.format_table(rows, header, len(rows), ranked=False)
