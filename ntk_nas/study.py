"""The Optuna plugin: score architectures at initialisation inside an Optuna study.

This is the only module that knows Optuna. An `Objective` suggests an architecture from a search
space, builds it, scores it with one or more scorers and records every figure in the trial's user
attributes; `search` runs (or resumes) a study with it; `rank` scores a given list of architectures.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

import flax.linen as nn
import jax
import numpy as np
import optuna
import sqlalchemy
from tqdm.auto import tqdm

import scorers as scorer_registry
import search_spaces
from ntk_nas._heartbeats import HeartbeatStorage
from ntk_nas.data import Dataset, load_dataset, sample_batch
from scorers import Score, Scorer
from search_spaces import MaskedForm, SearchSpace

Batch = tuple[np.ndarray, np.ndarray]
Figures = dict[str, float]

ARCH = "arch"
CANONICAL = "canonical_arch"
FIGURES = "figures"
FAIL_REASON = "fail_reason"


class StudyError(ValueError):
    """A search or ranking that cannot run as asked; the message says why."""


def resolve_space(space: str | SearchSpace, batch: Batch) -> SearchSpace:
    """A search space from its registry name (sized to the batch's inputs), or the space itself."""
    if isinstance(space, str):
        return search_spaces.get(space, input_shape=tuple(batch[0].shape[1:]))
    return space


def resolve_scorers(scorers: str | Scorer | Sequence[str | Scorer]) -> list[Scorer]:
    """Scorers from registry names (``"name"`` or ``"name:key=value,..."``) or scorer objects.

    Raises:
      StudyError: for no scorer, a bad spec, or two scorers of one name (their values would be
        stored under the same key; ``name=`` renames one).
    """
    items = [scorers] if isinstance(scorers, str) or callable(scorers) else list(scorers)
    if not items:
        raise StudyError("at least one scorer is needed")
    resolved = [_parse_scorer(s) if isinstance(s, str) else s for s in items]
    names = [s.name for s in resolved]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise StudyError(
            f"two scorers are named {', '.join(map(repr, repeated))}; give each its own name "
            f"(e.g. {repeated[0]}:name={repeated[0]}_2)"
        )
    return resolved


def _parse_scorer(spec: str) -> Scorer:
    name, _, options = spec.partition(":")
    parsed: dict[str, Any] = {}
    for item in filter(None, options.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise StudyError(f"bad scorer option {item!r} in {spec!r}; expected key=value")
        parsed[key.strip()] = parse_literal(value.strip())
    return scorer_registry.get(name.strip(), **parsed)


def parse_literal(value: str) -> Any:
    """An option value from text: int, float, true/false, else the string itself."""
    for convert in (int, float):
        try:
            return convert(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


def resolve_batch(
    data: str | Dataset | Batch, batch_size: int, seed: int, *, class_balanced: bool = False
) -> tuple[Batch, int]:
    """A scoring batch ``(x, y)`` and the number of classes, from a data spec or a dataset.

    Args:
      data: a `--data` spec (see `ntk_nas.data.load_dataset`), a `Dataset`, or a batch ``(x, y)``.
      batch_size: samples per batch (ignored for a given batch).
      seed: draws the batch reproducibly.
      class_balanced: draw the same number of samples of every class.
    """
    if isinstance(data, tuple):
        x, y = data
        return (np.asarray(x), np.asarray(y)), int(np.max(y)) + 1
    dataset = load_dataset(data, seed=seed) if isinstance(data, str) else data
    batch = sample_batch(dataset, batch_size, seed=seed, class_balanced=class_balanced)
    return batch, dataset.num_classes


Supernet = bool | Literal["auto"]

#: ``supernet="auto"`` scores in the masked supernet unless, by the NTK engine's cost model, one
#: of its kernels costs more than this many times a built network's (the median of
#: `COST_SAMPLE` cells drawn from the seed): beyond that, the supernet's extra work (every op of
#: every edge) outweighs compiling each network. Half the break-even ratio measured on this
#: project's CPU with decoupled BatchNorm (README, "Scoring at scale"): per cell, the supernet
#: took about the estimated ratio times the built network's kernel, and building took about 20
#: kernels' time (compilation, tracing, initialisation) at C=16, N=3 and N=5, batch 64.
MAX_SUPERNET_COST_RATIO = 10.0
#: The same for kernels whose BatchNorm couples the samples (``bn="train"``: a whole-batch
#: backward pass per Jacobian row), where compute outweighs compilation: half the break-even
#: ratio measured at C=8, N=1, batch 16 (about 3.4; the supernet scored 0.76x the cells per
#: second of building each one at an estimated ratio of 4.46).
MAX_COUPLED_SUPERNET_COST_RATIO = 1.7
COST_SAMPLE = 3


def masked_form(
    space: SearchSpace,
    build_options: Mapping[str, Any],
    *,
    supernet: Supernet = True,
    scorers: Sequence[Scorer] = (),
    x: Any = None,
    seed: int = 0,
) -> MaskedForm[Any] | None:
    """The space's masked supernet for `build_options`, or None to build each network.

    Args:
      space: the search space (None is returned where it has no masked supernet).
      build_options: the networks' sizes.
      supernet: True or False forces the choice; ``"auto"`` takes the supernet unless
        `supernet_cost_ratio` exceeds `MAX_SUPERNET_COST_RATIO`
        (`MAX_COUPLED_SUPERNET_COST_RATIO` when a scorer's BatchNorm couples the samples).
      scorers: the scorers that will score in it (``"auto"`` only).
      x: inputs shaped like the scoring batch (``"auto"`` only).
      seed: draws the cells that the supernet is compared with (``"auto"`` only).
    """
    if supernet is False:
        return None
    form = space.masked(**build_options)
    if form is None or supernet is True:
        return form
    if supernet != "auto":
        raise StudyError(f"supernet must be True, False or 'auto', got {supernet!r}")
    ratio = supernet_cost_ratio(space, form, build_options, scorers, x, seed=seed)
    coupled = any(getattr(s, "train", False) for s in _cost_estimating(scorers))
    limit = MAX_COUPLED_SUPERNET_COST_RATIO if coupled else MAX_SUPERNET_COST_RATIO
    return form if ratio <= limit else None


def _cost_estimating(scorers: Sequence[Scorer]) -> list[scorer_registry.CostEstimating]:
    """The mask-invariant `scorers` that estimate their cost (the NTK family)."""
    return [
        s
        for s in scorers
        if getattr(s, "mask_invariant", False) and isinstance(s, scorer_registry.CostEstimating)
    ]


def supernet_cost_ratio(
    space: SearchSpace,
    form: MaskedForm[Any],
    build_options: Mapping[str, Any],
    scorers: Sequence[Scorer],
    x: Any,
    *,
    seed: int = 0,
) -> float:
    """The NTK engine's estimated cost of scoring one cell in the masked supernet over that of
    scoring a built network (the median of `COST_SAMPLE` cells drawn from `seed`), for the
    largest ratio among the mask-invariant `scorers` that estimate costs (0 when none does).

    Only shapes are used; nothing is computed.
    """
    costly = _cost_estimating(scorers)
    if not costly:
        return 0.0
    batch = jax.ShapeDtypeStruct(x.shape, x.dtype)
    archs = [space.sample(np.random.default_rng([seed, i])) for i in range(COST_SAMPLE)]
    ratios = []
    for scorer in costly:
        masked = scorer.estimated_cost(form.module, form.select(archs[0]), batch)
        built = [
            scorer.estimated_cost(space.build(arch, **build_options), None, batch) for arch in archs
        ]
        ratios.append(masked / float(np.median(built)))
    return max(ratios)


def evaluate(
    space: SearchSpace,
    arch: Any,
    scorers: Sequence[Scorer],
    batch: Batch,
    *,
    seed: int,
    build_options: Mapping[str, Any],
    masked: MaskedForm[Any] | None = None,
) -> Figures:
    """Scores `arch` with every scorer: in the `masked` supernet for the scorers that score it
    exactly as the selected network (``mask_invariant``), in the built network for the others.

    Returns:
      ``{"params": count, name: value, "name.extra": value, "name.seconds": s}`` for each scorer.
    """
    return evaluate_many(
        space, [arch], scorers, batch, seed=seed, build_options=build_options, masked=masked
    )[0]


def evaluate_many(
    space: SearchSpace,
    archs: Sequence[Any],
    scorers: Sequence[Scorer],
    batch: Batch,
    *,
    seed: int,
    build_options: Mapping[str, Any],
    masked: MaskedForm[Any] | None = None,
    devices: Sequence[jax.Device] | None = None,
) -> list[Figures]:
    """`evaluate` for each of `archs`. In the `masked` supernet, each mask-invariant scorer
    scores all of them in one call (`Scorer.score_many`, spread over `devices` when given); the
    other scorers score one built network at a time."""
    figures: list[Figures] = [
        {"params": float(space.num_params(arch, **build_options))} for arch in archs
    ]
    networks: dict[int, nn.Module] = {}
    key = jax.random.key(seed)
    for scorer in scorers:
        if masked is not None and getattr(scorer, "mask_invariant", False):
            selects = [masked.select(arch) for arch in archs]
            scores = score_all(scorer, masked.module, selects, batch, key, devices)
        else:
            scores = []
            for i, arch in enumerate(archs):
                if i not in networks:
                    networks[i] = space.build(arch, **build_options)
                scores.append(scorer(networks[i], None, batch, key=key))
        for found, score in zip(figures, scores, strict=True):
            found[scorer.name] = float(score.value)
            found.update({f"{scorer.name}.{k}": float(v) for k, v in score.extras.items()})
    return figures


def score_all(
    scorer: Scorer,
    module: nn.Module,
    variables: Sequence[Any],
    batch: Batch,
    key: jax.Array,
    devices: Sequence[jax.Device] | None,
) -> list[Score]:
    """`scorer`'s scores of `module` with each of `variables`: ``scorer.score_many`` where the
    scorer has it (every `BaseScorer`; `devices` is passed when given), else one call each."""
    many = getattr(scorer, "score_many", None)
    if many is None:
        return [scorer(module, v, batch, key=key) for v in variables]
    if devices is None:
        return list(many(module, variables, batch, key=key))
    return list(many(module, variables, batch, key=key, devices=devices))


def resolve_devices(
    devices: Sequence[jax.Device] | Literal["local"] | None,
) -> list[jax.Device] | None:
    """The devices to spread architectures over: ``"local"`` (every local device), a list, or
    None (the default device only)."""
    if devices is None:
        return None
    if devices == "local":
        return jax.local_devices()
    if isinstance(devices, str) or not all(isinstance(d, jax.Device) for d in devices):
        raise StudyError(f"devices must be 'local', a list of jax devices or None, got {devices!r}")
    return list(devices)


def failure(figures: Figures, scorers: Sequence[Scorer]) -> str | None:
    """Why these figures cannot be an objective value (a non-finite score), or None."""
    bad = [s.name for s in scorers if not math.isfinite(figures[s.name])]
    if not bad:
        return None
    return ", ".join(f"{name} is {figures[name]}" for name in bad) + " (non-finite score)"


def scored_by_function(scorers: Sequence[Scorer]) -> bool:
    """Whether every scorer scores the function alone (``function_only``), so that the cells of
    one canonical form can share their figures."""
    return all(getattr(s, "function_only", False) for s in scorers)


def score_key(space: SearchSpace, arch: Any, scorers: Sequence[Scorer]) -> str:
    """The arch string under which `arch`'s figures are kept: its canonical form where
    `scored_by_function`, else its own (``params`` or ReLU codes count the ops that cannot change
    the output, so equivalent cells score apart)."""
    kept = space.canonical(arch) if scored_by_function(scorers) else arch
    return space.to_str(kept)


def figures_of(
    space: SearchSpace, arch: Any, kept: Figures, build_options: Mapping[str, Any]
) -> Figures:
    """The figures `kept` under `arch`'s `score_key`, with `arch`'s own parameter count (which
    an equivalent cell's figures do not share)."""
    return {**kept, "params": float(space.num_params(arch, **build_options))}


@dataclasses.dataclass
class Objective:
    """A callable for ``study.optimize``: suggest, build, score and record one architecture.

    Figures of every scorer (value and extras), the parameter count and seconds go into the
    trial's user attributes (``arch``, ``canonical_arch``, ``figures``). An architecture already
    scored in the study is looked up, not scored again; so is one whose canonical form was, when
    every scorer scores the function alone (`score_key`). A non-finite
    score fails the trial with its reason in ``fail_reason``; the study goes on.

    Attributes:
      space: the search space.
      scorers: one scorer per objective.
      batch: the scoring batch ``(x: (N, ...), y: (N,))``.
      build_options: passed to ``space.build`` (``num_classes``, sizes).
      seed: the initialisation key of every architecture.
      supernet: score in the space's masked supernet (one compilation for every architecture)
        where the space has one, with the scorers that allow it (see `evaluate`); ``"auto"``
        where the NTK engine's cost model expects it to be cheaper (see `masked_form`).
    """

    space: SearchSpace
    scorers: Sequence[Scorer]
    batch: Batch
    build_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    seed: int = 0
    supernet: Supernet = "auto"
    _seen: dict[str, Figures] = dataclasses.field(default_factory=dict, init=False, repr=False)
    _masked: MaskedForm[Any] | None = dataclasses.field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._masked = masked_form(
            self.space,
            self.build_options,
            supernet=self.supernet,
            scorers=self.scorers,
            x=self.batch[0],
            seed=self.seed,
        )

    @property
    def directions(self) -> list[str]:
        return [s.direction for s in self.scorers]

    def _known(self, study: optuna.Study, key: str) -> Figures | None:
        if key not in self._seen:
            attribute = CANONICAL if scored_by_function(self.scorers) else ARCH
            for trial in study.get_trials(deepcopy=False, states=_SCORED_STATES):
                if FIGURES in trial.user_attrs and attribute in trial.user_attrs:
                    self._seen.setdefault(trial.user_attrs[attribute], trial.user_attrs[FIGURES])
        return self._seen.get(key)

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        arch = self.space.suggest(trial)
        key = score_key(self.space, arch, self.scorers)
        trial.set_user_attr(ARCH, self.space.to_str(arch))
        trial.set_user_attr(CANONICAL, self.space.to_str(self.space.canonical(arch)))
        figures = self._known(trial.study, key)
        if figures is not None and scored_by_function(self.scorers):
            figures = figures_of(self.space, arch, figures, self.build_options)
        if figures is None:
            figures = evaluate(
                self.space,
                arch,
                self.scorers,
                self.batch,
                seed=self.seed,
                build_options=self.build_options,
                masked=self._masked,
            )
            self._seen[key] = figures
        trial.set_user_attr(FIGURES, figures)
        reason = failure(figures, self.scorers)
        if reason is not None:
            trial.set_user_attr(FAIL_REASON, reason)
            return float("nan")
        values = [figures[s.name] for s in self.scorers]
        return values[0] if len(values) == 1 else values


_SCORED_STATES = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)


def scored_trials(
    trials: Sequence[optuna.trial.FrozenTrial],
) -> list[optuna.trial.FrozenTrial]:
    """The trials that count towards the requested total: scored, whether complete or failed.

    A trial whose worker died after scoring it, but before it was told complete, is failed by a
    live worker's heartbeat check and retried under a new number; only the retry counts.
    """
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", ())}
    return [
        t
        for t in trials
        if t.state in _SCORED_STATES and FIGURES in t.user_attrs and t.number not in retried
    ]


def finished_trials(study: optuna.Study) -> int:
    """How many of the study's trials count towards the requested total (see `scored_trials`)."""
    return len(scored_trials(study.get_trials(deepcopy=False)))


_PASSWORD = re.compile(r"(?<=://)([^:/@]*):([^@/]*)@")


def mask_password(text: str) -> str:
    """`text` with the password of every ``scheme://user:password@host`` URL in it masked."""
    return _PASSWORD.sub(r"\1:***@", text)


@contextlib.contextmanager
def _known_experimental() -> Iterator[None]:
    """Silences Optuna's notice that heartbeats are experimental: we rely on them on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def open_storage(url: str, *, heartbeat_interval: int | None = None) -> optuna.storages.BaseStorage:
    """An Optuna storage from a URL: any RDB URL (``sqlite:///``, ``postgresql://``, ...) or
    ``journal:PATH`` for a journal file on a shared file system.

    Workers started at once on a fresh database race to create its tables: the loser's insert
    fails, and it opens the storage again (up to `_SCHEMA_RACE_ATTEMPTS` times).

    Args:
      url: the storage URL.
      heartbeat_interval: seconds between a running trial's heartbeats (RDB storages). A trial
        whose worker died (no heartbeat for twice as long, or none at all) is marked failed and
        retried, up to 3 times, by a live worker.

    Raises:
      StudyError: naming the URL (password masked) when it cannot be opened.
    """
    for attempt in range(1, _SCHEMA_RACE_ATTEMPTS + 1):
        try:
            return _storage(url, heartbeat_interval)
        except Exception as error:
            if attempt < _SCHEMA_RACE_ATTEMPTS and _lost_schema_race(error):
                time.sleep(_SCHEMA_RACE_PAUSE_S * attempt)
                continue
            raise StudyError(
                f"cannot open storage {mask_password(url)!r}: "
                f"{type(error).__name__}: {mask_password(str(error))}"
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


_SCHEMA_RACE_ATTEMPTS = 5
_SCHEMA_RACE_PAUSE_S = 0.2


def _lost_schema_race(error: Exception) -> bool:
    """Whether `error` is another process creating the storage's tables at the same moment."""
    message = str(error)
    return isinstance(error, sqlalchemy.exc.IntegrityError) or (
        isinstance(error, sqlalchemy.exc.OperationalError) and "already exists" in message
    )


def _storage(url: str, heartbeat_interval: int | None) -> optuna.storages.BaseStorage:
    if url.startswith("journal:"):
        path = url.removeprefix("journal:")
        backend = optuna.storages.journal.JournalFileBackend(path)  # type: ignore[attr-defined]
        return optuna.storages.JournalStorage(backend)
    if heartbeat_interval is None:
        return optuna.storages.get_storage(url)
    with _known_experimental():
        return HeartbeatStorage(
            url,
            heartbeat_interval=heartbeat_interval,
            grace_period=2 * heartbeat_interval,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=3
            ),
        )


def _sampler(directions: Sequence[str], seed: int | None) -> optuna.samplers.BaseSampler:
    if len(directions) == 1:
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.NSGAIISampler(seed=seed)


def create_study(
    directions: Sequence[str],
    *,
    storage: str | None,
    study_name: str | None,
    seed: int | None,
    sampler: optuna.samplers.BaseSampler | None = None,
    heartbeat_interval: int | None = None,
) -> optuna.Study:
    """Creates or loads a study; a loaded one must have the same directions."""
    study = optuna.create_study(
        storage=None
        if storage is None
        else open_storage(storage, heartbeat_interval=heartbeat_interval),
        study_name=study_name,
        directions=[str(d) for d in directions],  # type: ignore[misc]
        sampler=sampler or _sampler(directions, seed),
        load_if_exists=True,
    )
    found = [d.name.lower() for d in study.directions]
    if found != list(directions):
        raise StudyError(
            f"study {study.study_name!r} has directions {found}, but the scorers need "
            f"{list(directions)}; use another --study name"
        )
    return study


def _progress_callback(bar: tqdm) -> Callable[[optuna.Study, optuna.trial.FrozenTrial], None]:
    def update(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        bar.update(1)
        if len(study.directions) == 1:
            complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if complete:
                bar.set_postfix(best=f"{study.best_value:.4g}")

    return update


def _stop_at_total(n_trials: int) -> Callable[[optuna.Study, optuna.trial.FrozenTrial], None]:
    """Stops this worker once the study (all workers together) holds `n_trials` scored trials."""

    def stop(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if finished_trials(study) >= n_trials:
            study.stop()

    return stop


def search(
    space: str | SearchSpace,
    scorers: str | Scorer | Sequence[str | Scorer],
    data: str | Dataset | Batch = "cifar10",
    n_trials: int = 20,
    *,
    storage: str | None = None,
    study_name: str | None = None,
    seed: int = 0,
    timeout: float | None = None,
    batch_size: int = 64,
    class_balanced: bool = False,
    build_options: Mapping[str, Any] | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    heartbeat_interval: int | None = None,
    show_progress: bool = True,
    supernet: Supernet = "auto",
    callbacks: Sequence[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = (),
) -> optuna.Study:
    """Runs, or resumes, a training-free architecture search up to `n_trials` scored trials.

    Args:
      space: a search space or its registry name.
      scorers: one scorer (single objective, TPE) or several (multi-objective, NSGA-II).
      data: a `--data` spec, a dataset or a batch; the scoring batch is drawn from `seed`.
      n_trials: the total of scored trials wanted in the study, counting earlier runs.
      storage: an Optuna storage URL (None: in memory); resumable when given.
      study_name: the study's name in `storage`.
      seed: seeds the sampler, the batch and every architecture's initialisation.
      timeout: stop after this many seconds (positive), or None.
      batch_size: samples in the scoring batch.
      class_balanced: draw the same number of samples of every class.
      build_options: passed to ``space.build`` (sizes); ``num_classes`` comes from the data.
      sampler: overrides the default sampler.
      heartbeat_interval: seconds between heartbeats of a running trial (RDB storages), so that
        the trial of a killed worker is failed and retried by a live one. Several workers may run
        `search` on one study; together they stop at `n_trials` (each finishes the trial it is
        running, so the total can exceed `n_trials` by up to the number of workers less one).
      show_progress: show a progress bar with the best score so far.
      supernet: score in the space's masked supernet where it has one, with the scorers that
        allow it (one compilation for every architecture; same scores); False builds each
        network; ``"auto"`` (default) takes the supernet where the NTK engine's cost model
        expects it to be cheaper (see `masked_form`).
      callbacks: more ``study.optimize`` callbacks, called after each trial of this worker
        (e.g. one that calls ``study.stop()`` on a user's request).

    Returns:
      The study; trials carry ``arch``, ``canonical_arch`` and ``figures`` user attributes.
    """
    if n_trials < 1:
        raise StudyError(f"n_trials must be at least 1, got {n_trials}")
    if timeout is not None and not timeout > 0:
        raise StudyError(f"timeout must be a positive number of seconds, got {timeout}")
    batch, num_classes = resolve_batch(data, batch_size, seed, class_balanced=class_balanced)
    space = resolve_space(space, batch)
    scorer_list = resolve_scorers(scorers)
    directions = [s.direction for s in scorer_list]
    study = create_study(
        directions,
        storage=storage,
        study_name=study_name,
        seed=seed,
        sampler=sampler,
        heartbeat_interval=heartbeat_interval,
    )
    if heartbeat_interval is not None:  # fail (and retry) the trials of workers that died
        with _known_experimental():
            optuna.storages.fail_stale_trials(study)
    finished = finished_trials(study)
    remaining = n_trials - finished
    if remaining <= 0:
        return study
    if sampler is None:  # a resumed study draws on, instead of repeating its first draws
        study.sampler = _sampler(directions, seed + finished)
    objective = Objective(
        space,
        scorer_list,
        batch,
        {"num_classes": num_classes, **(build_options or {})},
        seed,
        supernet,
    )
    with tqdm(
        total=n_trials,
        initial=n_trials - remaining,
        disable=not show_progress,
        desc="trials",
        unit="trial",
    ) as bar:
        study.optimize(
            objective,
            n_trials=remaining,
            timeout=timeout,
            callbacks=[_progress_callback(bar), _stop_at_total(n_trials), *callbacks],
        )
    return study


def result_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One row per scored trial, best first (failed trials last)."""
    rows = [_row(t) for t in scored_trials(study.get_trials(deepcopy=False))]
    signs = [1.0 if d == optuna.study.StudyDirection.MINIMIZE else -1.0 for d in study.directions]

    def key(row: dict[str, Any]) -> tuple[float, ...]:
        values = row["values"] or [math.inf] * len(signs)
        return tuple(
            s * v if math.isfinite(v) else math.inf for s, v in zip(signs, values, strict=True)
        )

    return sorted(rows, key=key)


def distinct_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The first row of each canonical form in `rows` (best first, as from `result_rows`), with
    ``"sampled"``: how many of `rows` have that form (a sampler often draws isomorphic cells)."""
    counts = collections.Counter(row[CANONICAL] for row in rows)
    firsts = {row[CANONICAL]: row for row in reversed(rows)}
    return [
        {**row, "sampled": counts[row[CANONICAL]]} for row in rows if firsts[row[CANONICAL]] is row
    ]


def _row(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return {
        "trial": trial.number,
        "state": trial.state.name,
        ARCH: trial.user_attrs[ARCH],
        CANONICAL: trial.user_attrs[CANONICAL],
        "values": list(trial.values) if trial.values else None,
        FAIL_REASON: trial.user_attrs.get(FAIL_REASON),
        **trial.user_attrs[FIGURES],
    }


def rank(
    space: str | SearchSpace,
    archs: Iterable[Any],
    scorers: str | Scorer | Sequence[str | Scorer],
    data: str | Dataset | Batch = "cifar10",
    *,
    seed: int = 0,
    batch_size: int = 64,
    class_balanced: bool = False,
    build_options: Mapping[str, Any] | None = None,
    show_progress: bool = True,
    supernet: Supernet = "auto",
    archs_per_call: int = 8,
    devices: Sequence[jax.Device] | Literal["local"] | None = None,
    known: Mapping[str, Figures] | None = None,
    on_scored: Callable[[dict[str, Figures]], None] | None = None,
) -> list[dict[str, Any]]:
    """Scores each architecture (arch objects or strings) and returns rows, best first.

    Rows are sorted by the first scorer in its direction; non-finite scores go last. Each arch
    is scored once under its `score_key` (once per canonical form when every scorer scores the
    function alone). With `supernet` (``"auto"``: where the cost model
    expects it to be cheaper, see `masked_form`; never for a single one), archs are scored in
    the space's masked supernet where it has one, by the scorers that allow it (see
    `evaluate_many`): `archs_per_call` at a time (`Scorer.score_many`: vmapped on an
    accelerator), spread over `devices` (``"local"``: every local device), one architecture per
    device at a time, when several are given (with at least that many `archs_per_call`).

    `known` holds figures already measured, by `score_key`: those archs are not scored again.
    `on_scored` receives the newly scored figures after each call (to keep them as they come).
    """
    if archs_per_call < 1:
        raise StudyError(f"archs_per_call must be a positive integer, got {archs_per_call}")
    spread = resolve_devices(devices)
    batch, num_classes = resolve_batch(data, batch_size, seed, class_balanced=class_balanced)
    space = resolve_space(space, batch)
    scorer_list = resolve_scorers(scorers)
    options = {"num_classes": num_classes, **(build_options or {})}
    given = [space.from_str(a) if isinstance(a, str) else a for a in archs]
    scored: dict[str, Figures] = dict(known or {})
    unique: dict[str, Any] = {}
    for arch in given:
        key = score_key(space, arch, scorer_list)
        if key not in scored:
            unique.setdefault(key, arch)
    todo = list(unique.items())
    shared = scored_by_function(scorer_list)
    scored_as = {key: space.to_str(arch) for key, arch in todo}
    if supernet == "auto" and len(todo) < 2:  # one network compiles faster than the supernet
        supernet = False
    masked = masked_form(
        space, options, supernet=supernet, scorers=scorer_list, x=batch[0], seed=seed
    )
    with tqdm(total=len(todo), desc="architectures", disable=not show_progress) as bar:
        for start in range(0, len(todo), archs_per_call):
            chunk = dict(todo[start : start + archs_per_call])
            figures = evaluate_many(
                space,
                list(chunk.values()),
                scorer_list,
                batch,
                seed=seed,
                build_options=options,
                masked=masked,
                devices=spread,
            )
            new = dict(zip(chunk, figures, strict=True))
            scored.update(new)
            if on_scored is not None:
                on_scored(new)
            bar.update(len(chunk))
    rows = []
    for arch in given:
        canonical = space.to_str(space.canonical(arch))
        key, text = score_key(space, arch, scorer_list), space.to_str(arch)
        kept = scored[key]
        if shared and scored_as.get(key) != text:
            kept = figures_of(space, arch, kept, options)
        rows.append({ARCH: text, CANONICAL: canonical, **kept})
    first = scorer_list[0]
    sign = 1.0 if first.direction == "minimize" else -1.0
    return sorted(
        rows, key=lambda r: sign * r[first.name] if math.isfinite(r[first.name]) else math.inf
    )
