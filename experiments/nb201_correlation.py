"""NAS-Bench-201: how well do training-free scores rank architectures by their trained accuracy?

Scores a reproducible sample of NAS-Bench-201 cells (``--archs K``) or the 725 cells of the
published zero-cost proxy file (``--subset``) with registry scorers, then reports, per scorer and
target dataset, Kendall's tau-b and Spearman's rho (each with a seeded bootstrap 95% interval) and
the top-10% precision against the benchmark's test accuracy. Scores are oriented so that higher
predicts better (a minimised score such as ``ntk_cond`` is negated), so a good scorer has a positive
correlation. TE-NAS's rank combination (the sum of the ranks of ``-ntk_cond`` and
``linear_regions``) and ``ntk_cond`` + ``naswot`` are reported as ``ntk_cond+linear_regions`` and
``ntk_cond+naswot`` when their scorers ran.

Targets and data: the CIFAR-10 and ImageNet16-120 targets are predicted from scores on real
CIFAR-10 images (10 classes), the CIFAR-100 target from scores on CIFAR-100 images (100 classes);
``--gaussian`` scores every target on standard-normal inputs instead (an ablation).

Network size: ``--build C=8 --build N=1`` by default (a reduced network: the benchmark's skeleton
with 8 channels and one cell per stage, so scoring takes seconds on a CPU); ``--build C=16 --build
N=5`` is the benchmark's size.

``--join DIR ...`` adds the scores of other runs over the same cells and inputs (their
``scores.csv``, scorers from their ``correlation.json``) to the analysis, so that a new scorer can
be combined with ones already scored.

Outputs in ``--out``: ``scores.csv`` (one row per data set and cell, appended as cells are scored;
a rerun with the same options skips the rows already there), ``correlation.json``, ``table.md``
(also printed) and ``scatter_<scorer>.png``.

    python experiments/nb201_correlation.py --archs 150 --out runs/nb201
    python experiments/nb201_correlation.py --subset --out runs/nb201_subset
    python experiments/nb201_correlation.py --check-params --out runs/params
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import scorers
from ntk_nas import results
from ntk_nas.data import DataError
from ntk_nas.stats import correlations

DATA_ROOT = Path("/work/shared/data")
DEFAULT_ACC = DATA_ROOT / "nb201" / "nb201_test_acc.csv"
DEFAULT_PARAMS = DATA_ROOT / "nb201" / "naswot_arch_score_acc.csv"
DEFAULT_ZC = DATA_ROOT / "nb201" / "nbsz_zc_nasbench201_partial.csv"
DEFAULT_CIFAR10 = DATA_ROOT / "cifar" / "cifar10_sample.npz"
DEFAULT_CIFAR100 = DATA_ROOT / "cifar" / "cifar100_sample.npz"

DEFAULT_SCORERS = (
    "ntk_cond:repeats=1",
    "ntk_trace:repeats=1",
    "naswot",
    "linear_regions",
    "synflow",
    "grad_norm",
    "snip",
    "jacob_cov",
    "params",
    "flops",
)
#: target -> (accuracy column of the accuracy file, dataset name in the zero-cost file)
TARGETS = {
    "cifar10": ("cifar10_test_acc", "cifar10"),
    "cifar100": ("cifar100_test_acc", "cifar100"),
    "imagenet16": ("imagenet16_test_acc", "ImageNet16-120"),
}
PUBLISHED = (
    "epe_nas",
    "fisher",
    "flops",
    "grad_norm",
    "grasp",
    "jacov",
    "l2_norm",
    "nwot",
    "params",
    "plain",
    "snip",
    "synflow",
)
#: Rank combinations reported when their scorers ran: ``(scorers, log)``, named by joining the
#: scorers with "+" (the sum of ranks, TE-NAS's rule) or with "*" (``log``: the sum of
#: ``log(rank / n)``, AZ-NAS's rule); see `scorers.rank_sum`.
COMBINATIONS: tuple[tuple[tuple[str, ...], bool], ...] = (
    (("ntk_cond", "linear_regions"), False),
    (("ntk_cond", "naswot"), False),
    (("ntk_cond", "params"), False),
    (("ntk_cond", "naswot", "params"), False),
    # AZ-NAS's proxies, by rank and by AZ-NAS's rule, with the NTK condition number for
    # trainability; the combinations without ntk_cond were added after seeing the others.
    (("expressivity", "progressivity", "params"), False),
    (("ntk_cond", "expressivity", "progressivity", "params"), False),
    (("ntk_cond", "naswot", "expressivity", "progressivity", "params"), False),
    (("naswot", "expressivity", "progressivity", "params"), False),
    (("expressivity", "progressivity", "params"), True),
    (("ntk_cond", "naswot", "expressivity", "progressivity", "params"), True),
    (("naswot", "expressivity", "progressivity", "params"), True),
    # AZ-NAS's four proxies (FLOPs for complexity), then with params and with naswot; chosen
    # before these were scored.
    (("expressivity", "progressivity", "trainability", "flops"), True),
    (("expressivity", "progressivity", "trainability", "params"), True),
    (("naswot", "expressivity", "progressivity", "trainability", "params"), True),
    # MeCo with params and with the AZ-NAS combinations; chosen after scoring meco alone on the
    # 725 cells, before scoring these.
    (("meco", "params"), True),
    (("meco", "expressivity", "progressivity", "params"), True),
    (("meco", "expressivity", "progressivity", "trainability", "params"), True),
    (("naswot", "meco", "expressivity", "progressivity", "trainability", "params"), True),
    # The same with the NTK condition number; fixed before it was scored.
    (
        ("ntk_cond", "naswot", "meco", "expressivity", "progressivity", "trainability", "params"),
        True,
    ),
    # SWAP with params (its regularised form's intent), with naswot and with AZ-NAS's proxies;
    # fixed before scoring the 725 cells and the whole space.
    (("swap", "params"), True),
    (("naswot", "swap", "params"), True),
    (("swap", "expressivity", "progressivity", "params"), True),
)
KEY_COLUMNS = ("data", "arch_index", "arch_str")


# ----------------------------------------------------------------------------- inputs


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_accuracies(path: Path) -> dict[str, dict[str, Any]]:
    """``arch_str -> {"arch_index": int, target: accuracy, ...}`` from the accuracy file."""
    table = {}
    for row in read_csv(path):
        entry: dict[str, Any] = {"arch_index": int(row["arch_index"])}
        entry.update({t: float(row[column]) for t, (column, _) in TARGETS.items()})
        table[row["arch_str"]] = entry
    return table


def select_archs(
    accuracies: dict[str, dict[str, Any]], *, count: int | None, subset: Path | None, seed: int
) -> list[str]:
    """`count` cells drawn without replacement from `seed`, or the cells of the zero-cost file."""
    ordered = sorted(accuracies, key=lambda a: accuracies[a]["arch_index"])
    if subset is not None:
        wanted = {row["arch_str"] for row in read_csv(subset)}
        return [a for a in ordered if a in wanted]
    if count is None or not 1 <= count <= len(ordered):
        raise SystemExit(f"--archs must be in 1..{len(ordered)}, got {count}")
    picks = np.random.default_rng(seed).choice(len(ordered), count, replace=False)
    return [ordered[i] for i in sorted(picks)]


def data_plan(args: argparse.Namespace) -> dict[str, tuple[str, list[str]]]:
    """``data name -> (--data spec, targets predicted from it)``."""
    if args.gaussian:
        return {"gaussian": ("gaussian", list(TARGETS))}
    return {
        "cifar10": (f"npz:{args.cifar10}", ["cifar10", "imagenet16"]),
        "cifar100": (f"npz:{args.cifar100}", ["cifar100"]),
    }


def parse_build(items: Sequence[str]) -> dict[str, int]:
    options = {"C": 8, "N": 1}
    for item in items:
        for part in filter(None, item.split(",")):
            key, sep, value = part.partition("=")
            if not sep:
                raise SystemExit(f"--build expects KEY=VALUE, got {part!r}")
            options[key.strip()] = int(value)
    return options


# ----------------------------------------------------------------------------- scoring


def score_all(
    args: argparse.Namespace,
    archs: list[str],
    accuracies: dict[str, dict[str, Any]],
    path: Path,
) -> list[dict[str, str]]:
    """Scores every (data, cell) not yet in `path`, `args.archs_per_call` cells per call,
    appending their rows after each call; returns all rows."""
    from tqdm.auto import tqdm

    import ntk_nas
    from ntk_nas.study import ARCH, resolve_batch, resolve_scorers

    scorer_list = resolve_scorers(list(args.scorers))
    names = [s.name for s in scorer_list]
    columns = [*KEY_COLUMNS, *names, *(f"{n}.seconds" for n in names)]
    done = _existing(path, columns)
    plan = data_plan(args)
    index, count = args.shard
    mine = archs[index::count]
    inputs = [d for d in plan if not args.inputs or d in args.inputs]
    todo = sum(1 for a in mine for d in inputs if (d, a) not in done)
    if not todo:
        return read_csv(path)
    new_file = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        if new_file:
            writer.writeheader()
            f.flush()
        batches = {}
        with tqdm(
            total=len(inputs) * len(mine),
            initial=len(inputs) * len(mine) - todo,
            desc="scoring",
            unit="arch",
        ) as bar:
            for data, chunk in _calls(mine, inputs, done, args.archs_per_call):
                if data not in batches:
                    batches[data] = resolve_batch(plan[data][0], args.batch_size, args.seed)
                batch, num_classes = batches[data]
                ranked = ntk_nas.rank(
                    "nb201",
                    chunk,
                    scorer_list,
                    data=batch,
                    seed=args.seed,
                    build_options={**args.build_options, "num_classes": num_classes},
                    show_progress=False,
                    supernet=not args.standalone,
                    archs_per_call=len(chunk),
                )
                by_arch = {row[ARCH]: row for row in ranked}
                for arch in chunk:
                    row = by_arch[arch]
                    row.update(data=data, arch_index=accuracies[arch]["arch_index"], arch_str=arch)
                    writer.writerow(row)
                f.flush()
                bar.update(len(chunk))
    return read_csv(path)


def _calls(
    archs: list[str], inputs: list[str], done: set[tuple[str, str]], per_call: int
) -> Iterator[tuple[str, list[str]]]:
    """``(data, cells)`` for each scoring call: `per_call` cells at a time in `archs`' order,
    each block on every input in turn, leaving out the (data, cell) pairs in `done`."""
    for start in range(0, len(archs), per_call):
        block = archs[start : start + per_call]
        for data in inputs:
            chunk = [a for a in block if (data, a) not in done]
            if chunk:
                yield data, chunk


def _run_scorers(out: Path) -> list[str]:
    """The ``--scorers`` of the run that wrote `out` (from its ``correlation.json``)."""
    try:
        return list(json.loads((out / "correlation.json").read_text())["settings"]["scorers"])
    except (OSError, KeyError, ValueError) as error:
        raise SystemExit(f"--join {out}: cannot read its correlation.json ({error})") from None


def join_scores(
    rows: list[dict[str, str]], directions: dict[str, str], out: Path
) -> tuple[list[dict[str, str]], dict[str, str]]:
    """`rows` with the scores of another run's `out` folder added by (data, cell), for the
    scorers `directions` lacks; a cell that run did not score gets "nan"."""
    from ntk_nas.study import resolve_scorers

    theirs = {s.name: s.direction for s in resolve_scorers(_run_scorers(out))}
    new = [name for name in theirs if name not in directions]
    scored = {(r["data"], r["arch_str"]): r for r in read_csv(out / "scores.csv")}
    joined = [
        {**r, **{n: scored.get((r["data"], r["arch_str"]), {}).get(n, "nan") for n in new}}
        for r in rows
    ]
    return joined, {**directions, **{n: theirs[n] for n in new}}


def _existing(path: Path, columns: list[str]) -> set[tuple[str, str]]:
    if not path.exists():
        return set()
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if list(reader.fieldnames or []) != columns:
            raise SystemExit(
                f"{path} has columns {reader.fieldnames}, but this run writes {columns}; "
                "use another --out or the same --scorers"
            )
        return {(row["data"], row["arch_str"]) for row in reader}


# ----------------------------------------------------------------------------- analysis


def parse_float(text: str) -> float:
    """A stored score, NaN where none could be stored (an empty or unreadable cell)."""
    try:
        return float(text)
    except ValueError:
        return float("nan")


def oriented_scores(
    rows: list[dict[str, str]], directions: dict[str, str]
) -> dict[str, np.ndarray]:
    """Each scorer's values, negated when minimised (higher predicts better), plus combinations."""
    oriented = {}
    for name, direction in directions.items():
        values = np.array([parse_float(r[name]) for r in rows])
        oriented[name] = -values if direction == "minimize" else values
    for combo, log in COMBINATIONS:
        if all(name in oriented for name in combo):
            # Non-finite scores (a degenerate kernel) rank last.
            columns = {n: oriented[n] for n in combo}
            maximized = dict.fromkeys(combo, "maximize")
            name = ("*" if log else "+").join(combo)
            oriented[name] = scorers.rank_sum(columns, maximized, log=log)
    return oriented


def analyse(
    args: argparse.Namespace,
    rows: list[dict[str, str]],
    archs: list[str],
    accuracies: dict[str, dict[str, Any]],
    directions: dict[str, str],
) -> dict[str, Any]:
    """Correlations per target and scorer (and, with --subset, of the published proxies)."""
    wanted = set(archs)
    report: dict[str, Any] = {"targets": {}}
    for data, (_, targets) in data_plan(args).items():
        by_arch: dict[str, dict[str, str]] = {}
        for r in rows:  # the first row of a cell counts (two unsharded runs may both score it)
            if r["data"] == data and r["arch_str"] in wanted:
                by_arch.setdefault(r["arch_str"], r)
        scored = [by_arch[a] for a in archs if a in by_arch]
        names = [a["arch_str"] for a in scored]
        oriented = oriented_scores(scored, directions)
        for target in targets:
            truth = np.array([accuracies[a][target] for a in names])
            report["targets"][target] = {
                "data": data,
                "scorers": {
                    name: correlations(v, truth, resamples=args.resamples, seed=args.seed)
                    for name, v in oriented.items()
                },
            }
    if args.subset:
        report["published"] = published_correlations(args, archs, accuracies)
    return report


def published_correlations(
    args: argparse.Namespace, archs: list[str], accuracies: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The published proxies' correlations with the same test accuracies on the same cells."""
    rows = read_csv(args.zero_cost)
    wanted = set(archs)
    result = {}
    for target, (_, zc_name) in TARGETS.items():
        subset = [r for r in rows if r["dataset"] == zc_name and r["arch_str"] in wanted]
        truth = np.array([accuracies[r["arch_str"]][target] for r in subset])
        result[target] = {
            proxy: correlations(
                np.array([parse_float(r[proxy]) for r in subset]),
                truth,
                resamples=args.resamples,
                seed=args.seed,
            )
            for proxy in PUBLISHED
        }
    return result


def table(report: dict[str, Any]) -> str:
    """Markdown: one row per target and scorer: n, tau and rho [95% CI], top-10% precision."""
    targets = list(report["targets"])
    header = ["target (inputs)", "scorer", "n"]
    header += ["Kendall tau [95% CI]", "Spearman rho [95% CI]", "top-10%"]
    text = results.markdown_table(
        header,
        (
            [
                f"{t} ({report['targets'][t]['data']})",
                name,
                c["n"],
                results.format_interval(c, "kendall_tau"),
                results.format_interval(c, "spearman_rho"),
                results.format_figure(c["top10_precision"]),
            ]
            for t in targets
            for name, c in report["targets"][t]["scorers"].items()
        ),
    )
    if "published" not in report:
        return text
    statistics = ("kendall_tau", "spearman_rho", "top10_precision")
    published = results.markdown_table(
        ["proxy", *(f"{t} {s}" for t in targets for s in ("tau", "rho", "top-10%"))],
        (
            [
                proxy,
                *(
                    results.format_figure(report["published"][t][proxy][s])
                    for t in targets
                    for s in statistics
                ),
            ]
            for proxy in PUBLISHED
        ),
    )
    return f"{text}\n\nPublished NAS-Bench-Suite-Zero proxies on the same cells:\n\n{published}"


def scatter_plots(
    out: Path,
    rows: list[dict[str, str]],
    archs: list[str],
    accuracies: dict[str, dict[str, Any]],
    args: argparse.Namespace,
    names: list[str],
) -> list[Path]:
    """One PNG per scorer: raw score vs test accuracy, one panel per target."""
    wanted = set(archs)
    plan = data_plan(args)
    panels = [(data, t) for data, (_, targets) in plan.items() for t in targets]
    paths = []
    for name in names:
        drawn = []
        for data, target in panels:
            unique = {r["arch_str"]: r for r in reversed(rows) if r["data"] == data}
            subset = [r for a, r in unique.items() if a in wanted]
            x = [parse_float(r[name]) for r in subset]
            y = [accuracies[r["arch_str"]][target] for r in subset]
            drawn.append((f"{name} ({data} inputs)", f"{target} test accuracy (%)", x, y))
        path = out / f"scatter_{name}.png"
        results.plot_scatter(drawn, path)
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------- parameter check


def check_params(args: argparse.Namespace) -> int:
    """Compares ``NB201Space().num_params`` (C=16, N=5, 10 classes) with ``params_mb``.

    A cell's count depends only on how many ``nor_conv_1x1`` and ``nor_conv_3x3`` edges it has (28
    classes), so by default `num_params` (``jax.eval_shape``, no initialisation) is evaluated on
    one cell per class and on ``--verify`` more random cells, checking that the class determines
    the count; ``--exhaustive`` evaluates all 15,625 cells instead (about 1 s each on a CPU).
    """
    from tqdm.auto import tqdm

    import search_spaces

    space = search_spaces.get("nb201")
    rows = read_csv(args.params_file)

    def key(arch_str: str) -> tuple[int, int]:
        ops = space.from_str(arch_str).ops
        return ops.count("nor_conv_1x1"), ops.count("nor_conv_3x3")

    counts: dict[str, int] = {}
    by_class: dict[tuple[int, int], int] = {}
    rng = np.random.default_rng(args.seed)
    verify = set(rng.choice(len(rows), min(args.verify, len(rows)), replace=False).tolist())
    inconsistent = []
    evaluated = 0
    for i, row in enumerate(tqdm(rows, desc="num_params", unit="arch")):
        arch = row["arch_str"]
        k = key(arch)
        if args.exhaustive or k not in by_class or i in verify:
            n = space.num_params(space.from_str(arch))
            evaluated += 1
            if by_class.setdefault(k, n) != n:
                inconsistent.append(arch)
            counts[arch] = n
        else:
            counts[arch] = by_class[k]
    mismatches = []
    for row in rows:
        ours = counts[row["arch_str"]]
        published = round(float(row["params_mb"]) * 1e6)
        if abs(ours - published) > 1:  # params_mb has six decimals: 1 parameter
            mismatches.append({**row, "num_params": ours, "difference": published - ours})
    conv3, conv1 = 243_040, 28_000  # parameters of one edge op of each kind, summed over cells
    kinds = Counter(_explain(m["difference"], conv1, conv3) for m in mismatches)
    summary = {
        "rows": len(rows),
        "evaluated_with_eval_shape": evaluated,
        "classes": len(by_class),
        "class_rule_violations": inconsistent,
        "matching": len(rows) - len(mismatches),
        "mismatching": len(mismatches),
        "mismatch_explanations": dict(kinds),
        "examples": mismatches[:5],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "params_mismatches.csv", "w", newline="") as f:
        if mismatches:
            writer = csv.DictWriter(f, list(mismatches[0]))
            writer.writeheader()
            writer.writerows(mismatches)
    (args.out / "params_check.json").write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps({k: v for k, v in summary.items() if k != "examples"}, indent=2))
    for m in mismatches[:5]:
        print(
            f"  {m['arch_index']} {m['arch_str']}: params_mb {m['params_mb']}, "
            f"ours {m['num_params']}, published - ours = {m['difference']}"
        )
    return 1 if inconsistent else 0


def _explain(difference: int, conv1: int, conv3: int) -> str:
    """Names ``difference`` as a sum of simple fractions of one or two conv ops, if it is."""
    fractions = {"1/3": 1 / 3, "1/2": 1 / 2, "2/3": 2 / 3, "1": 1.0}
    terms = []
    for name, size in (("conv1x1", conv1), ("conv3x3", conv3)):
        for label, value in fractions.items():
            terms += [(f"+{name} {label}", value * size), (f"-{name} {label}", -value * size)]
    for text, amount in terms:
        if abs(difference - amount) <= 1:
            return text
    for text1, a1 in terms:
        for text2, a2 in terms:
            if abs(difference - a1 - a2) <= 1:
                return f"{text1} {text2}"
    return "other"


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--archs", type=int, help="score K cells sampled from --seed")
    which.add_argument("--subset", action="store_true", help="the cells of the zero-cost file")
    which.add_argument("--check-params", action="store_true", help="verify num_params")
    parser.add_argument(
        "--scorers",
        nargs="+",
        default=list(DEFAULT_SCORERS),
        help="registry scorers, NAME or NAME:key=value,...",
    )
    parser.add_argument("--gaussian", action="store_true", help="score on gaussian inputs")
    parser.add_argument("--build", action="append", default=[], help="e.g. C=8 or C=16,N=5")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--archs-per-call",
        type=int,
        default=1,
        help="cells per scoring call (vmapped in the supernet on an accelerator)",
    )
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--out", type=Path, default=Path("runs/nb201"))
    parser.add_argument("--accuracies", type=Path, default=DEFAULT_ACC)
    parser.add_argument("--params-file", type=Path, default=DEFAULT_PARAMS)
    parser.add_argument("--zero-cost", type=Path, default=DEFAULT_ZC)
    parser.add_argument("--cifar10", type=Path, default=DEFAULT_CIFAR10)
    parser.add_argument("--cifar100", type=Path, default=DEFAULT_CIFAR100)
    parser.add_argument("--verify", type=int, default=200, help="--check-params: extra cells")
    parser.add_argument("--exhaustive", action="store_true", help="--check-params: every cell")
    parser.add_argument("--shard", default="0/1", help="I/N: score only cells I, I+N, ...")
    parser.add_argument(
        "--inputs",
        nargs="+",
        choices=["cifar10", "cifar100", "gaussian"],
        help="score only on these inputs (default: all the targets need); analysis uses all rows",
    )
    parser.add_argument(
        "--standalone",
        action="store_true",
        help="build and compile each network instead of scoring in the masked supernet",
    )
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--no-score", action="store_true", help="analyse the rows already scored")
    parser.add_argument(
        "--join",
        nargs="+",
        type=Path,
        default=[],
        metavar="DIR",
        help="also analyse the scores of these runs' --out folders (same cells and inputs)",
    )
    args = parser.parse_args(argv)
    if not (args.archs or args.subset or args.check_params):
        parser.error("one of --archs K, --subset or --check-params is required")
    if args.archs_per_call < 1:
        parser.error(f"--archs-per-call must be a positive integer, got {args.archs_per_call}")
    args.build_options = parse_build(args.build)
    index, _, count = args.shard.partition("/")
    args.shard = (int(index), int(count or 1))
    if not 0 <= args.shard[0] < args.shard[1]:
        parser.error(f"--shard must be I/N with 0 <= I < N, got {index}/{count}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.check_params:
        return check_params(args)
    from ntk_nas.study import resolve_scorers

    accuracies = read_accuracies(args.accuracies)
    archs = select_archs(
        accuracies,
        count=args.archs,
        subset=args.zero_cost if args.subset else None,
        seed=args.seed,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    path = args.out / "scores.csv"
    try:
        rows = read_csv(path) if args.no_score else score_all(args, archs, accuracies, path)
    except DataError as error:
        raise SystemExit(f"cannot load the images (--cifar10, --cifar100): {error}") from None
    directions = {s.name: s.direction for s in resolve_scorers(list(args.scorers))}
    for other in args.join:
        rows, directions = join_scores(rows, directions, other)
    report = analyse(args, rows, archs, accuracies, directions)
    report["settings"] = {
        "archs": len(archs),
        "subset": args.subset,
        "scorers": list(args.scorers),
        "build": args.build_options,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "gaussian": args.gaussian,
        "joined": {str(d): _run_scorers(d) for d in args.join},
        "data": {d: spec for d, (spec, _) in data_plan(args).items()},
        "seconds": time.perf_counter() - start,
    }
    (args.out / "correlation.json").write_text(json.dumps(report, indent=2))
    text = table(report)
    (args.out / "table.md").write_text(text + "\n")
    print(text)
    if not args.no_plots:
        scatter_plots(args.out, rows, archs, accuracies, args, list(directions))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
