"""The `ntk-nas` command: parse, call the library, print. Errors are one line and exit code 2."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import optuna

import scorers as scorer_registry
import search_spaces
from ntk_nas import correlation, pruning, results, study, training
from ntk_nas._ntk.errors import NTKInputError
from ntk_nas.data import DEFAULT_SPEC, DataError

EXIT_USAGE = 2
STORAGE_ENV = "NTK_NAS_STORAGE"
EXIT_INTERRUPTED = 130
INTERRUPTED = "ntk-nas: interrupted; finished trials are saved, run the same command to continue"
#: What Ctrl-C keeps, per command (`INTERRUPTED` for a search).
KEPT_ON_INTERRUPT = {
    "search": INTERRUPTED,
    "prune": "ntk-nas: interrupted; the supernets scored are saved, run the same command to "
    "continue",
    "train": "ntk-nas: interrupted; finished epochs are saved, run the same command to continue",
    "correlate": "ntk-nas: interrupted; the architectures scored are saved, run the same command "
    "to continue",
}
_USER_ERRORS = (
    study.StudyError,
    training.TrainError,
    search_spaces.SearchSpaceError,
    DataError,
    NTKInputError,
    ValueError,
    OSError,
)


def parse_build_options(items: Sequence[str]) -> dict[str, Any]:
    """``["C=8", "N=1"]`` or ``["C=8,N=1"]`` -> ``{"C": 8, "N": 1}``; a malformed item is a
    `StudyError`."""
    options: dict[str, Any] = {}
    for item in (part for given in items for part in given.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise study.StudyError(f"bad --build option {item!r}; expected KEY=VALUE, e.g. C=8")
        options[key] = study.parse_literal(value)
    return options


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends an option's default to its help, unless the help already says what it is (as for
    --storage, whose default may hold a password) or there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        default = action.default
        nothing_to_show = default is None or isinstance(default, bool) or default == []
        if "default" in help_text or nothing_to_show:
            return help_text
        return super()._get_help_string(action)


def _common(
    parser: argparse.ArgumentParser,
    *,
    with_scorers: bool = True,
    with_paths: bool = True,
    batch_help: str = "samples in the scoring batch",
) -> None:
    parser.add_argument("--space", default="nb201", help="search space (see `ntk-nas spaces`)")
    if with_scorers:
        parser.add_argument(
            "--scorer",
            action="append",
            help="scorer, as NAME or NAME:key=value,..., repeated for several (default: ntk_cond)",
        )
    if with_scorers and with_paths:
        path = parser.add_mutually_exclusive_group()
        path.add_argument(
            "--standalone",
            action="store_true",
            help="build and compile each network (default: score in the space's masked supernet, "
            "one compilation and the same scores, where it has one and the NTK engine's cost "
            "model expects it to be cheaper)",
        )
        path.add_argument(
            "--supernet",
            action="store_true",
            help="score in the space's masked supernet even where the cost model expects "
            "building each network to be cheaper",
        )
    parser.add_argument("--data", default=DEFAULT_SPEC, help="cifar10 | gaussian | npz:PATH | ...")
    parser.add_argument("--batch-size", type=int, default=32, help=batch_help)
    parser.add_argument(
        "--class-balanced", action="store_true", help="draw every class equally often"
    )
    parser.add_argument("--seed", type=int, default=0, help="seeds sampler, batch and init")
    parser.add_argument(
        "--build",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="size option of the space's networks (e.g. C=8, N=1)",
    )


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ntk-nas", description="Training-free architecture search scored by the empirical NTK."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    search = commands.add_parser(
        "search", help="run or resume a search", formatter_class=_DefaultsFormatter
    )
    _common(search)
    search.add_argument(
        "--trials", type=_positive_int, default=20, help="total scored trials wanted"
    )
    search.add_argument("--timeout", type=float, default=None, help="stop after S seconds")
    search.add_argument(
        "--storage",
        default=os.environ.get(STORAGE_ENV),
        help=f"Optuna storage URL or journal:PATH (default: ${STORAGE_ENV}, else SQLite in --out)",
    )
    search.add_argument("--study", default="ntk-nas", help="study name")
    search.add_argument(
        "--heartbeat",
        type=int,
        default=10,
        help="seconds between heartbeats of a running trial (RDB storages; 0: off); the trial "
        "of a killed worker is then failed and retried by a live one",
    )
    search.add_argument("--out", type=Path, default=Path("ntk-nas-out"), help="output folder")
    search.add_argument("--top", type=_positive_int, default=10, help="rows of the printed table")

    rank = commands.add_parser(
        "rank", help="rank the architectures listed in a file", formatter_class=_DefaultsFormatter
    )
    _common(rank)
    rank.add_argument("--archs", type=Path, required=True, help="file with one arch per line")
    rank.add_argument("--out", type=Path, default=None, help="CSV file for the ranked rows")
    rank.add_argument(
        "--all-devices",
        action="store_true",
        help="spread the architectures over every local device, one per device at a time "
        "(masked supernet only)",
    )

    score = commands.add_parser(
        "score", help="every figure of one architecture", formatter_class=_DefaultsFormatter
    )
    _common(score)
    score.add_argument("arch", help="architecture string")

    correlate = commands.add_parser(
        "correlate",
        help="how well the scores rank the architectures of a table by its measured targets",
        formatter_class=_DefaultsFormatter,
    )
    _common(correlate)
    correlate.add_argument(
        "--table",
        type=Path,
        required=True,
        help="CSV file: one architecture per row, with its measured targets (e.g. accuracy)",
    )
    correlate.add_argument(
        "--target",
        action="append",
        required=True,
        metavar="COLUMN",
        help="a column of --table to correlate with (repeat for several)",
    )
    correlate.add_argument(
        "--arch-column", default=correlation.ARCH_COLUMN, help="the column of the architectures"
    )
    correlate.add_argument(
        "--sample",
        type=_positive_int,
        default=None,
        metavar="K",
        help="score K rows drawn from --seed (default: every row)",
    )
    correlate.add_argument(
        "--resamples", type=_positive_int, default=1000, help="bootstrap resamples per interval"
    )
    correlate.add_argument(
        "--out",
        type=Path,
        default=Path("ntk-nas-correlate"),
        help="output folder: scores.csv (kept as they come: a rerun resumes), rows.csv and "
        "correlation.json",
    )

    prune = commands.add_parser(
        "prune",
        help="TE-NAS's pruning search in the space's masked supernet",
        formatter_class=_DefaultsFormatter,
    )
    _common(prune, with_paths=False)
    prune.add_argument(
        "--rule",
        choices=pruning.RULES,
        default="sum",
        help="combine the scorers' ranks by their sum (TE-NAS) or the sum of their logs (AZ-NAS)",
    )
    prune.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="OP",
        help="let OP compete from the start too (by default every op but 'none' does)",
    )
    prune.add_argument(
        "--repeats", type=int, default=1, help="average each score over R initialisations"
    )
    prune.add_argument(
        "--regions",
        type=int,
        default=0,
        metavar="M",
        help=f"add TE-NAS's linear-region count ('{pruning.REGIONS}') in a thin supernet on M "
        "random 3x3 one-channel crops of --data (TE-NAS: 3000)",
    )
    prune.add_argument(
        "--out",
        type=Path,
        default=Path("ntk-nas-prune"),
        help="output folder: supernets.jsonl (every score, kept as it comes: a rerun resumes) "
        "and prune.json",
    )

    train = commands.add_parser(
        "train",
        help="train one architecture, or the top K of a study",
        formatter_class=_DefaultsFormatter,
    )
    _common(train, with_scorers=False, batch_help="samples per training step")
    train.add_argument("arch", nargs="?", help="architecture string (or use --top and --study)")
    train.add_argument(
        "--top", type=_positive_int, default=None, help="train the K best of --study"
    )
    train.add_argument("--study", default="ntk-nas", help="study to take the --top from")
    train.add_argument(
        "--storage",
        default=os.environ.get(STORAGE_ENV),
        help=f"storage of --study (default: ${STORAGE_ENV}, else ntk-nas-out/study.db)",
    )
    train.add_argument("--epochs", type=int, default=5, help="passes over the training split")
    train.add_argument(
        "--learning-rate",
        type=float,
        default=0.1,
        help="peak learning rate, cosine-decayed to 0 over all steps",
    )
    train.add_argument(
        "--optimizer",
        choices=["sgd", "adam"],
        default="sgd",
        help="SGD with Nesterov momentum 0.9, or Adam",
    )
    train.add_argument("--held-out", type=float, default=0.2, help="fraction held out")
    train.add_argument("--out", type=Path, default=Path("ntk-nas-train"), help="output folder")

    commands.add_parser("spaces", help="list the search spaces")
    commands.add_parser("scorers", help="list the scorers")
    return parser


def _scorers(args: argparse.Namespace) -> list[Any]:
    return study.resolve_scorers(args.scorer or ["ntk_cond"])


def _supernet(args: argparse.Namespace) -> study.Supernet:
    """``--standalone`` / ``--supernet`` force the path; otherwise the cost model chooses."""
    return False if args.standalone else True if args.supernet else "auto"


def _positive_int(text: str) -> int:
    """An argparse type: a positive integer, or an error that quotes `text`."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _value_columns(scorer_names: Sequence[str]) -> list[str]:
    return ["arch", *scorer_names, "params"]


@contextlib.contextmanager
def _stop_requests() -> Iterator[threading.Event]:
    """While open, a first Ctrl-C sets the yielded event and a second raises KeyboardInterrupt.

    The event lets a search finish its running trial and stop cleanly. Raising on the first Ctrl-C
    is not reliable: it can land in a callback (e.g. JAX's garbage-collection hook) where Python
    prints and drops it, and the search then runs on.
    """
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return

    def handle(signum: int, frame: object) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()
        print(
            "\nntk-nas: stopping after the running trial (Ctrl-C again to stop now)",
            file=sys.stderr,
        )

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield requested
    finally:
        signal.signal(signal.SIGINT, previous)


def run_search(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    storage = args.storage or f"sqlite:///{(args.out / 'study.db').resolve()}"
    chosen = _scorers(args)
    with _stop_requests() as stop_requested:
        found = _search(args, storage, chosen, stop_requested)
    rows = study.result_rows(found)
    names = [s.name for s in chosen]
    results.write_csv(rows, args.out / "results.csv")
    results.write_json(
        {"study": args.study, "space": args.space, "scorers": names, "trials": rows},
        args.out / "results.json",
    )
    _plots(rows, chosen, args.out)
    distinct = study.distinct_rows(rows)
    print(results.format_table(distinct, [*_value_columns(names), "sampled"], args.top))
    print(f"\n{len(rows)} trials, {len(distinct)} distinct architectures; results in {args.out}/")
    if stop_requested.is_set():
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _search(
    args: argparse.Namespace, storage: str, chosen: list[Any], stop_requested: threading.Event
) -> optuna.Study:
    def stop_on_request(found: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if stop_requested.is_set():
            found.stop()

    return study.search(
        args.space,
        chosen,
        args.data,
        args.trials,
        storage=storage,
        study_name=args.study,
        seed=args.seed,
        timeout=args.timeout,
        heartbeat_interval=None
        if args.heartbeat <= 0 or storage.startswith("journal:")
        else args.heartbeat,
        batch_size=args.batch_size,
        class_balanced=args.class_balanced,
        build_options=parse_build_options(args.build),
        supernet=_supernet(args),
        callbacks=[stop_on_request],
    )


def _plots(rows: list[dict[str, Any]], chosen: Sequence[Any], out: Path) -> None:
    ordered = sorted(rows, key=lambda r: r["trial"])
    first = chosen[0]
    values = [r[first.name] for r in ordered if math.isfinite(r[first.name])]
    results.plot_history(values, first.direction == "minimize", first.name, out / "history.png")
    if len(chosen) > 1:
        second = chosen[1]
        points = [
            (r[first.name], r[second.name])
            for r in ordered
            if math.isfinite(r[first.name]) and math.isfinite(r[second.name])
        ]
        results.plot_pareto(
            points,
            (first.direction == "minimize", second.direction == "minimize"),
            (first.name, second.name),
            out / "pareto.png",
        )


def run_rank(args: argparse.Namespace) -> int:
    try:
        lines = args.archs.read_text().splitlines()
    except OSError as error:
        raise study.StudyError(f"cannot read --archs file {args.archs}: {error.strerror}") from None
    archs = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not archs:
        raise study.StudyError(f"--archs file {args.archs} lists no architectures")
    chosen = _scorers(args)
    rows = study.rank(
        args.space,
        archs,
        chosen,
        args.data,
        seed=args.seed,
        batch_size=args.batch_size,
        class_balanced=args.class_balanced,
        build_options=parse_build_options(args.build),
        supernet=_supernet(args),
        devices="local" if args.all_devices else None,
    )
    if args.out is not None:
        results.write_csv(rows, args.out)
    print(results.format_table(rows, _value_columns([s.name for s in chosen]), len(rows)))
    return 0


def run_score(args: argparse.Namespace) -> int:
    rows = study.rank(
        args.space,
        [args.arch],
        _scorers(args),
        args.data,
        seed=args.seed,
        batch_size=args.batch_size,
        class_balanced=args.class_balanced,
        build_options=parse_build_options(args.build),
        show_progress=False,
        supernet=_supernet(args),
    )
    for key, value in rows[0].items():
        print(f"{key}: {results.format_cell(value)}")
    return 0


def run_correlate(args: argparse.Namespace) -> int:
    table = correlation.read_table(args.table, args.target, args.arch_column)
    found = correlation.correlate(
        args.space,
        correlation.sample(table, args.sample, args.seed),
        _scorers(args),
        args.data,
        out=args.out,
        seed=args.seed,
        batch_size=args.batch_size,
        class_balanced=args.class_balanced,
        build_options=parse_build_options(args.build),
        supernet=_supernet(args),
        resamples=args.resamples,
    )
    print(correlation.format_report(found.report))
    print(f"\n{len(found.rows)} architectures; results in {args.out}/")
    return 0


def run_prune(args: argparse.Namespace) -> int:
    chosen = _scorers(args)
    found = pruning.prune(
        args.space,
        chosen,
        args.data,
        rule=args.rule,
        exclude=[op for op in pruning.EXCLUDED if op not in args.keep],
        seed=args.seed,
        repeats=args.repeats,
        batch_size=args.batch_size,
        class_balanced=args.class_balanced,
        build_options=parse_build_options(args.build),
        regions=args.regions,
        store=args.out / "supernets.jsonl",
    )
    arch = search_spaces.get(args.space).to_str(found.arch)
    decisions = list(found.rounds[0]) if found.rounds else []
    rows = [
        {"decision": d, **{f"round {r + 1}": ops.get(d, "") for r, ops in enumerate(found.rounds)}}
        for d in decisions
    ]
    columns = ["decision", *(f"round {r + 1}" for r in range(len(found.rounds)))]
    print("ops pruned, per round:")
    print(results.format_table(rows, columns, len(rows), ranked=False))
    print(f"picked: {arch}")
    print(f"{found.scored} supernets scored in {found.seconds:.1f} s; results in {args.out}/")
    results.write_json(
        {
            "arch": arch,
            "rounds": [dict(ops) for ops in found.rounds],
            "scored": found.scored,
            "seconds": found.seconds,
            "scorers": [s.name for s in chosen] + ([pruning.REGIONS] if args.regions else []),
            "rule": args.rule,
            "repeats": args.repeats,
        },
        args.out / "prune.json",
    )
    return 0


def _study_archs(args: argparse.Namespace) -> list[str]:
    storage = args.storage or f"sqlite:///{Path('ntk-nas-out/study.db').resolve()}"
    try:
        found = optuna.load_study(study_name=args.study, storage=study.open_storage(storage))
    except KeyError:
        raise study.StudyError(
            f"no study {args.study!r} in {study.mask_password(storage)}"
        ) from None
    rows = [r for r in study.result_rows(found) if r["state"] == "COMPLETE"]
    return [r["arch"] for r in rows[: args.top]]


def run_train(args: argparse.Namespace) -> int:
    if (args.arch is None) == (args.top is None):
        raise study.StudyError("give either an architecture or --top K (with --study)")
    archs = [args.arch] if args.arch is not None else _study_archs(args)
    config = training.TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        optimizer=args.optimizer,
        held_out_fraction=args.held_out,
        seed=args.seed,
    )
    rows = []
    for index, arch in enumerate(archs):
        result = training.train(
            args.space,
            arch,
            args.data,
            config,
            build_options=parse_build_options(args.build),
            out=args.out / str(index),
        )
        rows.append({"arch": result.arch, **result.history[-1]})
    results.write_csv(rows, args.out / "train_results.csv")
    print(
        results.format_table(
            rows, ["arch", "held_out_accuracy", "train_accuracy", "train_loss"], len(rows)
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures are in results
    try:
        if args.command == "spaces":
            print("\n".join(search_spaces.names()))
            return 0
        if args.command == "scorers":
            print("\n".join(scorer_registry.names()))
            return 0
        commands = {
            "search": run_search,
            "rank": run_rank,
            "score": run_score,
            "prune": run_prune,
            "train": run_train,
            "correlate": run_correlate,
        }
        return commands[args.command](args)
    except KeyboardInterrupt:
        kept = KEPT_ON_INTERRUPT.get(args.command, "ntk-nas: interrupted")
        print(f"\n{kept}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _USER_ERRORS as error:
        message = study.mask_password(" ".join(str(error).split()))
        print(f"ntk-nas: error: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
