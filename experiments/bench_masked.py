"""NAS-Bench-201 architectures scored per second, built one by one or in the masked supernet.

Scores the same `--archs` sampled NAS-Bench-201 cells with `--scorer` (``ntk_cond`` by default;
any mask-invariant scorer, e.g. ``naswot``) on up to four paths per BatchNorm mode (``eval``:
running statistics; ``decoupled``: batch statistics held constant; ``train``: batch statistics
differentiated through, which couples the samples):
``standalone`` builds, traces and compiles each network; ``masked`` selects each cell in the
space's masked supernet, whose compiled scorer serves them all; ``masked_batched`` scores
`--archs-per-call` cells per call of that scorer; ``masked_devices`` also spreads each call's
cells over every local device (one per device at a time). One extra call is made first on
each path and not counted, so one-off costs (JAX's backend, the supernet's compilation, eager
initialiser primitives) stay out of the rates. Prints one JSON line per path and mode (rate,
seconds, XLA compilations and their seconds; the seconds and compilations of the uncounted
first call; each cell's ``log10`` score), then one line per mode with each path's speed-up
over the first of ``--paths`` and the largest difference of the scores' ``log10``. The first
line names the machine.

    python experiments/bench_masked.py --quick      # 20 cells, C=8, N=1, batch 16: minutes on a CPU
    python experiments/bench_masked.py              # 200 cells, the benchmark's C=16, N=5, batch 64
    python experiments/bench_masked.py --quick --scorer naswot --bn train --paths standalone masked
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

try:  # run as a script (python experiments/bench_masked.py) or imported as a module
    from experiments.nb201_correlation import parse_build
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from experiments.nb201_correlation import parse_build

import ntk_nas
import scorers
import search_spaces
from ntk_nas import study
from ntk_nas.data import load_dataset, sample_batch

PATHS = ("standalone", "masked", "masked_batched", "masked_devices")


def score_path(
    space: search_spaces.SearchSpace,
    archs: Sequence[Any],
    scorer: scorers.Scorer,
    batch: tuple[np.ndarray, np.ndarray],
    build_options: dict[str, Any],
    *,
    masked: bool,
    per_call: int = 1,
    devices: Sequence[jax.Device] | None = None,
) -> tuple[dict[str, Any], list[float]]:
    """Scores the first `per_call` archs (warm-up, not counted) then all but the first,
    `per_call` at a time (spread over `devices` when given); returns the figures and scores."""
    form = study.masked_form(space, build_options, supernet=masked)
    if masked and form is None:
        raise SystemExit(f"space {space.name!r} has no masked supernet")

    def score(chunk: Sequence[Any]) -> list[float]:
        figures = study.evaluate_many(
            space,
            chunk,
            [scorer],
            batch,
            seed=0,
            build_options=build_options,
            masked=form,
            devices=devices,
        )
        return [f[scorer.name] for f in figures]

    with ntk_nas.count_compilations() as warm_up:
        start = time.perf_counter()
        score(archs[:per_call])
        warm_up_seconds = time.perf_counter() - start
    with ntk_nas.count_compilations() as compiled:
        start = time.perf_counter()
        values = [v for i in range(1, len(archs), per_call) for v in score(archs[i : i + per_call])]
        seconds = time.perf_counter() - start
    figures = {
        "archs_per_s": round(len(values) / seconds, 4),
        "seconds": round(seconds, 2),
        "compilations": compiled.count,
        "compile_seconds": round(compiled.seconds, 2),
        "warm_up_seconds": round(warm_up_seconds, 2),
        "warm_up_compilations": warm_up.count,
    }
    return figures, values


def make_scorer(name: str, bn: str, **options: Any) -> scorers.Scorer:
    """Registry scorer `name` with BatchNorm mode `bn`, and those of `options` that it takes
    (e.g. ``repeats``, the NTK ``implementation`` and ``precision``); exits with a message for a
    bad name, mode or option, or a scorer without a masked form."""
    try:
        default = scorers.get(name)
    except scorers.ScorerError as error:
        raise SystemExit(f"bad --scorer: {error}") from None
    if not getattr(default, "mask_invariant", False):
        raise SystemExit(f"--scorer {name} cannot score the masked supernet (not mask_invariant)")
    taken = {option: value for option, value in options.items() if hasattr(default, option)}
    try:
        return scorers.get(name, bn=bn, **taken)
    except scorers.ScorerError as error:
        raise SystemExit(f"bad --scorer/--bn/--implementation/--precision: {error}") from None


def _log10(values: Sequence[float]) -> np.ndarray:
    return np.array([math.log10(v) if 0 < v < math.inf else math.nan for v in values])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", type=int, default=200, help="cells scored per path and mode")
    parser.add_argument("--batch-size", type=int, default=64, help="NTK batch size N")
    parser.add_argument(
        "--build", action="append", default=["C=16,N=5"], help="network size, e.g. C=8,N=1"
    )
    parser.add_argument(
        "--bn",
        nargs="+",
        default=["eval", "decoupled", "train"],
        choices=["eval", "decoupled", "train"],
        help="BatchNorm modes of the scorer",
    )
    parser.add_argument("--scorer", default="ntk_cond", help="a mask-invariant registry scorer")
    parser.add_argument(
        "--repeats", type=int, default=1, help="initialisations per score, if the scorer has them"
    )
    parser.add_argument(
        "--implementation", default="auto", help="the NTK engine's implementation, for NTK scorers"
    )
    parser.add_argument(
        "--precision",
        default="float32",
        choices=[p for p in ntk_nas.PRECISIONS if p],
        help="the NTK engine's precision of float32 products, for NTK scorers",
    )
    parser.add_argument(
        "--archs-per-call", type=int, default=8, help="cells per call on the masked_batched path"
    )
    parser.add_argument(
        "--paths", nargs="+", default=list(PATHS), choices=PATHS, help="the paths to measure"
    )
    parser.add_argument("--seed", type=int, default=0, help="draws the cells and the batch")
    parser.add_argument("--quick", action="store_true", help="20 cells, C=8, N=1, batch 16")
    args = parser.parse_args(argv)
    if args.quick:
        args.archs, args.batch_size, args.build = 20, 16, ["C=8,N=1"]
    args.build_options = parse_build(args.build)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    scorer_of = {
        bn: make_scorer(
            args.scorer,
            bn,
            repeats=args.repeats,
            implementation=args.implementation,
            precision=args.precision,
        )
        for bn in args.bn
    }
    x, y = sample_batch(load_dataset("cifar10"), args.batch_size, seed=args.seed)
    space = search_spaces.get("nb201", input_shape=tuple(x.shape[1:]))
    rng = np.random.default_rng(args.seed)
    archs = [space.sample(rng) for _ in range(args.archs + 1)]
    build_options = {"num_classes": 10, **args.build_options}
    machine = {
        "platform": platform.platform(),
        "devices": [str(d) for d in jax.devices()],
        "jax": jax.__version__,
    }
    print(json.dumps(machine), flush=True)
    for bn in args.bn:
        scorer = scorer_of[bn]
        rates, logs = {}, {}
        for path in args.paths:
            figures, values = score_path(
                space, archs, scorer, (x, y), build_options,
                masked=path != "standalone",
                per_call=1 if path in ("standalone", "masked") else args.archs_per_call,
                devices=jax.local_devices() if path == "masked_devices" else None,
            )  # fmt: skip
            rates[path], logs[path] = figures["archs_per_s"], _log10(values)
            row = {"path": path, "bn": bn, "archs": args.archs, "batch_size": args.batch_size}
            row["implementation"] = getattr(scorer, "implementation", None)
            row["precision"] = getattr(scorer, "precision", None)
            log10 = [round(v, 5) for v in logs[path].tolist()]
            print(json.dumps({**row, **build_options, **figures, "log10": log10}), flush=True)
        base, *others = args.paths
        summary: dict[str, Any] = {"bn": bn}
        for path in others:
            summary[f"speedup_{path}_over_{base}"] = round(rates[path] / rates[base], 2)
            summary[f"max_abs_diff_log10_{scorer.name}_{path}"] = float(
                np.nanmax(np.abs(logs[path] - logs[base]))
            )
            summary[f"same_finite_cells_{path}"] = bool(
                np.array_equal(np.isnan(logs[path]), np.isnan(logs[base]))
            )
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
