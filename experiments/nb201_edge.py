"""NAS-Bench-201: which op each score prefers on one edge of a cell, against the benchmark.

Takes a base cell and one of its edges, scores the five cells that differ from it on that edge
only (each op of the space there) with every seed (a new batch and initialisation each), and
compares each method's order of the five ops with the benchmark's order by test accuracy:

- the order, best first, per seed (``=`` joins ties);
- Kendall tau-b between the method's combined rank and the accuracy over the five cells, mean
  and std over the seeds;
- in how many seeds the method ranks the benchmark's best op above the base cell's own op.

Methods are scorer names joined by ``+`` (sum of ranks, TE-NAS) or ``*`` (sum of log normalised
ranks, AZ-NAS), as in ``nb201_search.py``; by default each scorer alone. The default base is the
cell with a 3x3 conv on every edge, and the default edge the cell's input to its output, where
70 of the 74 cells at or above TE-NAS's CIFAR-10 mean put a skip connection.

Outputs in ``--out``: ``edge.csv`` (every score of every cell and seed; a rerun skips the seeds
already there), ``edge.json`` and ``table.md`` (also printed).

    python experiments/nb201_edge.py --seeds 3 --scorers params meco expressivity progressivity \\
        --methods params meco 'expressivity*progressivity*params' --out runs/nb201_edge
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

try:  # run as a script (python experiments/nb201_edge.py) or imported as a module
    from experiments import nb201_search
    from experiments.nb201_correlation import parse_build, read_accuracies
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from experiments import nb201_search
    from experiments.nb201_correlation import parse_build, read_accuracies

from ntk_nas import results
from ntk_nas.stats import kendall_tau
from search_spaces.nb201 import EDGES, OPS, NB201Arch, from_str, to_str

ALL_3X3 = to_str(NB201Arch(("nor_conv_3x3",) * len(EDGES)))
DEFAULT_SCORERS = ("params", "meco", "expressivity", "progressivity", "trainability")
BENCHMARK = "benchmark"
#: The ops' names in the printed table.
LABELS = {
    "none": "none",
    "skip_connect": "skip",
    "nor_conv_1x1": "1x1",
    "nor_conv_3x3": "3x3",
    "avg_pool_3x3": "pool",
}


def parse_edge(text: str) -> int:
    """The index into `EDGES` of an edge written ``"to<-from"``, e.g. ``"3<-0"``."""
    try:
        to, source = (int(node) for node in text.split("<-"))
        return EDGES.index((to, source))
    except ValueError:
        edges = ", ".join(f"{to}<-{source}" for to, source in EDGES)
        raise SystemExit(f"bad --edge {text!r}: expected one of {edges}") from None


def variants(base: NB201Arch, edge: int) -> dict[str, str]:
    """``op -> arch string`` of the cells equal to `base` but for `edge`, one per op of `OPS`."""
    cells = {}
    for op in OPS:
        ops = list(base.ops)
        ops[edge] = op
        cells[op] = to_str(NB201Arch(tuple(ops)))
    return cells


def score_seed(args: argparse.Namespace, seed: int, cells: Mapping[str, str]) -> list[dict]:
    """One row per op: ``seed``, ``op``, ``arch_str`` and each scorer's value."""
    from ntk_nas import rank

    ranked = rank(
        "nb201",
        list(cells.values()),
        list(args.scorers),
        args.data,
        seed=seed,
        batch_size=args.batch_size,
        build_options=args.build_options,
        show_progress=False,
    )
    by_arch = {row["arch"]: row for row in ranked}
    return [
        {
            "seed": seed,
            "op": op,
            "arch_str": arch,
            **{name: float(by_arch[arch][name]) for name in args.scorer_names},
        }
        for op, arch in cells.items()
    ]


def order(values: Mapping[str, float], labels: Mapping[str, str] | None = None) -> str:
    """``"a > b = c"``: the keys (or their `labels`) by descending value, ties joined by ``=``."""
    name = (labels or {}).get
    levels = sorted(set(values.values()), reverse=True)
    return " > ".join(
        " = ".join(name(k, k) for k, v in values.items() if v == level) for level in levels
    )


def summarise(
    rows: Sequence[Mapping[str, Any]],
    methods: Mapping[str, tuple[str, ...]],
    directions: Mapping[str, str],
    accuracy: Mapping[str, float],
    base_op: str,
) -> dict[str, Any]:
    """Per method: its order of the ops in each seed, tau with `accuracy` and the seeds that
    rank the benchmark's best op above `base_op`."""
    from scorers import rank_sum

    ops = list(accuracy)
    best_op = max(ops, key=accuracy.__getitem__)
    truth = np.array([accuracy[op] for op in ops])
    seeds = sorted({row["seed"] for row in rows})
    summary: dict[str, Any] = {"best_op": best_op, "base_op": base_op, "methods": {}}
    by_seed = {seed: {row["op"]: row for row in rows if row["seed"] == seed} for seed in seeds}
    for method, components in methods.items():
        orders, taus, preferring = [], [], 0
        for value in by_seed.values():
            columns = {name: [value[op][name] for op in ops] for name in components}
            combined = rank_sum(
                columns, directions, log=nb201_search.uses_log_rule(method)
            ).tolist()
            ranks = dict(zip(ops, combined, strict=True))
            orders.append(order(ranks, LABELS))
            taus.append(kendall_tau(np.asarray(combined), truth))
            preferring += ranks[best_op] > ranks[base_op]
        summary["methods"][method] = {
            "orders": orders,
            "kendall_tau": {**nb201_search.mean_std(taus), "runs": taus},
            "prefers_best_op": preferring,
            "seeds": len(seeds),
        }
    return summary


def table(summary: Mapping[str, Any], accuracy: Mapping[str, float], target: str) -> str:
    best, base = (LABELS.get(summary[op], summary[op]) for op in ("best_op", "base_op"))
    header = (
        "method",
        "order of the ops, best first (per seed)",
        "Kendall tau with the benchmark",
        f"seeds ranking {best} above {base}",
    )
    truth = " > ".join(
        f"{LABELS.get(op, op)} ({accuracy[op]:.2f})"
        for op in sorted(accuracy, key=accuracy.get, reverse=True)
    )
    rows = [(f"{BENCHMARK} ({nb201_search.DATASETS[target]} test accuracy)", truth, "1", "-")]
    for method, found in summary["methods"].items():
        rows.append(
            (
                method,
                "; ".join(found["orders"]),
                results.format_mean_std(found["kendall_tau"], digits=2),
                f"{found['prefers_best_op']} of {found['seeds']}",
            )
        )
    return results.markdown_table(header, rows)


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    nb201_search.add_search_arguments(
        parser,
        scorers=DEFAULT_SCORERS,
        methods=(),
        out=Path("runs/nb201_edge"),
        scorers_help="registry scorers, NAME or NAME:key=value,... (default: AZ-NAS's, MeCo)",
        methods_help="; default: each scorer alone",
    )
    parser.add_argument("--base", default=ALL_3X3, help="the base cell's arch string")
    parser.add_argument("--edge", default="3<-0", help="the edge to vary, 'to<-from'")
    parser.add_argument(
        "--target",
        choices=sorted(nb201_search.DATASETS),
        default="cifar10",
        help="the benchmark accuracy to compare with",
    )
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be positive, got {args.seeds}")
    args.build_options = parse_build(args.build)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from ntk_nas.study import StudyError, resolve_scorers

    try:
        scorer_list = resolve_scorers(list(args.scorers))
        base = from_str(args.base)
    except (StudyError, ValueError) as error:
        raise SystemExit(f"bad --scorers or --base: {error}") from None
    args.scorer_names = [s.name for s in scorer_list]
    directions = {s.name: s.direction for s in scorer_list}
    methods = nb201_search.parse_methods(args.methods or args.scorer_names, args.scorer_names)
    if nb201_search.RANDOM in methods:
        raise SystemExit("'random' ranks nothing here; drop it from --methods")
    edge = parse_edge(args.edge)
    cells = variants(base, edge)
    accuracies = read_accuracies(args.accuracies)
    accuracy = {
        op: nb201_search.lookup(accuracies, arch, args.accuracies)[args.target]
        for op, arch in cells.items()
    }
    settings = {
        "space": "nb201",
        "base": to_str(base),
        "edge": args.edge,
        "scorers": list(args.scorers),
        "build": args.build_options,
        "batch_size": args.batch_size,
        "data": args.data,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    nb201_search.check_settings(args.out, settings)
    path, columns = args.out / "edge.csv", ("seed", "op", "arch_str", *args.scorer_names)
    rows = nb201_search.read_rows(path, columns)
    for seed in range(args.seeds):
        if not any(row["seed"] == seed for row in rows):
            rows += score_seed(args, seed, cells)
            nb201_search.write_rows(path, rows, columns)
    wanted = [row for row in rows if row["seed"] < args.seeds]
    summary = summarise(wanted, methods, directions, accuracy, base.ops[edge])
    report = {
        "settings": {**settings, "seeds": args.seeds, "methods": methods},
        "accuracy": {args.target: accuracy},
        **summary,
    }
    text = table(summary, accuracy, args.target)
    results.write_json(report, args.out / "edge.json")
    (args.out / "table.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
