"""TE-NAS's pruning search: a space's relaxed supernet pruned down to one op per decision.

TE-NAS (Chen, Gong, Wang, ICLR 2021) does not sample architectures. It starts from the supernet
with every op on every edge, each edge's active ops weighted equally. Each round it scores the
supernet without each op that is still on an edge with more than one, ranks those removals per
score (the supernet with the best score after the removal first), and on every edge prunes the
op whose removal has the best combined rank, until one op is left per edge. On NAS-Bench-201
(ops but ``none``) that is 24 + 18 + 12 = 54 supernets, all in one compiled masked supernet.

Any scorer that scores a supernet as a function (``mask_invariant``: the NTK, AZ-NAS and ReLU-code
scorers) can drive it; `scorers.Params` counts the parameters of the ops still active. TE-NAS's
own second score, the linear-region count of a thin supernet on small crops, is `region_scores`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

import scorers as scorer_registry
from ntk_nas.data import Dataset, load_dataset, random_crops
from ntk_nas.study import (
    Batch,
    StudyError,
    resolve_batch,
    resolve_scorers,
    resolve_space,
    score_all,
)
from scorers import Scorer
from search_spaces import MaskedForm, Relaxation, SearchSpace

#: A removal ``(decision, option)``: indices into a `Relaxation`'s decisions and options.
Removal = tuple[int, int]
#: Scores of supernets: active ops ``(k, D, K)`` booleans -> ``{scorer name: (values (k,),
#: seconds (k,))}``.
ScoreActive = Callable[[np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]]
Rule = Literal["sum", "log"]
RULES: tuple[Rule, ...] = ("sum", "log")
#: Ops that `prune` leaves out from the start, as TE-NAS's prune_tenas.py does. With ``none``
#: competing, NAS-Bench-201 picks kept it on about half the edges and some cut the input off
#: (README, "TE-NAS's pruning search").
EXCLUDED = ("none",)
#: The name of TE-NAS's linear-region score (`region_scores`).
REGIONS = "regions"
#: TE-NAS counts linear regions in a thin supernet, one cell of one channel without a stem
#: (``model_config_thin`` of its prune_tenas.py), ...
THIN_OPTIONS: Mapping[str, Any] = {"C": 1, "N": 1, "depth": 1, "stem": False}
#: ... on random one-channel crops of this height and width (its ``RandChannel`` transform).
CROP_SIZE = 3


def initial_active(relaxation: Relaxation[Any], exclude: Sequence[str] = ()) -> np.ndarray:
    """``(D, K)`` booleans: every option of every decision but those named in `exclude` (a
    decision keeps them all if excluding them would leave it empty)."""
    width = max(len(options) for options in relaxation.options)
    active = np.zeros((len(relaxation.options), width), bool)
    for d, options in enumerate(relaxation.options):
        kept = [o not in exclude for o in options]
        active[d, : len(options)] = kept if any(kept) else True
    return active


def supernet_weights(active: np.ndarray) -> np.ndarray:
    """``(D, K)`` float32 op weights: each decision's active ops equally, summing to 1 (the
    softmax of TE-NAS's architecture parameters with the pruned ones at minus infinity)."""
    if not active.any(axis=1).all():
        raise StudyError(f"every decision needs an active op, got {active.astype(int).tolist()}")
    return (active / active.sum(axis=1, keepdims=True)).astype(np.float32)


def removals(active: np.ndarray) -> list[Removal]:
    """Every removal still possible: the active ops of decisions with more than one."""
    return [
        (int(d), int(o)) for d, o in zip(*np.nonzero(active), strict=True) if active[d].sum() > 1
    ]


def without(active: np.ndarray, removal: Removal) -> np.ndarray:
    """`active` with the op of `removal` switched off."""
    pruned = active.copy()
    pruned[removal] = False
    return pruned


def supernets_to_score(active: np.ndarray) -> int:
    """How many supernets a search from `active` scores: one per removal in every round."""
    counts = active.sum(axis=1)
    total = 0
    while (counts > 1).any():
        total += int(counts[counts > 1].sum())
        counts = np.where(counts > 1, counts - 1, counts)
    return total


def active_params(param_shapes: Any, relaxation: Relaxation[Any], active: np.ndarray) -> int:
    """Parameters of the supernet's active ops and of everything outside its decisions.

    Args:
      param_shapes: the supernet's ``params`` tree (arrays or shape structs).
      relaxation: says which op holds each parameter (`Relaxation.owner`).
      active: ``(D, K)`` booleans.
    """
    total = 0
    for path, leaf in jax.tree_util.tree_leaves_with_path(param_shapes):
        owner = relaxation.owner([str(getattr(k, "key", k)) for k in path])
        if owner is None or active[owner]:
            total += math.prod(leaf.shape)
    return total


def check_prunable(scorers: Sequence[Scorer]) -> None:
    """Raises `StudyError` unless every scorer scores a supernet as a function of its active
    ops: ``mask_invariant`` scorers, and `scorers.Params`."""
    unfit = [
        s.name
        for s in scorers
        if not isinstance(s, scorer_registry.Params) and not getattr(s, "mask_invariant", False)
    ]
    if unfit:
        raise StudyError(
            f"scorer {', '.join(unfit)} cannot score a pruned supernet (not mask_invariant: it "
            "reads every op, used or not); use the NTK, AZ-NAS or ReLU-code scorers, or params"
        )


class SupernetScores:
    """`ScoreActive` for `scorers` in a relaxed supernet, each supernet scored once (so several
    searches from the same key and batch share their scores), optionally kept in a file.

    Args:
      masked: a masked form with a `Relaxation`.
      scorers: mask-invariant scorers or `scorers.Params` (see `check_prunable`).
      batch: the scoring batch ``(x, y)``.
      key: initialises the supernet (every scorer's key).
      repeats: average each score over this many initialisations (`key`, then keys folded from
        it), for less noisy removals.
      store: a JSON-lines file that every `chunk` of supernets' scores is appended to, and read
        back from when it exists (so an interrupted search resumes); its first line holds
        `settings`, which must match.
      settings: what the scores depend on besides the ops (see `prune`), to check `store`.
      on_scored: told how many supernets each chunk scored (or found in `store`).
      chunk: supernets scored per call of a scorer's ``score_many``.
    """

    def __init__(
        self,
        masked: MaskedForm[Any],
        scorers: Sequence[Scorer],
        batch: Batch,
        *,
        key: jax.Array,
        repeats: int = 1,
        store: Path | None = None,
        settings: Mapping[str, Any] | None = None,
        on_scored: Callable[[int], None] | None = None,
        chunk: int = 8,
    ) -> None:
        if masked.relaxation is None:
            raise StudyError("this masked supernet cannot weigh several ops per decision")
        if repeats < 1:
            raise StudyError(f"repeats must be a positive integer, got {repeats}")
        check_prunable(scorers)
        self.masked, self.relaxation = masked, masked.relaxation
        self.scorers, self.batch = list(scorers), batch
        self.keys = [key, *(jax.random.fold_in(key, r) for r in range(1, repeats))]
        x = jnp.asarray(batch[0][:1])
        self.param_shapes = jax.eval_shape(masked.module.init, key, x)["params"]
        self.store, self.on_scored, self.chunk = store, on_scored, chunk
        self._cache: dict[bytes, dict[str, tuple[float, float]]] = {}
        if store is not None:
            self._open(store, dict(settings or {}))

    def _open(self, store: Path, settings: dict[str, Any]) -> None:
        """Reads the scores already in `store`, or starts it with `settings`."""
        if not store.exists() or store.stat().st_size == 0:
            store.parent.mkdir(parents=True, exist_ok=True)
            store.write_text(json.dumps({"settings": settings}) + "\n")
            return
        lines = store.read_text().splitlines()
        if json.loads(lines[0]).get("settings") != settings:
            raise StudyError(
                f"{store} holds scores for other settings than {settings}; use another output "
                "folder or delete it"
            )
        for line in lines[1:]:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by an interruption
                continue
            active = np.array(row["active"], bool)
            self._cache[active.tobytes()] = {n: tuple(v) for n, v in row["scores"].items()}

    def __call__(self, active: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        new = {a.tobytes(): a for a in active if a.tobytes() not in self._cache}
        if self.on_scored is not None and len(active) > len(new):
            self.on_scored(len(active) - len(new))
        todo = list(new.values())
        for start in range(0, len(todo), self.chunk):
            self._score(todo[start : start + self.chunk])
        rows = [self._cache[a.tobytes()] for a in active]
        return {
            s.name: (np.array([r[s.name][0] for r in rows]), np.array([r[s.name][1] for r in rows]))
            for s in self.scorers
        }

    def _score(self, active: list[np.ndarray]) -> None:
        found: list[dict[str, tuple[float, float]]] = [{} for _ in active]
        for scorer in self.scorers:
            if isinstance(scorer, scorer_registry.Params):
                for entry, a in zip(found, active, strict=True):
                    entry[scorer.name] = (
                        float(active_params(self.param_shapes, self.relaxation, a)),
                        0.0,
                    )
                continue
            variables = [self.relaxation.weigh(supernet_weights(a)) for a in active]
            module = self.masked.module
            runs = [score_all(scorer, module, variables, self.batch, k, None) for k in self.keys]
            for i, entry in enumerate(found):
                values = [run[i].value for run in runs]
                seconds = sum(run[i].extras["seconds"] for run in runs)
                entry[scorer.name] = (float(np.mean(values)), seconds)
        self._cache.update((a.tobytes(), entry) for a, entry in zip(active, found, strict=True))
        if self.store is not None:
            with self.store.open("a") as f:
                for a, entry in zip(active, found, strict=True):
                    f.write(json.dumps({"active": a.astype(int).tolist(), "scores": entry}) + "\n")
        if self.on_scored is not None:
            self.on_scored(len(active))


def region_scores(
    space: str,
    dataset: Dataset,
    count: int,
    *,
    num_classes: int,
    key: jax.Array,
    seed: int,
    repeats: int = 1,
    store: Path | None = None,
    settings: Mapping[str, Any] | None = None,
) -> SupernetScores:
    """TE-NAS's linear-region count as the score `REGIONS`: `scorers.LinearRegions` of the
    space's thin supernet (`THIN_OPTIONS`) on `count` random one-channel crops of `dataset`.

    Args:
      space: a registry name with a masked form that takes `THIN_OPTIONS` (NAS-Bench-201).
      dataset: images ``(N, H, W, C)`` to crop (TE-NAS: 3000 crops of the training set).
      count: crops, drawn from `seed`.
      num_classes: output classes of the thin supernet.
      key, repeats, store, settings: as for `SupernetScores`.

    Raises:
      StudyError: a space without a thin masked supernet.
      DataError: `dataset` holds no images, or `count` is not positive.
    """
    crops = random_crops(dataset, count, size=CROP_SIZE, seed=seed)
    thin = resolve_space(space, crops).masked(num_classes=num_classes, **THIN_OPTIONS)
    if thin is None:
        raise StudyError(f"space {space!r} has no thin masked supernet to count regions in")
    counter = scorer_registry.LinearRegions(name=REGIONS)
    return SupernetScores(
        thin, [counter], crops, key=key, repeats=repeats, store=store, settings=settings
    )


def joined(*parts: ScoreActive) -> ScoreActive:
    """One `ScoreActive` with the scores of every part (parts score disjoint names)."""
    return lambda active: {name: v for part in parts for name, v in part(active).items()}


@dataclasses.dataclass(frozen=True)
class Pruning:
    """A finished pruning search.

    Attributes:
      choice: ``(D,)`` the option index left on each decision.
      rounds: per round, the removals made (one per decision that had several ops).
      scored: the number of supernets scored.
      seconds: the scoring seconds of the scores it combined (a supernet scored earlier for
        another search counts again).
    """

    choice: tuple[int, ...]
    rounds: tuple[tuple[Removal, ...], ...]
    scored: int
    seconds: float


def prune_round(
    active: np.ndarray,
    components: Sequence[str],
    directions: Mapping[str, Any],
    score: ScoreActive,
    *,
    log: bool,
) -> tuple[np.ndarray, tuple[Removal, ...], float]:
    """One round: on every decision with several ops, prunes the op whose removal ranks best by
    `components` (combined by `scorers.rank_sum`, with its `log` rule).

    Returns:
      The new active ops, the removals made and the seconds the round's scores took.
    """
    candidates = removals(active)
    scores = score(np.stack([without(active, r) for r in candidates]))
    combined = scorer_registry.rank_sum({n: scores[n][0] for n in components}, directions, log=log)
    made = []
    for decision in sorted({d for d, _ in candidates}):
        mine = [i for i, (d, _) in enumerate(candidates) if d == decision]
        made.append(candidates[max(mine, key=lambda i: combined[i])])  # ties: the first option
    pruned = active.copy()
    for removal in made:
        pruned[removal] = False
    return pruned, tuple(made), float(sum(scores[n][1].sum() for n in components))


def prune_search(
    active: np.ndarray,
    components: Sequence[str],
    directions: Mapping[str, Any],
    score: ScoreActive,
    *,
    log: bool = False,
) -> Pruning:
    """Prunes `active` ``(D, K)`` down to one op per decision (see `prune_round`)."""
    rounds, scored, seconds = [], 0, 0.0
    while (active.sum(axis=1) > 1).any():
        count = len(removals(active))
        active, made, spent = prune_round(active, components, directions, score, log=log)
        rounds.append(made)
        scored, seconds = scored + count, seconds + spent
    choice = tuple(int(o) for o in active.argmax(axis=1))
    return Pruning(choice, tuple(rounds), scored, seconds)


def batch_digest(batch: Batch) -> str:
    """The SHA-256 of a batch's inputs and labels (shapes, dtypes and values)."""
    digest = hashlib.sha256()
    for array in map(np.ascontiguousarray, batch):
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class Pruned:
    """The result of `prune`.

    Attributes:
      arch: the architecture left.
      rounds: per round, ``{decision name: op pruned}``.
      scored: the number of supernets scored.
      seconds: their scoring seconds.
    """

    arch: Any
    rounds: tuple[Mapping[str, str], ...]
    scored: int
    seconds: float


def prune(
    space: str | SearchSpace[Any],
    scorers: str | Scorer | Sequence[str | Scorer],
    data: str | Dataset | Batch = "cifar10",
    *,
    rule: Rule = "sum",
    exclude: Sequence[str] = EXCLUDED,
    seed: int = 0,
    repeats: int = 1,
    batch_size: int = 64,
    class_balanced: bool = False,
    build_options: Mapping[str, Any] | None = None,
    regions: int = 0,
    store: str | Path | None = None,
    show_progress: bool = True,
) -> Pruned:
    """TE-NAS's pruning search in the space's masked supernet (see the module docstring).

    Args:
      space: a registry name or a space whose masked form has a `Relaxation` (NAS-Bench-201).
      scorers: mask-invariant scorers (``"ntk_cond"``, ``"expressivity"``, ...) or ``"params"``.
      data: a data spec, a `Dataset` or a batch ``(x, y)``.
      rule: combine the scores' ranks by their sum (``"sum"``, TE-NAS) or the sum of their logs
        (``"log"``, AZ-NAS).
      exclude: ops left out from the start (``none`` by default: a cell without it).
      seed: draws the batch and initialises the supernet.
      repeats: average each score over this many initialisations.
      batch_size: samples scored.
      class_balanced: draw every class equally often into the batch.
      build_options: network options of the space (e.g. ``{"C": 8, "N": 1}``).
      regions: if positive, TE-NAS's linear-region count on this many crops of `data` (a spec
        or a `Dataset`) joins the scores as `REGIONS` (`region_scores`; TE-NAS: 3000).
      store: a JSON-lines file for every supernet's scores, appended to as they come; a rerun
        with the same space, sizes, batch, seed, repeats and scorers resumes from it (the
        region counts go beside it, in ``<stem>_regions<suffix>``).
      show_progress: a progress bar over the supernets scored.

    Raises:
      StudyError: a space without a relaxed supernet, a scorer that cannot score one, an
        unknown `rule`, or `regions` negative, asked of a batch, or clashing with a scorer's name.
    """
    if rule not in RULES:
        raise StudyError(f"unknown rule {rule!r}; valid: {', '.join(RULES)}")
    if regions < 0:
        raise StudyError(f"regions must be a count of crops (0 for none), got {regions}")
    if regions and isinstance(data, tuple):
        raise StudyError("regions crops the images of a data spec or a Dataset; got a batch")
    if isinstance(data, str):
        data = load_dataset(data, seed=seed)
    batch, num_classes = resolve_batch(data, batch_size, seed, class_balanced=class_balanced)
    space = resolve_space(space, batch)
    masked = space.masked(**{"num_classes": num_classes, **(build_options or {})})
    if masked is None or masked.relaxation is None:
        raise StudyError(f"space {space.name!r} has no masked supernet that can be pruned")
    relaxation = masked.relaxation
    scorer_list = resolve_scorers(scorers)
    names = [s.name for s in scorer_list]
    if regions and REGIONS in names:
        raise StudyError(f"a scorer is named {REGIONS!r}, the name of the region count; rename it")
    active = initial_active(relaxation, exclude)
    settings = {
        "space": space.name,
        "build": {k: repr(v) for k, v in sorted((build_options or {}).items())},
        "batch_sha256": batch_digest(batch),
        "seed": seed,
        "repeats": repeats,
        "scorers": [repr(s) for s in scorer_list],
    }
    key, store = jax.random.key(seed), None if store is None else Path(store)
    directions = {s.name: s.direction for s in scorer_list}
    with tqdm(total=supernets_to_score(active), desc="supernets", disable=not show_progress) as bar:
        score: ScoreActive = SupernetScores(
            masked,
            scorer_list,
            batch,
            key=key,
            repeats=repeats,
            store=store,
            settings=settings,
            on_scored=bar.update,
        )
        if regions:
            assert isinstance(data, Dataset)  # a batch was refused above
            counts = region_scores(
                space.name,
                data,
                regions,
                num_classes=num_classes,
                key=key,
                seed=seed,
                repeats=repeats,
                store=None if store is None else store.with_stem(f"{store.stem}_{REGIONS}"),
                settings={**settings, "scorers": [REGIONS], "crops": regions},
            )
            score, names = joined(score, counts), [*names, REGIONS]
            directions[REGIONS] = counts.scorers[0].direction
        found = prune_search(active, names, directions, score, log=rule == "log")
    rounds = tuple(
        {relaxation.decisions[d]: relaxation.options[d][o] for d, o in made}
        for made in found.rounds
    )
    return Pruned(relaxation.arch(found.choice), rounds, found.scored, found.seconds)
