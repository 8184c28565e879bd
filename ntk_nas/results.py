"""Result files, tables and plots of a search or ranking: CSV, JSON, PNG, text and Markdown."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

Row = dict[str, Any]

ScatterPanel = tuple[str, str, Sequence[float], Sequence[float]]
"""``(x label, y label, x, y)``: one panel of `plot_scatter`."""


def _columns(rows: Sequence[Row]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    return columns


def write_csv(rows: Sequence[Row], path: Path) -> None:
    """Writes one line per row; columns are the union of the rows' keys, in first-seen order."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=_columns(rows))
        writer.writeheader()
        writer.writerows(rows)


def write_json(payload: Any, path: Path) -> None:
    """Writes `payload` as indented JSON (non-finite floats as strings)."""
    path.write_text(json.dumps(_finite(payload), indent=2) + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def format_table(
    rows: Sequence[Row], columns: Sequence[str], limit: int = 10, *, ranked: bool = True
) -> str:
    """A plain-text table of the first `limit` rows, with a rank column if `ranked`; columns
    left-aligned, no trailing spaces."""
    shown = rows[:limit]
    cells = [["rank", *columns]] if ranked else [list(columns)]
    cells += [
        [str(i + 1)] * ranked + [format_cell(row.get(c)) for c in columns]
        for i, row in enumerate(shown)
    ]
    widths = [max(len(line[j]) for line in cells) for j in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def format_cell(value: Any) -> str:
    """A table cell: floats to 6 significant digits, None as empty."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def best_so_far(values: Sequence[float], minimize: bool) -> np.ndarray:
    """``(T,)`` running minimum of the trial values if `minimize`, else running maximum;
    NaN values are skipped (NaN only until the first number)."""
    running = np.fmin if minimize else np.fmax
    return running.accumulate(np.asarray(values, dtype=float))


def format_figure(value: float, digits: int = 3) -> str:
    """`value` to `digits` decimals, or ``nan`` where it is not finite."""
    return f"{value:.{digits}f}" if math.isfinite(value) else "nan"


def format_mean_std(figures: Mapping[str, float], digits: int = 2) -> str:
    """``mean ± std`` of figures with those keys, each by `format_figure`."""
    return f"{format_figure(figures['mean'], digits)} ± {format_figure(figures['std'], digits)}"


def format_interval(figures: Mapping[str, Any], statistic: str) -> str:
    """``value [low, high]``: one statistic of `stats.correlations`'s figures (``kendall_tau``,
    ``spearman_rho``) with its 95% interval, each by `format_figure`."""
    low, high = figures[f"{statistic}_ci95"]
    return f"{format_figure(figures[statistic])} [{format_figure(low)}, {format_figure(high)}]"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table: the header, a rule, then one line per row (cells by `format_cell`,
    with a pipe escaped so that an arch string stays in its cell)."""
    lines = [header, *([format_cell(c).replace("|", "\\|") for c in row] for row in rows)]
    text = ["| " + " | ".join(line) + " |" for line in lines]
    text.insert(1, "|" + "---|" * len(header))
    return "\n".join(text)


def plot_history(values: Sequence[float], minimize: bool, label: str, path: Path) -> None:
    """Score per trial and the best so far; the y axis scales as `scale_for` says."""
    best = best_so_far(values, minimize)
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(range(len(values)), values, "o", markersize=3, alpha=0.6, label="trial")
    axes.plot(range(len(best)), best, "-", label="best so far")
    axes.set(xlabel="trial", ylabel=label, title="Optimisation history")
    axes.set_yscale(scale_for(np.asarray(values, dtype=float)))
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def pareto_front(points: Sequence[tuple[float, float]], minimize: tuple[bool, bool]) -> list[int]:
    """Indices of the points that no other point dominates."""
    signs = [1.0 if m else -1.0 for m in minimize]
    scaled = [(signs[0] * a, signs[1] * b) for a, b in points]
    return [
        i
        for i, (a, b) in enumerate(scaled)
        if not any(c <= a and d <= b and (c < a or d < b) for c, d in scaled)
    ]


def plot_pareto(
    points: Sequence[tuple[float, float]],
    minimize: tuple[bool, bool],
    labels: tuple[str, str],
    path: Path,
) -> None:
    """All trials of a two-objective study, with the Pareto front highlighted."""
    front = sorted((points[i] for i in pareto_front(points, minimize)), key=lambda p: p[0])
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(*zip(*points, strict=True), "o", markersize=3, alpha=0.5, label="trial")
    if front:
        axes.plot(*zip(*front, strict=True), "-o", color="C3", markersize=4, label="Pareto front")
    axes.set(xlabel=labels[0], ylabel=labels[1], title="Scores of all trials")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_scatter(panels: Sequence[ScatterPanel], path: Path) -> None:
    """Side by side, one scatter plot per panel over its finite points; the x axis is
    logarithmic where the values span more than two decades (`scale_for`)."""
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (x_label, y_label, x_values, y_values) in zip(axes[0], panels, strict=True):
        x, y = np.asarray(x_values, dtype=float), np.asarray(y_values, dtype=float)
        finite = np.isfinite(x) & np.isfinite(y)
        x, y = x[finite], y[finite]
        ax.scatter(x, y, s=8, alpha=0.6)
        ax.set_xscale(scale_for(x))
        ax.set(xlabel=x_label, ylabel=y_label, title=f"n={len(x)}")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def scale_for(values: np.ndarray) -> str:
    """``log`` for finite values, all positive, spanning more than two decades (max / min
    above 100), ``symlog`` when their magnitudes do and some are not positive, else
    ``linear``; non-finite values are left out."""
    finite = values[np.isfinite(values)]
    magnitude = np.abs(finite[finite != 0])
    if len(magnitude) < 2 or magnitude.max() / magnitude.min() <= 100:
        return "linear"
    return "log" if (finite > 0).all() else "symlog"
