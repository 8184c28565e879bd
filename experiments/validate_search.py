"""Does a training-free search pick good architectures? Train its top K and K random ones briefly.

A check that needs no benchmark: score ``--candidates M`` architectures sampled from the space
(reproducibly from ``--seed``) with ``--scorer``, or take the scored trials of a finished study
(``--study NAME --storage URL``); then train the ``--top K`` best of them and K others drawn at
random from the rest of the same pool, each for a few epochs on ``--train-size`` images of
``--data``, and compare the groups' held-out accuracy. Over all 2K trained architectures it reports
Kendall's tau-b and Spearman's rho (each with a seeded bootstrap 95% interval) between the score
and the short-training accuracy, and the same for the parameter count, the baseline a training-free
score has to beat. Scores are oriented so that higher predicts better (a minimised score such as
``ntk_cond`` is negated), as in ``nb201_correlation.py``.

With ``--accuracies`` (NAS-Bench-201's accuracy file, ``arch_index, arch_str, cifar10_test_acc,
...``) it also ranks the short-training accuracy, and the score, against the benchmark's 200-epoch
test accuracy of ``--target`` on the same architectures, and the score and parameter count against
it over all M candidates.

Network size: ``--build C=8,N=1`` by default on NB201 (a reduced network that trains in about a
minute per epoch on a CPU, with a few thousand images); the benchmark's size is ``C=16,N=5``.

Outputs in ``--out``: ``validate.csv`` (one row per trained architecture), ``validate.json``,
``table.md`` (also printed), ``scores.csv`` (the candidates' scores) and ``runs/<id>/`` (each
training run's checkpoint, ``history.json`` and ``run.json``). A rerun with the same ``--out``
scores only new candidates, reuses finished training runs and resumes interrupted ones; settings
that would change the scores or the training (``setup.json``) must then be the same.

    python experiments/validate_search.py --candidates 50 --top 3 --epochs 3 \\
        --data npz:/work/shared/data/cifar/cifar10_sample.npz --train-size 2500 \\
        --accuracies /work/shared/data/nb201/nb201_test_acc.csv --out runs/validate
    python experiments/validate_search.py --study demo --storage sqlite:///ntk-nas-demo/study.db
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ntk_nas import results

try:  # run as a script (python experiments/validate_search.py) or imported as a module
    from experiments import nb201_correlation
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from experiments import nb201_correlation

#: ``--build`` defaults per space (reduced networks, so a CPU trains one in minutes).
DEFAULT_BUILD: dict[str, dict[str, Any]] = {"nb201": {"C": 8, "N": 1}}
SETUP = "setup.json"
SCORES = "scores.csv"
SCORE_COLUMNS = ("arch", "canonical_arch", "score", "params", "seconds")
SCORE_CHUNK = 8  #: archs per `ntk_nas.rank` call
RUNS = "runs"
RUN = "run.json"
GROUPS = ("top", "random")
PROG = "validate_search"


class ValidateError(ValueError):
    """Input this experiment cannot run with; the message names the value."""


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A scored architecture of the pool: its raw score and the score oriented to "higher is
    better"."""

    arch: str
    canonical: str
    score: float
    oriented: float
    params: float
    seconds: float = math.nan  #: scoring time (unknown for a study's trials)


# ----------------------------------------------------------------------------- candidates


def sample_archs(space: Any, count: int, seed: int) -> list[str]:
    """`count` architectures with distinct canonical forms, drawn from `seed` in a fixed order
    (a larger `count` with the same seed extends the same list)."""
    rng = np.random.default_rng(seed)
    archs: list[str] = []
    seen: set[str] = set()
    for _ in range(100 * count):
        arch = space.sample(rng)
        canonical = space.to_str(space.canonical(arch))
        if canonical not in seen:
            seen.add(canonical)
            archs.append(space.to_str(arch))
            if len(archs) == count:
                return archs
    raise ValidateError(
        f"--candidates {count}: found only {len(archs)} distinct architectures in "
        f"{100 * count} draws from space {space.name!r}"
    )


def score_candidates(
    args: argparse.Namespace, space: Any, archs: list[str], dataset: Any, path: Path
) -> list[Candidate]:
    """Scores every arch not yet in `path`, `SCORE_CHUNK` at a time (`ntk_nas.rank` scores a
    chunk in one call where it can), appending their rows after each chunk; returns them all."""
    from tqdm.auto import tqdm

    import ntk_nas
    from ntk_nas.study import resolve_batch, resolve_scorers

    (scorer,) = resolve_scorers([args.scorer])
    done = _read_scores(path)
    todo = [a for a in archs if a not in done]
    if todo:
        batch, num_classes = resolve_batch(dataset, args.score_batch_size, args.seed)
        new_file = not path.exists()
        with open(path, "a", newline="") as f, tqdm(total=len(todo), desc="scoring") as bar:
            writer = csv.DictWriter(f, SCORE_COLUMNS)
            if new_file:
                writer.writeheader()
            for start in range(0, len(todo), SCORE_CHUNK):
                chunk = todo[start : start + SCORE_CHUNK]
                began = time.perf_counter()
                rows = ntk_nas.rank(
                    space,
                    chunk,
                    [scorer],
                    data=batch,
                    seed=args.seed,
                    build_options={**args.build_options, "num_classes": num_classes},
                    show_progress=False,
                )
                seconds = (time.perf_counter() - began) / len(chunk)
                for row in rows:
                    done[row["arch"]] = {
                        "arch": row["arch"],
                        "canonical_arch": row["canonical_arch"],
                        "score": row[scorer.name],
                        "params": row["params"],
                        "seconds": seconds,
                    }
                writer.writerows(done[a] for a in chunk)
                f.flush()
                bar.update(len(chunk))
    sign = -1.0 if scorer.direction == "minimize" else 1.0
    return [_candidate(done[a], sign) for a in archs]


def _read_scores(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        return {row["arch"]: row for row in csv.DictReader(f)}


def _candidate(row: dict[str, Any], sign: float) -> Candidate:
    score = float(row["score"])
    return Candidate(
        row["arch"],
        row["canonical_arch"],
        score,
        sign * score,
        float(row["params"]),
        float(row["seconds"]),
    )


def study_candidates(args: argparse.Namespace, space: Any) -> tuple[list[Candidate], str]:
    """The complete trials of ``--study`` (one per canonical arch, the best-scored kept) and the
    name of its first objective."""
    import optuna

    from ntk_nas.study import mask_password, open_storage, result_rows

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        found = optuna.load_study(study_name=args.study, storage=open_storage(args.storage))
    except KeyError:
        raise ValidateError(
            f"--study: no study {args.study!r} in {mask_password(args.storage)}"
        ) from None
    sign = -1.0 if found.directions[0] == optuna.study.StudyDirection.MINIMIZE else 1.0
    pool, seen = [], set()
    for row in result_rows(found):
        if row["state"] != "COMPLETE" or row["canonical_arch"] in seen:
            continue
        seen.add(row["canonical_arch"])
        arch = space.to_str(space.from_str(row["arch"]))  # checks that it is of --space
        value = float(row["values"][0])
        params = float(row["params"])
        pool.append(Candidate(arch, row["canonical_arch"], value, sign * value, params))
    return pool, _objective_name(found)


def _objective_name(found: Any) -> str:
    """The first scorer of a study made by `ntk_nas.search` (its figure equal to the value)."""
    from ntk_nas.study import FIGURES

    for trial in found.get_trials(deepcopy=False):
        figures = trial.user_attrs.get(FIGURES)
        if trial.values and figures:
            names = [k for k, v in figures.items() if "." not in k and v == trial.values[0]]
            names.sort(key=lambda k: k == "params")  # a scorer named like a figure comes first
            if names:
                return f"study {found.study_name!r}: {names[0]}"
    return f"study {found.study_name!r}"


def pick_groups(
    pool: Sequence[Candidate], top: int, seed: int
) -> tuple[list[int], list[int], list[int]]:
    """``(order, top, random)``: the pool's indices best first (non-finite scores last), the `top`
    best, and `top` others drawn from `seed` (listed best first)."""
    if len(pool) < 2 * top:
        raise ValidateError(
            f"--top {top} needs at least {2 * top} candidates ({top} top + {top} random), "
            f"but the pool has {len(pool)}"
        )
    order = sorted(
        range(len(pool)),
        key=lambda i: -pool[i].oriented if math.isfinite(pool[i].oriented) else math.inf,
    )
    rest = order[top:]
    drawn = np.random.default_rng([seed, 1]).choice(len(rest), top, replace=False)
    return order, order[:top], [rest[i] for i in sorted(drawn)]


# ----------------------------------------------------------------------------- training


def training_subset(dataset: Any, size: int | None, seed: int) -> Any:
    """`size` examples of `dataset` drawn from `seed` (all of them for None)."""
    if size is None or size == len(dataset.y):
        return dataset
    if not 2 <= size <= len(dataset.y):
        raise ValidateError(
            f"--train-size must be in 2..{len(dataset.y)} (the size of {dataset.name!r}), "
            f"got {size}"
        )
    index = np.sort(np.random.default_rng([seed, 2]).choice(len(dataset.y), size, replace=False))
    return dataclasses.replace(
        dataset, x=dataset.x[index], y=dataset.y[index], name=f"{dataset.name}[{size}]"
    )


def split_sizes(n: int, config: Any) -> tuple[int, int]:
    """``(training, held-out)`` sample counts of the split `train` makes of `n` samples."""
    from ntk_nas.training import split

    parts = split(np.zeros((n, 1)), np.zeros(n), config.held_out_fraction, config.seed)
    return len(parts.y_train), len(parts.y_held_out)


def run_folder(out: Path, arch: str) -> Path:
    """The training run's folder: named by a hash of the arch string, so reruns find it."""
    return out / RUNS / hashlib.sha256(arch.encode()).hexdigest()[:12]


def train_or_reuse(
    space: Any, arch: str, data: Any, config: Any, build: dict[str, Any], folder: Path
) -> tuple[dict[str, float], float, bool]:
    """``(last history row, training seconds, reused)``: a finished run in `folder` is read back,
    an interrupted one resumed, a missing one trained."""
    from ntk_nas.training import HISTORY, train

    history_path = folder / HISTORY
    meta_path = folder / RUN
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"seconds": 0.0}
    if meta.get("arch", arch) != arch:
        raise ValidateError(f"{folder} holds a run of {meta['arch']!r}, not {arch!r}")
    if history_path.exists():
        history = json.loads(history_path.read_text())
        if len(history) >= config.epochs:
            return history[config.epochs - 1], float(meta["seconds"]), True
    start = time.perf_counter()
    result = train(space, arch, data, config, build_options=build, out=folder, progress=False)
    seconds = float(meta["seconds"]) + time.perf_counter() - start
    meta_path.write_text(json.dumps({"arch": arch, "seconds": seconds}, indent=2) + "\n")
    return result.history[-1], seconds, False


# ----------------------------------------------------------------------------- analysis


def group_summary(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, float]]:
    """Per group: n, mean and sample standard deviation (ddof=1) of the finite values of `key`."""
    summary = {}
    for group in GROUPS:
        values = np.array([r[key] for r in rows if r["group"] == group], dtype=float)
        values = values[np.isfinite(values)]
        summary[group] = {
            "n": len(values),
            "mean": float(values.mean()) if len(values) else math.nan,
            "std": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
        }
    return summary


def top_beats_random(rows: list[dict[str, Any]], key: str) -> float:
    """Fraction of the (top, random) pairs where the top arch has the higher `key` (ties count
    half; pairs with a non-finite value are left out)."""
    top = [r[key] for r in rows if r["group"] == "top" and math.isfinite(r[key])]
    rand = [r[key] for r in rows if r["group"] == "random" and math.isfinite(r[key])]
    wins = [1.0 if t > r else 0.5 if t == r else 0.0 for t in top for r in rand]
    return float(np.mean(wins)) if wins else math.nan


def correlation_rows(
    rows: list[dict[str, Any]],
    candidates: Sequence[Candidate],
    benchmark: dict[str, float] | None,
    *,
    resamples: int,
    seed: int,
) -> list[dict[str, Any]]:
    """tau and rho (with bootstrap 95% intervals) for each pair of measures that is known."""
    from ntk_nas.stats import correlations

    def entry(x_name: str, y_name: str, over: str, x: Any, y: Any) -> dict[str, Any]:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        result = correlations(x, y, resamples=resamples, seed=seed)
        result.pop("top10_precision")  # top 10% of a handful of archs: one arch
        return {"x": x_name, "y": y_name, "over": over, **result}

    short = [r["held_out_acc_pct"] for r in rows]
    found = [
        entry("score", "short training", "trained", [r["oriented_score"] for r in rows], short),
        entry("params", "short training", "trained", [r["params"] for r in rows], short),
    ]
    if benchmark is not None:
        bench = [r["benchmark_acc_pct"] for r in rows]
        every = [benchmark.get(c.arch, math.nan) for c in candidates]
        found += [
            entry("short training", "benchmark", "trained", short, bench),
            entry("score", "benchmark", "trained", [r["oriented_score"] for r in rows], bench),
            entry("score", "benchmark", "candidates", [c.oriented for c in candidates], every),
            entry("params", "benchmark", "candidates", [c.params for c in candidates], every),
        ]
    return found


def table(report: dict[str, Any]) -> str:
    """Markdown: the trained archs, the two groups, and the correlations."""
    s = report["settings"]
    bench = s["target"] is not None
    bench_name = f"NB201 {s['target']} acc %"
    settings = (
        f"{s['space']} ({_options(s['build'])}), scorer {s['scorer']}, {s['pool']} candidates, "
        f"top {s['top']} + {s['top']} random; {_count(s['training']['epochs'], 'epoch')} on "
        f"{s['train_images']} images ({s['held_out_images']} more held out) of {s['data']}"
    )
    arch_rows = []
    for r in report["archs"]:
        row = [r["group"], r["score_rank"], f"`{r['arch']}`", f"{r['score']:.4g}"]
        row += [f"{r['params']:,.0f}", results.format_figure(r["held_out_acc_pct"], 1)]
        if bench:
            row.append(results.format_figure(r["benchmark_acc_pct"], 2))
        arch_rows.append(row)
    arch_header = ["group", "score rank", "arch", "score", "params", "held-out acc %"]
    group_rows = []
    for group in GROUPS:
        figures = report["groups"][group]
        row = [group, figures["held_out_acc_pct"]["n"]]
        row.append(results.format_mean_std(figures["held_out_acc_pct"], 1))
        if bench:
            row.append(results.format_mean_std(figures["benchmark_acc_pct"], 1))
        group_rows.append(row)
    group_header = ["group", "n", "held-out acc % (mean ± std)"]
    if bench:
        arch_header.append(bench_name)
        group_header.append(f"{bench_name} (mean ± std)")
    beats = {k: results.format_figure(v, 2) for k, v in report["top_beats_random"].items()}
    beating = (
        f"Top beats random in {beats['held_out_acc_pct']} of the (top, random) pairs on "
        "held-out accuracy"
        + (f", {beats['benchmark_acc_pct']} on benchmark accuracy." if bench else ".")
    )
    correlations = results.markdown_table(
        [
            "x (higher predicts better)",
            "y",
            "over",
            "n",
            "Kendall tau [95% CI]",
            "Spearman rho [95% CI]",
        ],
        (
            [
                c["x"],
                bench_name.removesuffix(" %") if c["y"] == "benchmark" else c["y"],
                f"{s['pool']} candidates" if c["over"] == "candidates" else "trained archs",
                c["n"],
                results.format_interval(c, "kendall_tau"),
                results.format_interval(c, "spearman_rho"),
            ]
            for c in report["correlations"]
        ),
    )
    return "\n\n".join(
        [
            settings,
            results.markdown_table(arch_header, arch_rows),
            results.markdown_table(group_header, group_rows),
            beating,
            correlations,
        ]
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _options(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items()) or "default size"


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--candidates", type=int, help="score M archs sampled from --seed (50)")
    which.add_argument("--study", help="take the candidates from this finished study instead")
    parser.add_argument(
        "--storage",
        default=os.environ.get("NTK_NAS_STORAGE"),
        help="storage URL of --study (default: $NTK_NAS_STORAGE)",
    )
    parser.add_argument("--space", default="nb201")
    parser.add_argument(
        "--build",
        action="append",
        default=[],
        metavar="KEY=VALUE[,...]",
        help="network size (default on nb201: C=8,N=1)",
    )
    parser.add_argument("--scorer", default="ntk_cond:repeats=1", help="NAME or NAME:key=value,...")
    parser.add_argument("--score-batch-size", type=int, default=16, help="scoring batch")
    parser.add_argument("--top", type=int, default=3, help="K: train the K best and K random")
    parser.add_argument("--data", default="cifar10", help="cifar10 | npz:PATH | gaussian | ...")
    parser.add_argument(
        "--train-size",
        type=int,
        default=None,
        help="images drawn from --data for each run, training and held-out together (default: all)",
    )
    parser.add_argument("--held-out", type=float, default=0.2, help="fraction held out")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64, help="training batch")
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0, help="seeds sampling, scoring, training")
    parser.add_argument("--accuracies", type=Path, help="NB201 accuracy file (benchmark column)")
    parser.add_argument("--target", choices=sorted(nb201_correlation.TARGETS), default="cifar10")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--out", type=Path, default=Path("runs/validate"))
    args = parser.parse_args(argv)
    if args.study is None and args.candidates is None:
        args.candidates = 50
    if args.study is not None and not args.storage:
        parser.error("--study needs --storage URL (or $NTK_NAS_STORAGE)")
    for flag, value, low in (
        ("--top", args.top, 1),
        ("--candidates", args.candidates, 2),
        ("--epochs", args.epochs, 1),
        ("--batch-size", args.batch_size, 1),
        ("--score-batch-size", args.score_batch_size, 1),
        ("--resamples", args.resamples, 1),
        ("--seed", args.seed, 0),
    ):
        if value is not None and value < low:
            parser.error(f"{flag} must be at least {low}, got {value}")
    if args.candidates is not None and args.candidates < 2 * args.top:
        parser.error(
            f"--top {args.top} needs at least {2 * args.top} candidates "
            f"({args.top} top + {args.top} random), got --candidates {args.candidates}"
        )
    if not 0 < args.held_out < 1:
        parser.error(f"--held-out must be in (0, 1), got {args.held_out}")
    try:
        args.build_options = parse_build(args.build, args.space)
    except ValueError as error:
        parser.error(str(error))
    return args


def parse_build(items: Sequence[str], space: str) -> dict[str, Any]:
    """``--build`` items (``KEY=VALUE``, comma-separated or repeated) over the space's defaults."""
    from ntk_nas.cli import parse_build_options

    parts = [part for item in items for part in item.split(",") if part]
    return {**DEFAULT_BUILD.get(space, {}), **parse_build_options(parts)}


def setup(args: argparse.Namespace, data_name: str) -> dict[str, Any]:
    """What the scores and training runs in ``--out`` depend on."""
    from ntk_nas.study import mask_password

    candidates: dict[str, Any]
    if args.study is not None:
        candidates = {"study": args.study, "storage": mask_password(args.storage)}
    else:
        candidates = {"scorer": args.scorer, "score_batch_size": args.score_batch_size}
    return {
        "space": args.space,
        "build": args.build_options,
        "data": data_name,
        "seed": args.seed,
        "candidates": candidates,
        "training": {
            "train_size": args.train_size,
            "held_out": args.held_out,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
        },
    }


def check_setup(path: Path, settings: dict[str, Any]) -> None:
    """Writes `settings` to `path`, or checks that they equal the ones there."""
    if path.exists():
        found = json.loads(path.read_text())
        keys = sorted(k for k in settings.keys() | found.keys() if found.get(k) != settings.get(k))
        if keys:
            differences = "; ".join(
                f"{k}: {json.dumps(found.get(k))} there, {json.dumps(settings.get(k))} now"
                for k in keys
            )
            raise ValidateError(
                f"{path.parent} holds results of other settings ({differences}); "
                "use another --out or the same settings"
            )
    else:
        path.write_text(json.dumps(settings, indent=2) + "\n")


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    import search_spaces
    from ntk_nas.data import load_dataset
    from ntk_nas.training import TrainConfig

    start = time.perf_counter()
    dataset = load_dataset(args.data, seed=args.seed)
    space = search_spaces.get(args.space, input_shape=tuple(dataset.x.shape[1:]))
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        held_out_fraction=args.held_out,
        seed=args.seed,
    )
    subset = training_subset(dataset, args.train_size, args.seed)
    n_train, n_held_out = split_sizes(len(subset.y), config)
    if args.batch_size > n_train:
        raise ValidateError(
            f"--batch-size {args.batch_size} is larger than the {n_train} training images "
            f"(--train-size {len(subset.y)} less {n_held_out} held out)"
        )
    benchmark = None
    if args.accuracies is not None:
        table_ = nb201_correlation.read_accuracies(args.accuracies)
        benchmark = {a: entry[args.target] for a, entry in table_.items()}

    args.out.mkdir(parents=True, exist_ok=True)
    check_setup(args.out / SETUP, setup(args, dataset.name))
    if args.study is not None:
        pool, scorer_name = study_candidates(args, space)
    else:
        archs = sample_archs(space, args.candidates, args.seed)
        pool = score_candidates(args, space, archs, dataset, args.out / SCORES)
        scorer_name = args.scorer
    order, top, rand = pick_groups(pool, args.top, args.seed)
    score_rank = {index: position + 1 for position, index in enumerate(order)}

    rows: list[dict[str, Any]] = []
    trained = 0
    picks = [("top", i) for i in top] + [("random", i) for i in rand]
    with tqdm(picks, desc="training", unit="arch") as bar:
        for group, index in bar:
            c = pool[index]
            folder = run_folder(args.out, c.arch)
            last, seconds, reused = train_or_reuse(
                space, c.arch, subset, config, args.build_options, folder
            )
            trained += not reused
            row = {
                "group": group,
                "score_rank": score_rank[index],
                "arch": c.arch,
                "canonical_arch": c.canonical,
                "score": c.score,
                "oriented_score": c.oriented,
                "params": c.params,
                "held_out_acc_pct": 100 * last["held_out_accuracy"],
                "train_acc_pct": 100 * last["train_accuracy"],
                "train_loss": last["train_loss"],
                "train_seconds": seconds,
                "reused": reused,
                "run": str(folder.relative_to(args.out)),
            }
            if benchmark is not None:
                row["benchmark_acc_pct"] = benchmark.get(c.arch, math.nan)
            rows.append(row)
            bar.set_postfix(acc=f"{row['held_out_acc_pct']:.1f}%")

    groups = {
        g: {"held_out_acc_pct": s} for g, s in group_summary(rows, "held_out_acc_pct").items()
    }
    beats = {"held_out_acc_pct": top_beats_random(rows, "held_out_acc_pct")}
    if benchmark is not None:
        for g, s in group_summary(rows, "benchmark_acc_pct").items():
            groups[g]["benchmark_acc_pct"] = s
        beats["benchmark_acc_pct"] = top_beats_random(rows, "benchmark_acc_pct")
    report = {
        "settings": {
            **setup(args, dataset.name),
            "scorer": scorer_name,
            "pool": len(pool),
            "top": args.top,
            "target": args.target if benchmark is not None else None,
            "accuracies": str(args.accuracies) if benchmark is not None else None,
            "train_images": n_train,
            "held_out_images": n_held_out,
            "resamples": args.resamples,
        },
        "groups": groups,
        "top_beats_random": beats,
        "correlations": correlation_rows(
            rows, pool, benchmark, resamples=args.resamples, seed=args.seed
        ),
        "archs": rows,
        "trained_now": trained,
        "reused": len(rows) - trained,
        "seconds": {  # of all runs into --out (the first one scored and trained), and this one
            "scoring": sum(c.seconds for c in pool),
            "training": sum(r["train_seconds"] for r in rows),
            "this_run": time.perf_counter() - start,
        },
    }
    results.write_csv(rows, args.out / "validate.csv")
    results.write_json(report, args.out / "validate.json")
    text = table(report)
    (args.out / "table.md").write_text(text + "\n")
    print(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from ntk_nas.data import DataError
    from ntk_nas.study import StudyError, mask_password
    from ntk_nas.training import TrainError
    from search_spaces import SearchSpaceError

    try:
        return run(args)
    except (ValidateError, DataError, StudyError, TrainError, SearchSpaceError, OSError) as error:
        print(f"{PROG}: error: {mask_password(str(error))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
