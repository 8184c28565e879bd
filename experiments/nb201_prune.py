"""NAS-Bench-201: TE-NAS's pruning search (`ntk_nas.pruning`) with any training-free scores,
against the benchmark's accuracies.

The search starts from the supernet with every op but ``none`` on every edge and prunes one op
per edge and round, by the combined rank of the scores of the supernets without each op, until
one op is left per edge: 54 supernets (with ``--keep-none``, 84), against TE-NAS's 1,558
GPU-seconds for the same search with its NTK and linear-region scores.

Each method is one search: components joined by ``+`` (sum of ranks, TE-NAS) or ``*`` (sum of
log normalised ranks, AZ-NAS), as in ``nb201_search.py``. Supernets are scored once per seed
and shared by every method that reaches them. The scorers must score a supernet as a function
(``mask_invariant``: the NTK and AZ-NAS scorers); ``params`` counts the parameters of the ops
still active. Each seed draws its own batch (``--data``) and initialisation.

``--regions M`` adds TE-NAS's linear-region count as the score ``regions``
(`ntk_nas.pruning.region_scores`: `linear_regions` of TE-NAS's thin supernet, one cell of ``C=1``
channels, no stem, ``depth=1``, on M random 3x3 one-channel crops of ``--data`` images; TE-NAS:
3000), drawn per seed. TE-NAS's own pair is the
method ``ntk_cond+regions``.

Outputs in ``--out``: ``prune.csv`` (one row per method and seed; a rerun skips pairs already
there), ``prune.json`` and ``table.md`` (also printed), and the scores of each supernet as it is
scored, per seed and set of scorers (``supernets_seed<S>_*.jsonl``: a seed stopped part way
resumes from them).

    python experiments/nb201_prune.py --seeds 5 --out runs/nb201_prune
    python experiments/nb201_prune.py --regions 3000 --scorers ntk_cond:repeats=1 \
        --methods ntk_cond+regions regions --out runs/nb201_prune_tenas
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

try:  # run as a script (python experiments/nb201_prune.py) or imported as a module
    from experiments import nb201_search
    from experiments.nb201_correlation import parse_build, read_accuracies
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from experiments import nb201_search
    from experiments.nb201_correlation import parse_build, read_accuracies

DEFAULT_SCORERS = ("ntk_cond:repeats=1", "params", "expressivity", "progressivity", "trainability")
DEFAULT_METHODS = (
    "ntk_cond",
    "ntk_cond+params",
    "expressivity*progressivity*trainability*params",
    "ntk_cond*expressivity*progressivity*trainability*params",
)
REGIONS = "regions"  # ntk_nas.pruning.REGIONS, without importing JAX for --help
COLUMNS = ("method", "seed", "scored", "arch_index", "arch_str", *nb201_search.DATASETS, "wall_s")


def seed_rows(
    args: argparse.Namespace,
    seed: int,
    methods: Mapping[str, tuple[str, ...]],
    accuracies: Mapping[str, Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Runs every method's pruning search with `seed`; one row per method. Only the scorers
    that the methods use score."""
    import jax
    from tqdm.auto import tqdm

    from ntk_nas import pruning
    from ntk_nas.data import load_dataset
    from ntk_nas.study import resolve_batch, resolve_scorers
    from search_spaces.nb201 import RELAXATION, NB201Space, to_str

    used = {name for components in methods.values() for name in components}
    scorer_list = [s for s in resolve_scorers(list(args.scorers)) if s.name in used]
    directions = {s.name: s.direction for s in scorer_list}
    batch, num_classes = resolve_batch(args.data, args.batch_size, seed)
    masked = NB201Space().masked(num_classes=num_classes, **args.build_options)
    key = jax.random.key(seed)
    start = pruning.initial_active(RELAXATION, () if args.keep_none else ("none",))
    stored = {**settings(args), "seed": seed, "scored": sorted(repr(s) for s in scorer_list)}
    digest = hashlib.sha256(json.dumps(stored, sort_keys=True).encode()).hexdigest()[:12]
    with tqdm(
        total=pruning.supernets_to_score(start) * len(methods),
        desc=f"seed {seed}: supernets",
        disable=args.quiet,
    ) as bar:
        score: pruning.ScoreActive = pruning.SupernetScores(
            masked,
            scorer_list,
            batch,
            key=key,
            repeats=args.repeats,
            store=args.out / f"supernets_seed{seed}_{digest}.jsonl",
            settings=stored,
            on_scored=bar.update,
        )
        if REGIONS in used:
            dataset, crops = load_dataset(args.data), args.regions
            counts = pruning.region_scores(
                "nb201",
                dataset,
                crops,
                num_classes=num_classes,
                key=key,
                seed=seed,
                repeats=args.repeats,
                store=args.out / f"supernets_seed{seed}_{REGIONS}.jsonl",
                settings={**settings(args), "seed": seed},
            )
            score = pruning.joined(score, counts)
            directions[REGIONS] = counts.scorers[0].direction
        rows = []
        for method, components in methods.items():
            found = pruning.prune_search(
                start, components, directions, score, log=nb201_search.uses_log_rule(method)
            )
            arch, scored, seconds = (
                to_str(RELAXATION.arch(found.choice)),
                found.scored,
                found.seconds,
            )
            truth = nb201_search.lookup(accuracies, arch, args.accuracies)
            bar.write(
                f"seed {seed}: {method} picked {arch} (CIFAR-10 {truth['cifar10']:.2f}); "
                f"{scored} supernets, {seconds:.1f} s"
            )
            rows.append(
                {
                    "method": method,
                    "seed": seed,
                    "scored": scored,
                    "arch_index": truth["arch_index"],
                    "arch_str": arch,
                    **{t: truth[t] for t in nb201_search.DATASETS},
                    "wall_s": seconds,
                }
            )
    return rows


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    nb201_search.add_search_arguments(
        parser,
        scorers=DEFAULT_SCORERS,
        methods=DEFAULT_METHODS,
        out=Path("runs/nb201_prune"),
        scorers_help="mask-invariant registry scorers (NAME or NAME:key=value,...) and 'params'",
    )
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds F..F+S-1 instead of 0..S-1"
    )
    parser.add_argument("--keep-none", action="store_true", help="let 'none' ops compete too")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--repeats", type=int, default=1, help="average each score over R initialisations"
    )
    parser.add_argument(
        "--regions",
        type=int,
        default=0,
        metavar="M",
        help=f"add '{REGIONS}': TE-NAS's linear-region count on M 3x3 crops (TE-NAS: 3000)",
    )
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.repeats < 1 or args.regions < 0 or args.first_seed < 0:
        parser.error(
            "--seeds and --repeats must be positive and --regions and --first-seed not "
            f"negative, got {args.seeds}, {args.repeats}, {args.regions}, {args.first_seed}"
        )
    args.build_options = parse_build(args.build)
    return args


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """What the picks depend on; a rerun in the same --out must match."""
    return {
        "space": "nb201",
        "search": "TE-NAS pruning",
        "scorers": list(args.scorers),
        "build": args.build_options,
        "batch_size": args.batch_size,
        "data": args.data,
        "keep_none": args.keep_none,
        "repeats": args.repeats,
        **({"regions": args.regions} if args.regions else {}),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from ntk_nas.pruning import check_prunable
    from ntk_nas.study import StudyError, resolve_scorers

    try:
        scorer_list = resolve_scorers(list(args.scorers))
        check_prunable(scorer_list)
    except (StudyError, ValueError) as error:
        raise SystemExit(f"bad --scorers: {error}") from None
    scorer_names = [s.name for s in scorer_list] + ([REGIONS] if args.regions else [])
    if args.regions and REGIONS in scorer_names[:-1]:
        raise SystemExit(f"bad --scorers: '{REGIONS}' is the name of --regions' score")
    methods = nb201_search.parse_methods(args.methods, scorer_names)
    if nb201_search.RANDOM in methods:
        raise SystemExit("'random' is not a pruning method; nb201_search.py has it")
    accuracies = read_accuracies(args.accuracies)
    args.out.mkdir(parents=True, exist_ok=True)
    nb201_search.check_settings(args.out, settings(args))
    path = args.out / "prune.csv"
    rows = nb201_search.read_rows(path, COLUMNS)
    start = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for seed in seeds:
        done = {r["method"] for r in rows if r["seed"] == seed}
        todo = {m: c for m, c in methods.items() if m not in done}
        if todo:
            new = seed_rows(args, seed, todo, accuracies)
            rows += new
            nb201_search.write_rows(path, rows, COLUMNS)
    wanted = [r for r in rows if r["seed"] in seeds and r["method"] in methods]
    summary = nb201_search.summarise(wanted, methods, [], accuracies)
    report = {
        "settings": {**settings(args), "seeds": list(seeds), "methods": methods},
        **summary,
        "published": nb201_search.PUBLISHED,
        "rows": wanted,
        "seconds_this_run": time.perf_counter() - start,
    }
    nb201_search.publish(args.out / "prune.json", report, summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
