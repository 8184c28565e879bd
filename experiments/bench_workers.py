"""Trials per minute of 1, 2, 4 `ntk-nas search` workers sharing one PostgreSQL study.

For each worker count W, starts W ``ntk-nas search --storage URL --study NAME --trials T``
processes at once on a fresh study, waits for all to exit, and reads the study back with Optuna.
Without ``--storage`` a throwaway PostgreSQL server is started on 127.0.0.1 (see
``experiments/postgres.py``). Prints one JSON line per worker count, then a markdown table;
``--out`` writes both, with the machine and the settings, as one JSON file.

Figures per row:

- ``trials``: scored trials in the study (T to T + W - 1: each worker finishes its running trial);
  ``distinct``: distinct canonical architectures among them (a repeat is looked up, or scored
  again when two workers draw it at the same time).
- ``per_min``: trials per minute of wall time, from launching the workers to the last one's exit
  (process start, JAX start-up and compilation included); ``ratio``: over the first row's.
- ``first_s``: seconds from the launch to the first scored trial (start-up and compilation).
- ``steady_per_min``: trials completed after the W-th completion, per minute from the W-th to
  the last completion, which leaves out most of each worker's start-up; ``steady_ratio``.
- ``median_trial_s``: median seconds of one trial (start to completion, as Optuna records it).
- ``cpu_s``: CPU seconds (user and system) of all the workers together; ``cpu_s_per_trial``,
  over the scored trials, is the figure least changed by other jobs on the machine.
- ``load_before``: ``os.getloadavg()`` (1, 5, 15 minutes) just before the launch: other jobs on
  the machine slow every figure down.

    python experiments/bench_workers.py --workers 1 2 4 --trials 40 \\
        --out experiments/results/bench_workers.json
    python experiments/bench_workers.py --workers 1 2 4 4 2 1   # twice, evening out load drift
    JAX_COMPILATION_CACHE_DIR=/tmp/jax-cache python experiments/bench_workers.py --workers 1 1 2 4
    python experiments/bench_workers.py --storage postgresql://USER@HOST/DB --workers 1 2

The workers inherit the environment: with ``JAX_COMPILATION_CACHE_DIR`` set, JAX's persistent
compilation cache lets every worker after the first load the compiled scorer instead of compiling
it (the JSON's settings record the variable).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import optuna

try:  # run as a script (python experiments/bench_workers.py) or imported as a module
    from experiments.postgres import PostgresUnavailable, postgres_server
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from experiments.postgres import PostgresUnavailable, postgres_server

from ntk_nas import study as plugin

ROOT = Path(__file__).resolve().parent.parent
CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"  # JAX's persistent compilation cache, passed to workers
COLUMNS = (
    ("workers", "workers"),
    ("trials", "scored trials"),
    ("distinct", "distinct archs"),
    ("wall_s", "wall s"),
    ("per_min", "trials/min"),
    ("ratio", "ratio"),
    ("first_s", "launch to 1st trial s"),
    ("steady_per_min", "steady trials/min"),
    ("steady_ratio", "steady ratio"),
    ("median_trial_s", "median trial s"),
    ("cpu_s_per_trial", "worker CPU s/trial"),
    ("load_before", "load avg before (1/5/15 min)"),
)


def worker_command(args: argparse.Namespace, storage: str, study_name: str, out: Path) -> list[str]:
    """The ``ntk-nas search`` command line of one worker."""
    build = [item for option in args.build for item in ("--build", option)]
    return [
        *(sys.executable, "-m", "ntk_nas.cli", "search", "--space", args.space),
        *("--scorer", args.scorer, "--data", args.data, "--batch-size", str(args.batch_size)),
        *build,
        *("--trials", str(args.trials), "--storage", storage, "--study", study_name),
        *("--out", str(out)),
    ]


def run_workers(commands: Sequence[list[str]], folder: Path, timeout: float) -> float:
    """Starts every command at once and returns the seconds until the last one exited.

    Raises:
      SystemExit: a worker failed or ran past `timeout`; the message has its stderr's tail.
    """
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    with contextlib.ExitStack() as stack:
        processes = []
        start = time.perf_counter()
        for i, command in enumerate(commands):
            stdout = stack.enter_context(open(folder / f"worker{i}.out", "w"))
            stderr = stack.enter_context(open(folder / f"worker{i}.err", "w"))
            processes.append(subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env))
        try:
            for i, process in enumerate(processes):
                left = timeout - (time.perf_counter() - start)
                if process.wait(timeout=max(left, 0.1)):
                    tail = (folder / f"worker{i}.err").read_text()[-2000:]
                    raise SystemExit(f"worker {i} exited with {process.returncode}:\n{tail}")
        except subprocess.TimeoutExpired:
            raise SystemExit(f"the workers ran past --timeout-s {timeout:g}") from None
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        return time.perf_counter() - start


@contextlib.contextmanager
def _loaded(storage: str, study_name: str) -> Iterator[list[optuna.trial.FrozenTrial]]:
    """The study's trials, read through a storage whose connections are closed afterwards."""
    rdb = optuna.storages.RDBStorage(storage)
    try:
        yield optuna.load_study(study_name=study_name, storage=rdb).get_trials(deepcopy=False)
    finally:
        rdb.engine.dispose()


def summarize(
    trials: Sequence[optuna.trial.FrozenTrial],
    *,
    workers: int,
    launched: datetime.datetime,
    wall_s: float,
) -> dict[str, Any]:
    """The figures of one run (see the module docstring) from its study's trials."""
    scored: list[tuple[datetime.datetime, datetime.datetime, Any]] = []  # start, end, canonical
    for t in plugin.scored_trials(trials):
        if t.datetime_start and t.datetime_complete:
            scored.append(
                (t.datetime_start, t.datetime_complete, t.user_attrs.get(plugin.CANONICAL))
            )
    done = sorted(end for _, end, _ in scored)
    seconds = [(end - start).total_seconds() for start, end, _ in scored]
    steady = None
    if len(done) > workers and done[-1] > done[workers - 1]:
        window = (done[-1] - done[workers - 1]).total_seconds()
        steady = round((len(done) - workers) / window * 60, 2)
    return {
        "workers": workers,
        "trials": len(scored),
        "distinct": len({canonical for _, _, canonical in scored}),
        "wall_s": round(wall_s, 1),
        "per_min": round(len(scored) / wall_s * 60, 2),
        "first_s": round((done[0] - launched).total_seconds(), 1) if done else None,
        "steady_per_min": steady,
        "median_trial_s": round(statistics.median(seconds), 2) if seconds else None,
    }


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a markdown table; a missing figure is ``-``."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, list):
            return " / ".join(f"{v:.2f}" for v in value)
        return str(value)

    lines = [
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(cell(row.get(key)) for key, _ in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def _machine() -> dict[str, Any]:
    versions = {name: importlib.metadata.version(name) for name in ("jax", "optuna", "sqlalchemy")}
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        **versions,
    }


def _ratios(rows: list[dict[str, Any]]) -> None:
    first = rows[0]
    for row in rows:
        row["ratio"] = round(row["per_min"] / first["per_min"], 2)
        if row["steady_per_min"] is not None and first["steady_per_min"]:
            row["steady_ratio"] = round(row["steady_per_min"] / first["steady_per_min"], 2)
        else:
            row["steady_ratio"] = None


def _children_cpu_s() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def bench(args: argparse.Namespace, storage: str) -> list[dict[str, Any]]:
    """Runs every worker count of `args` on `storage`; returns one row per count."""
    rows: list[dict[str, Any]] = []
    for run, count in enumerate(args.workers):
        study_name = f"{args.study_prefix}-{run}-{count}w"
        with tempfile.TemporaryDirectory(prefix="ntk-nas-bench-") as tmp:
            folder = Path(tmp)
            commands = [
                worker_command(args, storage, study_name, folder / f"out{i}") for i in range(count)
            ]
            load = [round(x, 2) for x in os.getloadavg()]
            launched = datetime.datetime.now()
            cpu_before = _children_cpu_s()
            wall_s = run_workers(commands, folder, args.timeout_s)
            cpu_s = _children_cpu_s() - cpu_before
        with _loaded(storage, study_name) as trials:
            row = summarize(trials, workers=count, launched=launched, wall_s=wall_s)
        row["cpu_s"] = round(cpu_s, 1)
        row["cpu_s_per_trial"] = round(cpu_s / row["trials"], 2) if row["trials"] else None
        row["load_before"] = load
        row["study"] = study_name
        rows.append(row)
        _ratios(rows)
        print(json.dumps(row), flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--trials", type=int, default=40, help="total scored trials per run")
    parser.add_argument(
        "--storage",
        default=None,
        help="RDB URL of a server to use (default: start a throwaway one)",
    )
    parser.add_argument(
        "--study-prefix",
        default=f"bench-workers-{int(time.time())}",
        help="study NAME is PREFIX-<run>-<W>w: a fresh one per run (a count may repeat)",
    )
    parser.add_argument("--space", default="nb201")
    parser.add_argument("--scorer", default="ntk_cond:repeats=1")
    parser.add_argument("--data", default="cifar10")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--build", action="append", default=None, metavar="KEY=VALUE")
    parser.add_argument("--timeout-s", type=float, default=3600, help="per worker count")
    parser.add_argument("--out", type=Path, default=None, help="JSON file for all figures")
    args = parser.parse_args(argv)
    args.build = args.build if args.build is not None else ["C=8", "N=1"]
    if min(args.workers) < 1 or args.trials < 1:
        parser.error("--workers and --trials must be at least 1")
    with contextlib.ExitStack() as stack:
        try:
            storage = args.storage or stack.enter_context(postgres_server())
        except PostgresUnavailable as error:
            raise SystemExit(f"bench_workers: {error}; or pass --storage URL") from None
        rows = bench(args, storage)
    table = markdown(rows)
    print(table)
    if args.out is not None:
        settings = {k: v for k, v in vars(args).items() if k not in ("out", "storage")}
        settings["storage"] = plugin.mask_password(args.storage) if args.storage else "throwaway"
        settings[CACHE_ENV] = os.environ.get(CACHE_ENV)
        report = {"machine": _machine(), "settings": settings, "rows": rows, "table": table}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    main()
