"""NAS-Bench-201: search with training-free scores and report the test accuracy of each pick.

For each seed (0 .. ``--seeds`` - 1) one Optuna study draws ``--trials`` architectures uniformly at
random (Optuna's ``RandomSampler``; every method sees the same sample) and scores each distinct
cell once with every scorer in ``--scorers`` (``ntk_nas.search``, masked supernet for the NTK
scorers). Each search method then picks one of the sampled cells:

- ``a+b+...``: the cell with the highest sum of the components' ranks among the scored cells
  (`scorers.rank_sum`: TE-NAS's combination; each score oriented by its direction, ties averaged,
  non-finite scores last; a tie in the sum goes to the earliest trial). One name is that scorer
  alone, e.g. ``ntk_cond`` or ``params``; ``ntk_cond+linear_regions`` is TE-NAS's pair.
- ``a*b*...``: the highest sum of log(rank / n) (AZ-NAS's rule: a cell ranked low by any one
  component ranks low overall).
- ``random``: one of the scored cells drawn uniformly from the seed, i.e. a uniformly random
  cell; the no-information baseline, not the benchmark's random search that trains its sample.

The pick's test accuracy on CIFAR-10, CIFAR-100 and ImageNet16-120 is looked up in the benchmark's
file (``--accuracies``). One pick serves all three datasets, and every scorer sees ``--data``
images (default: the 256 bundled CIFAR-10 test images). A method's wall time per search is the
seed's trial time less the scoring time of the scorers it does not use (sampling, bookkeeping and
building networks are charged to every method; ``naswot`` and ``linear_regions`` share a compiled
program per network and are charged together); the NTK supernet's one-time compilation falls in the
first seed a process runs.

Outputs in ``--out``: ``studies.db`` (the SQLite Optuna studies, one per seed), ``settings.json``,
``search.csv`` (one row per method and seed), ``search.json`` and ``table.md`` (also printed). A
rerun with the same ``--out`` resumes an interrupted study, keeps the rows already in
``search.csv`` and only picks for new (method, seed) pairs; settings that change the scores must be
the same.

    python experiments/nb201_search.py --trials 100 --seeds 5 --out runs/nb201_search
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ntk_nas import results

try:  # run as a script (python experiments/nb201_search.py) or imported as a module
    from experiments.nb201_correlation import DEFAULT_ACC, parse_build, read_accuracies
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from experiments.nb201_correlation import DEFAULT_ACC, parse_build, read_accuracies

DEFAULT_SCORERS = ("ntk_cond:repeats=1", "linear_regions", "naswot", "params")
DEFAULT_METHODS = (
    "ntk_cond",
    "ntk_cond+linear_regions",
    "ntk_cond+naswot",
    "ntk_cond+params",
    "ntk_cond+naswot+params",
    "naswot",
    "params",
    "naswot+params",
    "random",
)
RANDOM = "random"
DATASETS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16": "ImageNet16-120"}
#: TE-NAS's published NAS-Bench-201 test accuracy, (mean, std) per dataset: the target.
TENAS: dict[str, tuple[float, float]] = {
    "cifar10": (93.9, 0.47),
    "cifar100": (71.24, 0.56),
    "imagenet16": (42.38, 0.46),
}
#: Published results for reference rows: (mean, std) test accuracy per dataset and search cost.
PUBLISHED: dict[str, dict[str, Any]] = {
    "TE-NAS (published)": {**TENAS, "cost": "1,558 GPU-s (GTX 1080 Ti)"},
    "NASWOT, N=1000 (published)": {"cifar10": (92.96, 0.81), "cost": "306 s"},
}
TENAS_SECONDS = 1558.0
COLUMNS = (
    "method",
    "seed",
    "trials",
    "scored",
    "arch_index",
    "arch_str",
    *DATASETS,
    "rank_sum",
    "wall_s",
)


# ----------------------------------------------------------------------------- methods


def parse_methods(texts: Sequence[str], scorer_names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """``method -> its component scorer names`` (``()`` for ``random``); components are joined
    by ``+`` (sum of ranks) or ``*`` (sum of log normalised ranks, see `uses_log_rule`)."""
    methods: dict[str, tuple[str, ...]] = {}
    for text in texts:
        if text == RANDOM:
            methods[text] = ()
            continue
        if "+" in text and "*" in text:
            raise SystemExit(f"method {text!r} mixes '+' and '*'; use one rule")
        joiner = "*" if "*" in text else "+"
        parts = tuple(p.strip() for p in text.split(joiner))
        for name in parts:
            if name not in scorer_names:
                raise SystemExit(
                    f"method {text!r} uses {name!r}, which is not among --scorers "
                    f"({', '.join(scorer_names)}); add it there"
                )
        if len(set(parts)) != len(parts):
            raise SystemExit(f"method {text!r} names a scorer twice")
        methods[joiner.join(parts)] = parts
    return methods


def uses_log_rule(method: str) -> bool:
    """Whether `method` combines by AZ-NAS's rule (``a*b``: the sum of log(rank / n))."""
    return "*" in method


def population(study: Any, names: Sequence[str]) -> list[dict[str, Any]]:
    """The distinct cells a seed's study scored, in trial order: the first trial of each
    canonical form, with its figures (``arch``, ``trial``, each scorer's value and seconds)."""
    from ntk_nas.study import ARCH, CANONICAL, FIGURES

    cells: dict[str, dict[str, Any]] = {}
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        if FIGURES not in trial.user_attrs or trial.user_attrs[CANONICAL] in cells:
            continue
        figures = trial.user_attrs[FIGURES]
        cells[trial.user_attrs[CANONICAL]] = {
            "trial": trial.number,
            "arch": trial.user_attrs[ARCH],
            **{n: float(figures[n]) for n in names},
            **{f"{n}.seconds": float(figures.get(f"{n}.seconds", 0.0)) for n in names},
        }
    return list(cells.values())


def trial_seconds(study: Any) -> float:
    """Total duration of the study's scored trials (those that count towards the budget)."""
    from ntk_nas.study import scored_trials

    return sum(
        t.duration.total_seconds()
        for t in scored_trials(study.get_trials(deepcopy=False))
        if t.duration is not None
    )


def pick(
    cells: Sequence[Mapping[str, Any]],
    components: Sequence[str],
    directions: Mapping[str, Any],
    *,
    seed: int,
    log: bool = False,
) -> tuple[int, float]:
    """The index of the method's pick among `cells` and its combined score (NaN for random):
    the sum of ranks, or with `log` the sum of log(rank / n) (`scorers.rank_sum`).

    Ties go to the earliest cell; ``random`` draws from ``seed``.
    """
    from scorers import rank_sum

    if not components:
        return int(np.random.default_rng(seed).integers(len(cells))), math.nan
    sums = rank_sum({n: [c[n] for c in cells] for n in components}, directions, log=log)
    best = int(np.argmax(sums))
    return best, float(sums[best])


def shared_work(scorer_list: Sequence[Any]) -> list[set[str]]:
    """Groups of scorers that share one compiled program per network: ``naswot`` and
    ``linear_regions`` read the same ReLU codes, so whichever runs first on a cell pays the
    compilation. A method that uses one member is charged for the whole group."""
    import scorers

    codes = {s.name for s in scorer_list if isinstance(s, scorers.NASWOT | scorers.LinearRegions)}
    return [codes] if codes else []


def wall_seconds(
    cells: Sequence[Mapping[str, Any]],
    total: float,
    names: Sequence[str],
    used: Sequence[str],
    shared: Sequence[set[str]] = (),
) -> float:
    """The seed's trial time `total` less the scoring time of the scorers a method does not use
    (nor shares work with, see `shared_work`)."""
    charged = set(used).union(*(group for group in shared if group & set(used)))
    unused = [n for n in names if n not in charged]
    return total - sum(c[f"{n}.seconds"] for c in cells for n in unused)


def lookup(accuracies: Mapping[str, Mapping[str, Any]], arch: str, path: Path) -> Mapping[str, Any]:
    """The ground-truth entry of `arch`, or SystemExit naming the file."""
    if arch not in accuracies:
        raise SystemExit(
            f"{arch} is not in {path} ({len(accuracies)} rows); the accuracy file must cover every "
            "cell the search can sample (all 15,625 NAS-Bench-201 cells)"
        )
    return accuracies[arch]


# ----------------------------------------------------------------------------- search


def run_seed(args: argparse.Namespace, seed: int) -> Any:
    """Runs (or resumes) the seed's study up to ``--trials`` scored trials; returns the study."""
    import optuna

    import ntk_nas
    from ntk_nas.study import finished_trials

    name, storage = f"seed{seed}", f"sqlite:///{args.out / 'studies.db'}"
    try:
        done = finished_trials(optuna.load_study(study_name=name, storage=storage))
    except KeyError:
        done = 0
    # A resumed study draws on from a new stream instead of repeating its first draws.
    stream = int(np.random.SeedSequence([seed, done]).generate_state(1)[0])
    return ntk_nas.search(
        "nb201",
        list(args.scorers),
        data=args.data,
        n_trials=args.trials,
        storage=storage,
        study_name=name,
        seed=seed,
        batch_size=args.batch_size,
        build_options=args.build_options,
        sampler=optuna.samplers.RandomSampler(seed=stream),
        show_progress=not args.quiet,
        supernet=not args.standalone,
    )


def seed_rows(
    args: argparse.Namespace,
    seed: int,
    methods: Mapping[str, tuple[str, ...]],
    accuracies: Mapping[str, Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Searches with `seed` and returns one row per method, and the seed's facts."""
    from ntk_nas.study import resolve_scorers

    scorer_list = resolve_scorers(list(args.scorers))
    names = [s.name for s in scorer_list]
    directions = {s.name: s.direction for s in scorer_list}
    shared = shared_work(scorer_list)
    study = run_seed(args, seed)
    cells = population(study, names)
    total = trial_seconds(study)
    truth = [lookup(accuracies, c["arch"], args.accuracies) for c in cells]
    rows = []
    for method, components in methods.items():
        index, score = pick(cells, components, directions, seed=seed, log=uses_log_rule(method))
        rows.append(
            {
                "method": method,
                "seed": seed,
                "trials": args.trials,
                "scored": len(cells),
                "arch_index": truth[index]["arch_index"],
                "arch_str": cells[index]["arch"],
                **{t: truth[index][t] for t in DATASETS},
                "rank_sum": score,
                "wall_s": wall_seconds(cells, total, names, components, shared),
            }
        )
    facts = {
        "seed": seed,
        "trials": args.trials,
        "scored": len(cells),
        "non_finite": {n: sum(not math.isfinite(c[n]) for c in cells) for n in names},
        "search_s": total,
        "scoring_s": {n: sum(c[f"{n}.seconds"] for c in cells) for n in names},
        "best_sampled": {t: max(e[t] for e in truth) for t in DATASETS},
    }
    return rows, facts


# ----------------------------------------------------------------------------- report


def read_rows(path: Path, columns: Sequence[str] = COLUMNS) -> list[dict[str, Any]]:
    """The rows of a results CSV with `columns` (none if it does not exist yet)."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != tuple(columns):
            raise SystemExit(f"{path} has columns {reader.fieldnames}, expected {list(columns)}")
        return [_typed(r) for r in reader]


def _typed(row: Mapping[str, str]) -> dict[str, Any]:
    ints = ("seed", "trials", "scored", "arch_index")
    strings = ("method", "arch_str", "op")
    return {k: v if k in strings else int(v) if k in ints else float(v) for k, v in row.items()}


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """Mean and standard deviation (``ddof=0``, as NAS-Bench-201 papers report) over seeds."""
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()), "std": float(array.std()), "n": len(array)}


def summarise(
    rows: Sequence[Mapping[str, Any]],
    methods: Mapping[str, tuple[str, ...]],
    seeds: Sequence[Mapping[str, Any]],
    accuracies: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """Per method: mean and std over seeds of each dataset's accuracy and of the wall time,
    whether it meets the TE-NAS target; and the reference rows."""
    summary: dict[str, Any] = {"methods": {}, "references": {}}
    for method, components in methods.items():
        mine = [r for r in rows if r["method"] == method]
        entry: dict[str, Any] = {t: mean_std([r[t] for r in mine]) for t in DATASETS}
        entry["wall_s"] = mean_std([r["wall_s"] for r in mine])
        entry["components"] = list(components)
        entry["meets_tenas"] = bool(
            all(entry[t]["mean"] >= TENAS[t][0] for t in DATASETS)
            and entry["wall_s"]["mean"] < TENAS_SECONDS
        )
        summary["methods"][method] = entry
    if seeds:
        summary["references"]["best_sampled"] = {
            t: mean_std([s["best_sampled"][t] for s in seeds]) for t in DATASETS
        }
    summary["references"]["optimum"] = {t: max(e[t] for e in accuracies.values()) for t in DATASETS}
    return summary


def table(summary: Mapping[str, Any], trials: int | None = None) -> str:
    """Markdown: method | accuracy per dataset (mean +- std over seeds) | wall s per search;
    with `trials`, the best of the sampled cells (a sampling search's oracle)."""
    rows = [
        [method, *(results.format_mean_std(entry[t]) for t in (*DATASETS, "wall_s"))]
        for method, entry in summary["methods"].items()
    ]
    if trials is not None:
        best = summary["references"]["best_sampled"]
        rows.append(
            [f"best of the {trials} sampled (oracle)"]
            + [results.format_mean_std(best[t]) for t in DATASETS]
            + ["-"]
        )
    optimum = summary["references"]["optimum"]
    rows.append(["NAS-Bench-201 optimum", *(f"{optimum[t]:.2f}" for t in DATASETS), "-"])
    for name, published in PUBLISHED.items():
        values = [
            f"{published[t][0]:.2f} ± {published[t][1]:.2f}" if t in published else "-"
            for t in DATASETS
        ]
        rows.append([name, *values, published["cost"]])
    return results.markdown_table(["method", *DATASETS.values(), "wall s per search"], rows)


def verdicts(summary: Mapping[str, Any]) -> list[str]:
    """One line per method: does it reach TE-NAS's accuracies in less than 1,558 s?"""
    lines = []
    for method, entry in summary["methods"].items():
        gaps = ", ".join(f"{DATASETS[t]} {entry[t]['mean'] - TENAS[t][0]:+.2f}" for t in DATASETS)
        lines.append(
            f"{method}: {'meets' if entry['meets_tenas'] else 'misses'} the TE-NAS target "
            f"(mean minus TE-NAS: {gaps}; {entry['wall_s']['mean']:.0f} s vs 1,558 GPU-s)"
        )
    return lines


# ----------------------------------------------------------------------------- main


def add_search_arguments(
    parser: argparse.ArgumentParser,
    *,
    scorers: Sequence[str],
    methods: Sequence[str],
    out: Path,
    scorers_help: str,
    methods_help: str = "",
) -> None:
    """The options a NAS-Bench-201 search experiment shares: seeds, scorers, methods, network
    size, batch, data, ground truth and output folder."""
    parser.add_argument("--seeds", type=int, default=5, help="searches with seeds 0..S-1")
    parser.add_argument("--scorers", nargs="+", default=list(scorers), help=scorers_help)
    parser.add_argument(
        "--methods",
        nargs="+",
        default=list(methods),
        help="search methods: scorer names joined by '+' (sum of ranks, TE-NAS) or '*' (sum of "
        "log normalised ranks, AZ-NAS)" + methods_help,
    )
    parser.add_argument("--build", action="append", default=[], help="e.g. C=8 or C=16,N=5")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--data", default="cifar10", help="an ntk-nas --data spec")
    parser.add_argument("--accuracies", type=Path, default=DEFAULT_ACC)
    parser.add_argument("--out", type=Path, default=out)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100, help="budget: sampled cells per search")
    add_search_arguments(
        parser,
        scorers=DEFAULT_SCORERS,
        methods=DEFAULT_METHODS,
        out=Path("runs/nb201_search"),
        scorers_help="registry scorers every trial is scored with, NAME or NAME:key=value,...",
        methods_help=", or 'random'",
    )
    parser.add_argument(
        "--standalone",
        action="store_true",
        help="build and compile each network instead of scoring in the masked supernet",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.trials < 1 or args.seeds < 1:
        parser.error("--trials and --seeds must be positive")
    args.build_options = parse_build(args.build)
    return args


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """What the studies' scores depend on; a rerun in the same --out must match."""
    return {
        "space": "nb201",
        "trials": args.trials,
        "scorers": list(args.scorers),
        "build": args.build_options,
        "batch_size": args.batch_size,
        "data": args.data,
        "supernet": not args.standalone,
        "sampler": "optuna RandomSampler",
    }


def check_settings(out: Path, wanted: dict[str, Any]) -> None:
    path = out / "settings.json"
    if path.exists():
        found = json.loads(path.read_text())
        if found != wanted:
            changed = sorted(k for k in {*found, *wanted} if found.get(k) != wanted.get(k))
            raise SystemExit(
                f"{path} was written with other settings ({', '.join(changed)}: "
                f"{[found.get(k) for k in changed]} here {[wanted.get(k) for k in changed]}); "
                "use another --out"
            )
    else:
        path.write_text(json.dumps(wanted, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import optuna

    from ntk_nas.study import StudyError, resolve_scorers

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are in the results
    try:
        scorer_names = [s.name for s in resolve_scorers(list(args.scorers))]
    except (StudyError, ValueError) as error:
        raise SystemExit(f"bad --scorers: {error}") from None
    methods = parse_methods(args.methods, scorer_names)
    accuracies = read_accuracies(args.accuracies)
    args.out.mkdir(parents=True, exist_ok=True)
    check_settings(args.out, settings(args))
    path = args.out / "search.csv"
    rows = read_rows(path)
    start = time.perf_counter()
    seeds = []
    for seed in range(args.seeds):
        done = {r["method"] for r in rows if r["seed"] == seed}
        todo = {m: c for m, c in methods.items() if m not in done}
        if not args.quiet:
            print(f"seed {seed}: {'searching' if todo else 'done, reading its study'}", flush=True)
        new, facts = seed_rows(args, seed, todo, accuracies)
        seeds.append(facts)
        rows += new
        write_rows(path, rows)
        if not args.quiet and new:
            picks = "; ".join(f"{r['method']} {r['cifar10']:.2f}" for r in new)
            print(
                f"seed {seed}: {facts['scored']} cells in {facts['search_s']:.0f} s; "
                f"CIFAR-10 of the picks: {picks}",
                flush=True,
            )
    wanted = [r for r in rows if r["seed"] < args.seeds and r["method"] in methods]
    summary = summarise(wanted, methods, seeds, accuracies)
    report = {
        "settings": {**settings(args), "seeds": args.seeds, "methods": methods},
        **summary,
        "published": PUBLISHED,
        "seeds": seeds,
        "rows": [{k: _json_number(v) for k, v in r.items()} for r in wanted],
        "seconds_this_run": time.perf_counter() - start,
    }
    publish(args.out / "search.json", report, summary, args.trials)
    return 0


def publish(
    path: Path, report: Mapping[str, Any], summary: Mapping[str, Any], trials: int | None = None
) -> None:
    """Writes `report` to `path` (JSON) and the `table` with the `verdicts` to ``table.md``
    beside it, and prints both."""
    text = "\n".join([table(summary, trials), "", *verdicts(summary)])
    path.write_text(json.dumps(report, indent=2) + "\n")
    path.with_name("table.md").write_text(text + "\n")
    print(text)


def _json_number(value: Any) -> Any:
    """None for a NaN (the rank sum of ``random``), which strict JSON cannot hold."""
    return None if isinstance(value, float) and math.isnan(value) else value


def write_rows(
    path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = COLUMNS
) -> None:
    """Rewrites `path` with every row (sorted by seed, method order kept), atomically."""
    ordered = sorted(rows, key=lambda r: r["seed"])
    partial = path.with_suffix(".csv.partial")
    with open(partial, "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(ordered)
    partial.replace(path)


if __name__ == "__main__":
    raise SystemExit(main())
