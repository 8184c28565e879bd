"""NAS-Bench-201: TE-NAS's pruning search in the masked supernet, with any training-free scores.

TE-NAS does not sample cells: it starts from the supernet with every op but ``none`` on every edge
(each active op weighted equally), and in each round, for every op still on an edge with more
than one, scores the supernet without that op. Per score, the removals are ranked (the supernet
with the best score after the removal ranks first); on every edge, the op whose removal has the
best combined rank is pruned. After three rounds one op is left on each edge: the pick. A round
scores at most 6 x 4 supernets, a search 54 in all (with ``none`` kept: 6 x 5, 84), against
TE-NAS's 1,558 GPU-seconds for the same search with its NTK and linear-region scores.

Each method is one search: components joined by ``+`` (sum of ranks, TE-NAS) or ``*`` (sum of
log normalised ranks, AZ-NAS), as in ``nb201_search.py``. Supernets are scored once per seed
and shared by every method that reaches them. The scorers must score a supernet as a function
(``mask_invariant``: the NTK and AZ-NAS scorers); ``params`` counts the parameters of the ops
still active (a one-hot mask counts the built cell's parameters). Each seed draws its own batch
(``--data``) and initialisation.

Outputs in ``--out``: ``prune.csv`` (one row per method and seed; a rerun skips pairs already
there), ``prune.json`` and ``table.md`` (also printed).

    python experiments/nb201_prune.py --seeds 5 --out runs/nb201_prune
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

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
PARAMS = "params"
COLUMNS = ("method", "seed", "scored", "arch_index", "arch_str", *nb201_search.DATASETS, "wall_s")

#: ``(edge, op)`` of a removal: indices into `search_spaces.nb201.EDGES` and `.OPS`.
Removal = tuple[int, int]
#: Scores of supernets: ``masks (k, edges, ops) -> {scorer name: (values (k,), seconds (k,))}``.
ScoreMasks = Callable[[np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]]


# ----------------------------------------------------------------------------- pruning


def initial_active(keep_none: bool = False) -> np.ndarray:
    """``(edges, ops)`` booleans: every op active on every edge, ``none`` only if `keep_none`."""
    from search_spaces.nb201 import EDGES, OPS

    active = np.ones((len(EDGES), len(OPS)), bool)
    active[:, OPS.index("none")] = keep_none
    return active


def supernet_weights(active: np.ndarray) -> np.ndarray:
    """``(edges, ops)`` float32 op weights: each edge's active ops equally, summing to 1 (the
    softmax of TE-NAS's architecture parameters with the pruned ones at minus infinity)."""
    if not active.any(axis=1).all():
        raise ValueError(f"every edge needs an active op, got {active.astype(int).tolist()}")
    return (active / active.sum(axis=1, keepdims=True)).astype(np.float32)


def removals(active: np.ndarray) -> list[Removal]:
    """Every ``(edge, op)`` that can be pruned: active ops of edges with more than one."""
    return [
        (int(e), int(o)) for e, o in zip(*np.nonzero(active), strict=True) if active[e].sum() > 1
    ]


def without(active: np.ndarray, removal: Removal) -> np.ndarray:
    """`active` with the op of `removal` switched off."""
    pruned = active.copy()
    pruned[removal] = False
    return pruned


def prune_round(
    active: np.ndarray,
    components: Sequence[str],
    directions: Mapping[str, Any],
    score_masks: ScoreMasks,
    *,
    log: bool,
) -> tuple[np.ndarray, float]:
    """One round: on every edge with several ops, prunes the op whose removal ranks best.

    Returns:
      The new active ops and the seconds the round's scores took.
    """
    from scorers import rank_sum

    candidates = removals(active)
    masks = np.stack([without(active, r) for r in candidates])
    scores = score_masks(masks)
    combined = rank_sum({n: scores[n][0] for n in components}, directions, log=log)
    seconds = float(sum(scores[n][1].sum() for n in components))
    pruned = active.copy()
    for edge in sorted({e for e, _ in candidates}):
        mine = [i for i, (e, _) in enumerate(candidates) if e == edge]
        best = max(mine, key=lambda i: combined[i])  # ties: the first op in OPS order
        pruned[candidates[best]] = False
    return pruned, seconds


def prune_search(
    components: Sequence[str],
    directions: Mapping[str, Any],
    score_masks: ScoreMasks,
    *,
    log: bool = False,
    keep_none: bool = False,
) -> tuple[tuple[str, ...], int, float]:
    """Prunes the supernet down to one op per edge.

    Returns:
      The pick's ops (one per edge, in `EDGES` order), the number of supernets scored and the
      seconds their scores took.
    """
    from search_spaces.nb201 import OPS

    active, scored, seconds = initial_active(keep_none), 0, 0.0
    while (active.sum(axis=1) > 1).any():
        scored += len(removals(active))
        active, spent = prune_round(active, components, directions, score_masks, log=log)
        seconds += spent
    return tuple(OPS[int(o)] for o in active.argmax(axis=1)), scored, seconds


# ----------------------------------------------------------------------------- scoring


def active_params(param_shapes: Any, active: np.ndarray) -> int:
    """Parameters of the supernet's active ops and of everything outside its edges.

    Args:
      param_shapes: the supernet's ``params`` tree (arrays or shape structs); an op's parameters
        sit under ``.../edge_{j}_{i}/{op}/...``.
      active: ``(edges, ops)`` booleans, the same for every cell.
    """
    import jax

    from search_spaces.nb201 import EDGES, OPS

    edge_index = {f"edge_{j}_{i}": e for e, (j, i) in enumerate(EDGES)}
    total = 0
    for path, leaf in jax.tree_util.tree_leaves_with_path(param_shapes):
        names = [str(getattr(k, "key", k)) for k in path]
        edge = next((n for n in names if n in edge_index), None)
        if edge is not None:
            op = names[names.index(edge) + 1]
            if not active[edge_index[edge], OPS.index(op)]:
                continue
        total += math.prod(leaf.shape)
    return total


def mask_scorer(
    scorer_list: Sequence[Any], module: Any, batch: Any, key: Any, param_shapes: Any
) -> ScoreMasks:
    """`ScoreMasks` for `scorer_list` in the masked supernet `module`, caching every supernet's
    scores (so methods of one seed share them)."""
    from search_spaces.nb201 import MASK_COLLECTION

    cache: dict[bytes, dict[str, tuple[float, float]]] = {}

    def score_masks(masks: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        new = [m for m in {m.tobytes(): m for m in masks}.values() if m.tobytes() not in cache]
        if new:
            found: list[dict[str, tuple[float, float]]] = [{} for _ in new]
            for scorer in scorer_list:
                if scorer.name == PARAMS:
                    for entry, m in zip(found, new, strict=True):
                        entry[PARAMS] = (float(active_params(param_shapes, m)), 0.0)
                    continue
                variables = [{MASK_COLLECTION: {"ops": supernet_weights(m)}} for m in new]
                scores = scorer.score_many(module, variables, batch, key=key)
                for entry, score in zip(found, scores, strict=True):
                    entry[scorer.name] = (score.value, score.extras["seconds"])
            cache.update((m.tobytes(), entry) for m, entry in zip(new, found, strict=True))
        rows = [cache[m.tobytes()] for m in masks]
        return {
            s.name: (np.array([r[s.name][0] for r in rows]), np.array([r[s.name][1] for r in rows]))
            for s in scorer_list
        }

    return score_masks


def check_scorers(scorer_list: Sequence[Any]) -> None:
    """SystemExit unless every scorer scores a supernet as a function (or is ``params``)."""
    unfit = [
        s.name for s in scorer_list if s.name != PARAMS and not getattr(s, "mask_invariant", False)
    ]
    if unfit:
        raise SystemExit(
            f"--scorers {', '.join(unfit)} cannot score a pruned supernet (they are not "
            "mask_invariant: they read every op, used or not); use the NTK or AZ-NAS scorers"
        )


def seed_rows(
    args: argparse.Namespace,
    seed: int,
    methods: Mapping[str, tuple[str, ...]],
    accuracies: Mapping[str, Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Runs every method's pruning search with `seed`; one row per method. Only the scorers
    that the methods use score."""
    import jax
    import jax.numpy as jnp

    from ntk_nas.study import resolve_batch, resolve_scorers
    from search_spaces.nb201 import NB201Arch, NB201Space, to_str

    used = {name for components in methods.values() for name in components}
    scorer_list = [s for s in resolve_scorers(list(args.scorers)) if s.name in used]
    check_scorers(scorer_list)
    directions = {s.name: s.direction for s in scorer_list}
    batch, num_classes = resolve_batch(args.data, args.batch_size, seed)
    module = NB201Space().masked(num_classes=num_classes, **args.build_options).module
    key = jax.random.key(seed)
    shapes = jax.eval_shape(module.init, key, jnp.asarray(batch[0][:1]))["params"]
    score_masks = mask_scorer(scorer_list, module, batch, key, shapes)
    rows = []
    for method, components in methods.items():
        ops, scored, seconds = prune_search(
            components,
            directions,
            score_masks,
            log=nb201_search.uses_log_rule(method),
            keep_none=args.keep_none,
        )
        arch = to_str(NB201Arch(ops))
        truth = nb201_search.lookup(accuracies, arch, args.accuracies)
        print(
            f"seed {seed}: {method} picked {arch} (CIFAR-10 {truth['cifar10']:.2f}); "
            f"{scored} supernets, {seconds:.1f} s",
            flush=True,
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
    parser.add_argument("--keep-none", action="store_true", help="let 'none' ops compete too")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be positive, got {args.seeds}")
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
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from ntk_nas.study import StudyError, resolve_scorers

    try:
        scorer_names = [s.name for s in resolve_scorers(list(args.scorers))]
    except (StudyError, ValueError) as error:
        raise SystemExit(f"bad --scorers: {error}") from None
    methods = nb201_search.parse_methods(args.methods, scorer_names)
    if nb201_search.RANDOM in methods:
        raise SystemExit("'random' is not a pruning method; nb201_search.py has it")
    accuracies = read_accuracies(args.accuracies)
    args.out.mkdir(parents=True, exist_ok=True)
    nb201_search.check_settings(args.out, settings(args))
    path = args.out / "prune.csv"
    rows = nb201_search.read_rows(path, COLUMNS)
    start = time.perf_counter()
    for seed in range(args.seeds):
        done = {r["method"] for r in rows if r["seed"] == seed}
        todo = {m: c for m, c in methods.items() if m not in done}
        if todo:
            new = seed_rows(args, seed, todo, accuracies)
            rows += new
            nb201_search.write_rows(path, rows, COLUMNS)
    wanted = [r for r in rows if r["seed"] < args.seeds and r["method"] in methods]
    summary = nb201_search.summarise(wanted, methods, [], accuracies)
    report = {
        "settings": {**settings(args), "seeds": args.seeds, "methods": methods},
        **summary,
        "published": nb201_search.PUBLISHED,
        "rows": wanted,
        "seconds_this_run": time.perf_counter() - start,
    }
    nb201_search.publish(args.out / "prune.json", report, summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
