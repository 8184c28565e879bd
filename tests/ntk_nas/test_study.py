"""The Optuna plugin with a real study in SQLite: objective, dedupe, resume, failures, rank."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optuna
import pytest

import ntk_nas
import scorers
import search_spaces
from ntk_nas import study as plugin

BUILD = {"C": 4, "N": 1}


@dataclasses.dataclass
class OutputNorm:
    """A cheap scorer for plumbing tests: the norm of the logits at init; counts its calls."""

    name: str = "output_norm"
    direction: str = "maximize"
    calls: int = 0
    function_only = True  # the logits alone: cells of one canonical form score alike

    def __call__(self, module, variables, batch, *, key):
        self.calls += 1
        x = jnp.asarray(batch[0])
        variables = module.init(key, x) if variables is None else variables
        return scorers.Score(float(jnp.linalg.norm(module.apply(variables, x))), {"n": len(x)})


def _batch(n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(jax.random.normal(jax.random.key(0), (n, 8, 8, 3)))
    return x, np.arange(n) % 3


def test_objective_records_figures_with_fixed_trial():
    space = search_spaces.get("nb201")
    arch = "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|"
    params = {
        f"edge_{j}<-{i}": op
        for (j, i), op in zip(search_spaces.nb201.EDGES, space.from_str(arch).ops, strict=True)
    }
    scorer = OutputNorm()
    objective = plugin.Objective(space, [scorer], _batch(), {"num_classes": 3, **BUILD})
    study = optuna.create_study(direction="maximize")
    trial = optuna.trial.FixedTrial(params)
    trial.study = study  # type: ignore[attr-defined]
    value = objective(trial)
    assert value == pytest.approx(trial.user_attrs["figures"]["output_norm"]) and value > 0
    assert trial.user_attrs["arch"] == arch
    assert trial.user_attrs["figures"]["params"] == space.num_params(
        space.from_str(arch), num_classes=3, **BUILD
    )


def test_search_dedupes_resumes_and_is_reproducible(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    scorer = OutputNorm()
    kwargs = dict(storage=storage, study_name="s", seed=3, build_options=BUILD, show_progress=False)
    found = ntk_nas.search("nb201", scorer, _batch(), 6, **kwargs)
    assert plugin.finished_trials(found) == 6
    assert isinstance(found.sampler, optuna.samplers.TPESampler)  # one objective
    canonical = {t.user_attrs["canonical_arch"] for t in found.trials}
    assert scorer.calls == len(canonical)
    again = ntk_nas.search("nb201", scorer, _batch(), 9, **kwargs)
    assert plugin.finished_trials(again) == 9 and len(again.trials) == 9
    resumed_archs = [t.user_attrs["arch"] for t in again.trials]
    assert resumed_archs[6:] != resumed_archs[:3]  # the resumed sampler draws on
    runs = [
        ntk_nas.search(
            "nb201", OutputNorm(), _batch(), 4, seed=3, build_options=BUILD, show_progress=False
        )
        for _ in range(2)
    ]
    outcomes = [[(t.user_attrs["arch"], t.value) for t in run.trials] for run in runs]
    assert outcomes[0] == outcomes[1]


DEAD_CONV = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
NO_CONV = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"  # DEAD_CONV's canonical form


def test_equivalent_cells_share_scores_only_when_every_scorer_scores_the_function():
    options = dict(build_options=BUILD, show_progress=False)
    norm = OutputNorm()
    rows = {
        r["arch"]: r for r in ntk_nas.rank("nb201", [DEAD_CONV, NO_CONV], norm, _batch(), **options)
    }
    assert norm.calls == 1
    assert rows[DEAD_CONV]["output_norm"] == rows[NO_CONV]["output_norm"]
    assert rows[DEAD_CONV]["params"] > rows[NO_CONV]["params"]  # each its own count
    counted = {
        r["arch"]: r["params"]
        for r in ntk_nas.rank("nb201", [NO_CONV, DEAD_CONV], "params", _batch(), **options)
    }
    assert counted == {a: rows[a]["params"] for a in (DEAD_CONV, NO_CONV)}


def test_a_trial_cut_short_and_retried_counts_once():
    def trial(number, state, scored=True, **system_attrs):
        made = optuna.trial.create_trial(
            state=state,
            value=1.0 if state == optuna.trial.TrialState.COMPLETE else None,
            user_attrs={plugin.FIGURES: {"x": 1.0}} if scored else {},
            system_attrs=system_attrs,
        )
        made.number = number
        return made

    complete, fail, running = (optuna.trial.TrialState[s] for s in ("COMPLETE", "FAIL", "RUNNING"))
    trials = [
        trial(0, complete),
        trial(1, fail),  # scored, then its worker died: failed by a heartbeat check
        trial(2, fail, scored=False),  # died before scoring
        trial(3, complete, failed_trial=1, retry_history=[1]),
        trial(4, running, failed_trial=2, retry_history=[2]),
        trial(5, fail),  # scored, failed on its own (not retried)
    ]
    assert [t.number for t in plugin.scored_trials(trials)] == [0, 3, 5]


def test_non_finite_score_fails_the_trial_and_the_study_goes_on():
    @dataclasses.dataclass
    class Dead:
        name: str = "dead"
        direction: str = "minimize"

        def __call__(self, module, variables, batch, *, key):
            return scorers.Score(math.inf, {})

    found = ntk_nas.search("nb201", Dead(), _batch(), 3, build_options=BUILD, show_progress=False)
    assert len(found.trials) == 3
    assert all(t.state == optuna.trial.TrialState.FAIL for t in found.trials)
    assert "dead is inf" in found.trials[0].user_attrs["fail_reason"]


def test_multi_objective_uses_nsga2_and_rows_sort():
    found = ntk_nas.search(
        "nb201", [OutputNorm(), "params"], _batch(), 4, build_options=BUILD, show_progress=False
    )
    assert isinstance(found.sampler, optuna.samplers.NSGAIISampler)
    rows = plugin.result_rows(found)
    assert len(rows) == 4 and all("params" in r for r in rows)


def test_distinct_rows_keep_the_best_row_of_each_canonical_form_and_count_the_rest():
    rows = [{plugin.CANONICAL: form, "trial": i} for i, form in enumerate("abacb")]
    distinct = plugin.distinct_rows(rows)
    assert [(r[plugin.CANONICAL], r["trial"], r["sampled"]) for r in distinct] == [
        ("a", 0, 2),
        ("b", 1, 2),
        ("c", 3, 1),
    ]


def test_rank_sorts_best_first_and_scores_duplicates_once():
    archs = [
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    ]
    scorer = OutputNorm()
    rows = ntk_nas.rank("nb201", archs, scorer, _batch(), build_options=BUILD, show_progress=False)
    assert scorer.calls == 2
    assert [r["output_norm"] for r in rows] == sorted(
        (r["output_norm"] for r in rows), reverse=True
    )


def test_unknown_scorer_option_syntax():
    with pytest.raises(plugin.StudyError, match="bad scorer option 'oops'"):
        plugin.resolve_scorers("params:oops")
    with pytest.raises(plugin.StudyError, match="at least one scorer is needed"):
        plugin.resolve_scorers([])


def test_two_scorers_of_one_name_are_refused_and_a_rename_separates_them():
    with pytest.raises(plugin.StudyError, match=r"two scorers are named 'ntk_cond'.*name="):
        plugin.resolve_scorers(["ntk_cond:repeats=1", "ntk_cond"])
    renamed = plugin.resolve_scorers(["ntk_cond:repeats=1,name=ntk_cond_r1", "ntk_cond"])
    assert [(s.name, s.repeats) for s in renamed] == [("ntk_cond_r1", 1), ("ntk_cond", 3)]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_trials": 0}, "n_trials must be at least 1, got 0"),
        ({"timeout": 0.0}, "timeout must be a positive number of seconds, got 0.0"),
        ({"timeout": math.nan}, "timeout must be a positive number of seconds, got nan"),
    ],
)
def test_search_refuses_a_bad_budget_before_it_starts(options, message):
    with pytest.raises(plugin.StudyError, match=message):
        ntk_nas.search("nb201", "params", _batch(), **{"n_trials": 1, **options})


def test_directions_of_a_loaded_study_must_match(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    ntk_nas.search(
        "nb201",
        OutputNorm(),
        _batch(),
        1,
        storage=storage,
        study_name="s",
        build_options=BUILD,
        show_progress=False,
    )
    with pytest.raises(plugin.StudyError, match="directions"):
        plugin.create_study(["minimize"], storage=storage, study_name="s", seed=0)


MASKED_ARCHS = [
    "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|",
    "|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|nor_conv_3x3~0|skip_connect~1|avg_pool_3x3~2|",
]


def test_rank_in_the_masked_supernet_matches_each_network_with_one_compilation():
    def ranked(archs, supernet):
        rows = plugin.rank(
            "nb201",
            archs,
            ["ntk_cond:bn=train,repeats=2"],
            _batch(4),
            build_options=BUILD,
            show_progress=False,
            supernet=supernet,
        )
        return {row["arch"]: row for row in rows}

    archs = MASKED_ARCHS[:2]  # one to compile the supernet's kernels, one to reuse them
    masked = ranked(archs[:1], supernet=True)  # compiles the supernet's kernels
    with ntk_nas.count_compilations() as compiled:
        masked |= ranked(archs[1:], supernet=True)
    assert compiled.count == 0
    # The network scored with the reused kernels is built and compiled on its own to compare
    # (the first one's figures come from the same compiled program with another mask).
    standalone = ranked(archs[1:], supernet=False)
    assert masked.keys() == {*standalone, MASKED_ARCHS[0]}
    for arch, row in standalone.items():
        assert masked[arch]["params"] == row["params"]
        for figure in ("ntk_cond.lambda_max", "ntk_cond.trace"):
            assert masked[arch][figure] == pytest.approx(row[figure], rel=1e-5)
        assert masked[arch]["ntk_cond"] == pytest.approx(row["ntk_cond"], rel=1e-3)


# 2 per call already covers a full chunk and a remainder (3 unique archs: chunks of 2 and 1).
@pytest.mark.parametrize("per_call", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_rank_scores_several_archs_per_call_alike(per_call):
    def ranked(**options):
        rows = plugin.rank(
            "nb201",
            [*MASKED_ARCHS, MASKED_ARCHS[0]],
            ["ntk_cond:repeats=1", "params"],
            _batch(6),
            build_options=BUILD,
            show_progress=False,
            supernet=True,  # what "auto" takes here (see the next test), without its cost model
            **options,
        )
        return {row["arch"]: row for row in rows}

    one = ranked(archs_per_call=1)
    many = ranked(archs_per_call=per_call)
    assert many.keys() == one.keys()
    for arch, row in one.items():
        assert many[arch]["ntk_cond"] == pytest.approx(row["ntk_cond"], rel=1e-4)
    with pytest.raises(plugin.StudyError, match="archs_per_call must be a positive integer, got 0"):
        ranked(archs_per_call=0)


# "local": 3 archs over 4 devices; the slow case: a list of 2 devices, so one takes 2 archs.
@pytest.mark.parametrize("devices", ["local", pytest.param("first two", marks=pytest.mark.slow)])
def test_rank_spreads_archs_over_devices_alike(devices):
    def ranked(**options):
        rows = plugin.rank(
            "nb201",
            MASKED_ARCHS,
            ["ntk_cond:repeats=1", "params"],
            _batch(6),
            build_options=BUILD,
            show_progress=False,
            **options,
        )
        return {row["arch"]: row["ntk_cond"] for row in rows}

    one = ranked()  # supernet="auto": the cost model takes the masked supernet
    assert len(jax.local_devices()) == 4  # tests/conftest.py
    spread = "local" if devices == "local" else jax.local_devices()[:2]
    assert ranked(devices=spread, supernet=True) == pytest.approx(one, rel=1e-4)
    with pytest.raises(plugin.StudyError, match=r"devices must be 'local'.*got 'all'"):
        ranked(devices="all")


def test_auto_takes_the_supernet_unless_the_cost_model_expects_it_to_cost_more(monkeypatch):
    # `masked_form` asks for the same ratios again: compute each distinct call once (the cost
    # model traces the supernet and three built networks per call).
    known: dict[tuple, float] = {}
    cost_ratio = plugin.supernet_cost_ratio

    def remembered(space, form, build_options, scorers, x, *, seed=0):
        key = (
            id(space),
            repr(form.module),
            repr(sorted(build_options.items())),
            repr(list(scorers)),
            x.shape,
            str(x.dtype),
            seed,
        )
        if key not in known:
            known[key] = cost_ratio(space, form, build_options, scorers, x, seed=seed)
        return known[key]

    monkeypatch.setattr(plugin, "supernet_cost_ratio", remembered)
    space = search_spaces.get("nb201", input_shape=(8, 8, 3))
    x = _batch(8)[0]
    options = {"num_classes": 3, **BUILD}
    form = space.masked(**options)
    ntk = [scorers.get("ntk_cond")]
    ratio = plugin.supernet_cost_ratio(space, form, options, ntk, x, seed=0)
    assert 1.0 < ratio < plugin.MAX_SUPERNET_COST_RATIO  # every op on every edge costs more
    assert plugin.supernet_cost_ratio(space, form, options, [OutputNorm()], x) == 0.0
    chosen = plugin.masked_form(space, options, supernet="auto", scorers=ntk, x=x)
    assert chosen is not None and chosen.module == form.module
    coupled = [scorers.get("ntk_cond", bn="train")]
    coupled_ratio = plugin.supernet_cost_ratio(space, form, options, coupled, x, seed=0)
    assert coupled_ratio > plugin.MAX_COUPLED_SUPERNET_COST_RATIO  # compute outweighs compiling
    assert plugin.masked_form(space, options, supernet="auto", scorers=coupled, x=x) is None
    monkeypatch.setattr(plugin, "MAX_SUPERNET_COST_RATIO", ratio / 2)
    assert plugin.masked_form(space, options, supernet="auto", scorers=ntk, x=x) is None
    assert plugin.masked_form(space, options, supernet=True, scorers=ntk, x=x) is not None
    with pytest.raises(
        plugin.StudyError, match="supernet must be True, False or 'auto', got 'yes'"
    ):
        plugin.masked_form(space, options, supernet="yes")  # type: ignore[arg-type]


def test_only_mask_invariant_scorers_score_in_the_supernet():
    space = search_spaces.get("nb201", input_shape=(8, 8, 3))
    masked = plugin.masked_form(space, BUILD)
    assert masked is not None and plugin.masked_form(space, BUILD, supernet=False) is None
    assert plugin.masked_form(search_spaces.get("mlp", input_shape=(5,)), {}) is None
    seen = {}

    @dataclasses.dataclass
    class Recorder(OutputNorm):
        def __call__(self, module, variables, batch, *, key):
            seen[self.name] = (module, variables)
            return super().__call__(module, None, batch, key=key)

    @dataclasses.dataclass
    class MaskInvariant(Recorder):
        mask_invariant = True

    arch = space.from_str(MASKED_ARCHS[0])
    plugin.evaluate(
        space,
        arch,
        [Recorder(name="plain"), MaskInvariant(name="invariant")],
        _batch(),
        seed=0,
        build_options={"num_classes": 3, **BUILD},
        masked=space.masked(num_classes=3, **BUILD),
    )
    assert seen["plain"] == (space.build(arch, num_classes=3, **BUILD), None)
    module, variables = seen["invariant"]
    assert module == space.masked(num_classes=3, **BUILD).module
    np.testing.assert_array_equal(variables["arch"]["ops"], masked.select(arch)["arch"]["ops"])


def test_open_storage_retries_a_lost_schema_race_and_nothing_else(monkeypatch, tmp_path):
    import sqlalchemy

    url = f"sqlite:///{tmp_path / 'study.db'}"
    calls: list[str] = []
    race = sqlalchemy.exc.IntegrityError("INSERT INTO alembic_version", {}, Exception("UNIQUE"))

    def lose_once(url: str, heartbeat_interval: int | None) -> optuna.storages.BaseStorage:
        calls.append(url)
        if len(calls) == 1:
            raise race
        return optuna.storages.get_storage(url)

    monkeypatch.setattr(plugin, "_SCHEMA_RACE_PAUSE_S", 0.0)
    monkeypatch.setattr(plugin, "_storage", lose_once)
    assert isinstance(plugin.open_storage(url), optuna.storages.BaseStorage)
    assert calls == [url, url]

    def refuse(url: str, heartbeat_interval: int | None) -> optuna.storages.BaseStorage:
        calls.append(url)
        raise sqlalchemy.exc.OperationalError("connect", {}, Exception("connection refused"))

    calls.clear()
    monkeypatch.setattr(plugin, "_storage", refuse)
    with pytest.raises(plugin.StudyError, match="connection refused"):
        plugin.open_storage(url)
    assert calls == [url]


def test_open_storage_from_many_threads_on_a_fresh_database(tmp_path):
    import concurrent.futures

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        storages = list(pool.map(lambda _: plugin.open_storage(url), range(6)))
    assert len(storages) == 6
