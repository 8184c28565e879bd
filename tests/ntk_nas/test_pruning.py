"""ntk_nas.pruning: the pruning rounds on made-up scores, the supernet's scores and parameter
counts, and `prune` end to end on a tiny NAS-Bench-201 network."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import search_spaces
from ntk_nas import pruning
from ntk_nas.data import load_dataset, random_crops
from ntk_nas.study import StudyError
from scorers import BaseScorer, LinearRegions
from search_spaces import Relaxation
from search_spaces.nb201 import OPS, RELAXATION

SKIP = OPS.index("skip_connect")
CONV3 = OPS.index("nor_conv_3x3")
NO_NONE = pruning.initial_active(RELAXATION, ("none",))


def counting(score: str, op: int, sign: float) -> pruning.ScoreActive:
    """Made-up scores: `sign` times the number of edges on which `op` is still active."""

    def score_active(active: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        values = sign * active[:, :, op].sum(axis=1).astype(float)
        return {score: (values, np.ones(len(active)))}

    return score_active


@dataclasses.dataclass(frozen=True)
class OpWeight(BaseScorer):
    """A mask-invariant stand-in: the total weight of the 3x3 convs in the supernet's op
    weights; every call is recorded in `calls`."""

    direction: ClassVar[Any] = "maximize"
    mask_invariant: ClassVar[bool] = True
    name: str = "op_weight"
    calls: list[int] = dataclasses.field(default_factory=list)

    def _score(self, module, variables, x, y, key):  # type: ignore[no-untyped-def]
        self.calls.append(1)
        return float(np.asarray(variables["arch"]["ops"])[:, CONV3].sum()), {}


def test_initial_active_leaves_out_excluded_ops_unless_a_decision_would_be_empty() -> None:
    uneven = Relaxation(
        decisions=("a", "b"),
        options=(("none", "conv"), ("none",)),
        weigh=lambda w: {},
        arch=lambda i: tuple(i),
        owner=lambda path: None,
    )
    active = pruning.initial_active(uneven, ("none",))
    np.testing.assert_array_equal(active, [[False, True], [True, False]])
    assert not NO_NONE[:, OPS.index("none")].any() and NO_NONE[:, 1:].all()


def test_supernet_weights_share_each_decision_equally_and_name_an_empty_one() -> None:
    active = NO_NONE.copy()
    weights = pruning.supernet_weights(active)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    np.testing.assert_allclose(weights[active], 0.25)
    active[2] = False
    with pytest.raises(StudyError, match="every decision needs an active op"):
        pruning.supernet_weights(active)


def test_removals_skip_decisions_with_one_op_left() -> None:
    active = pruning.initial_active(RELAXATION)
    active[0] = np.eye(len(OPS), dtype=bool)[SKIP]
    found = pruning.removals(active)
    assert len(found) == 5 * len(OPS)
    assert all(decision != 0 for decision, _ in found)
    assert not pruning.without(active, (1, SKIP))[1, SKIP] and active[1, SKIP]
    assert pruning.supernets_to_score(NO_NONE) == 24 + 18 + 12
    assert pruning.supernets_to_score(active) == 25 + 20 + 15 + 10


@pytest.mark.parametrize("log", [False, True])
def test_pruning_keeps_the_op_whose_removal_hurts_the_score_most(log: bool) -> None:
    # Maximising the number of edges with a 3x3 conv: removing it is always the worst removal,
    # so every edge keeps its 3x3 conv; 24 + 18 + 12 supernets are scored.
    found = pruning.prune_search(
        NO_NONE, ["s"], {"s": "maximize"}, counting("s", CONV3, 1.0), log=log
    )
    assert found.choice == (CONV3,) * 6
    assert (found.scored, found.seconds) == (54, 54.0)
    assert [len(made) for made in found.rounds] == [6, 6, 6]
    # Minimising it prunes the 3x3 conv first; with `none` competing, four rounds.
    found = pruning.prune_search(
        pruning.initial_active(RELAXATION),
        ["s"],
        {"s": "minimize"},
        counting("s", CONV3, 1.0),
    )
    assert CONV3 not in found.choice
    assert all((d, CONV3) in found.rounds[0] for d in range(6))
    assert found.scored == 30 + 24 + 18 + 12


def test_a_search_prunes_by_its_own_components() -> None:
    # Two scores that disagree: "a" keeps the skip connection on every edge, "b" the 3x3 conv.
    def both(active: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {**counting("a", SKIP, 1.0)(active), **counting("b", CONV3, 1.0)(active)}

    directions = {"a": "maximize", "b": "maximize"}
    assert pruning.prune_search(NO_NONE, ["a"], directions, both).choice == (SKIP,) * 6
    assert pruning.prune_search(NO_NONE, ["b"], directions, both).choice == (CONV3,) * 6


def test_the_log_rule_can_prune_another_op_than_the_rank_sum() -> None:
    # One decision of four ops; removing op 0 ranks best by the sum of ranks (3 + 0 + 3 of
    # 0..3), removing op 1 by their product (AZ-NAS's log rule).
    values = {"a": [3.0, 2.0, 1.0, 0.0], "b": [0.0, 1.0, 2.0, 3.0], "c": [3.0, 2.0, 0.0, 1.0]}

    def score(actives: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        removed = [int(np.flatnonzero(~a[0])[0]) for a in actives]
        return {n: (np.array(v)[removed], np.zeros(len(removed))) for n, v in values.items()}

    directions = dict.fromkeys(values, "maximize")
    for log, removed in ((False, 0), (True, 1)):
        _, made, _ = pruning.prune_round(
            np.ones((1, 4), bool), list(values), directions, score, log=log
        )
        assert made == ((0, removed),)


def test_prune_passes_its_rule_on(monkeypatch) -> None:
    logs: list[bool] = []
    search = pruning.prune_search

    def spy(*args: Any, log: bool) -> pruning.Pruning:
        logs.append(log)
        return search(*args, log=log)

    monkeypatch.setattr(pruning, "prune_search", spy)
    for rule in ("sum", "log"):
        pruning.prune(
            "nb201",
            "params",
            "gaussian:8,8,3",
            rule=rule,
            batch_size=2,
            build_options={"C": 4, "N": 1},
            show_progress=False,
        )
    assert logs == [False, True]


def test_active_params_counts_the_built_cell_for_a_one_hot_mask() -> None:
    space = search_spaces.get("nb201")
    module = space.masked(num_classes=10, C=4, N=1).module
    shapes = jax.eval_shape(module.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))["params"]
    total = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(shapes))
    assert pruning.active_params(shapes, RELAXATION, np.ones((6, len(OPS)), bool)) == total
    rng = np.random.default_rng(0)
    for _ in range(5):
        arch = space.sample(rng)
        active = np.zeros((6, len(OPS)), bool)
        active[np.arange(6), [OPS.index(op) for op in arch.ops]] = True
        assert pruning.active_params(shapes, RELAXATION, active) == space.num_params(arch, C=4, N=1)


def test_supernet_scores_weigh_the_active_ops_and_score_each_supernet_once() -> None:
    scorer = OpWeight()
    masked = search_spaces.get("nb201").masked(num_classes=10, C=4, N=1)
    batch = (np.zeros((2, 8, 8, 3), np.float32), np.zeros(2, int))
    score = pruning.SupernetScores(masked, [scorer], batch, key=jax.random.key(0))
    stacked = np.stack([NO_NONE, pruning.without(NO_NONE, (0, CONV3))])
    values, seconds = score(stacked)["op_weight"]
    np.testing.assert_allclose(values, [6 * 0.25, 5 * 0.25 + 0.0])
    assert len(scorer.calls) == 2 and (seconds >= 0).all()
    again, _ = score(stacked[::-1])["op_weight"]
    np.testing.assert_allclose(again, values[::-1])
    assert len(scorer.calls) == 2


def test_a_store_keeps_every_chunk_and_resumes_only_with_the_same_settings(tmp_path) -> None:
    masked = search_spaces.get("nb201").masked(num_classes=10, C=4, N=1)
    batch = (np.zeros((2, 8, 8, 3), np.float32), np.zeros(2, int))
    store, settings = tmp_path / "supernets.jsonl", {"seed": 0}
    stacked = np.stack([pruning.without(NO_NONE, (d, CONV3)) for d in range(6)])
    first, seen = OpWeight(), []

    def scores(scorer: OpWeight, **options: Any) -> pruning.SupernetScores:
        return pruning.SupernetScores(
            masked, [scorer], batch, key=jax.random.key(0), store=store, chunk=4, **options
        )

    values, _ = scores(first, settings=settings, on_scored=seen.append)(stacked)["op_weight"]
    assert (len(first.calls), seen) == (6, [4, 2])
    assert len(store.read_text().splitlines()) == 1 + 6
    with store.open("a") as f:
        f.write('{"active": [[1, 0')  # an append cut short by an interruption
    again, seen = OpWeight(), []
    resumed, _ = scores(again, settings=settings, on_scored=seen.append)(stacked)["op_weight"]
    np.testing.assert_array_equal(resumed, values)
    assert (again.calls, seen) == ([], [6])
    with pytest.raises(StudyError, match="other settings"):
        scores(OpWeight(), settings={"seed": 1})


@dataclasses.dataclass(frozen=True)
class KeyDraw(BaseScorer):
    """A mask-invariant stand-in that depends only on the initialisation key."""

    direction: ClassVar[Any] = "maximize"
    mask_invariant: ClassVar[bool] = True
    name: str = "key_draw"

    def _score(self, module, variables, x, y, key):  # type: ignore[no-untyped-def]
        return float(jax.random.uniform(key)), {}


def test_repeats_average_the_scores_of_several_initialisations() -> None:
    masked = search_spaces.get("nb201").masked(num_classes=10, C=4, N=1)
    batch = (np.zeros((2, 8, 8, 3), np.float32), np.zeros(2, int))
    key = jax.random.key(3)
    keys = [key, jax.random.fold_in(key, 1), jax.random.fold_in(key, 2)]
    expected = np.mean([float(jax.random.uniform(k)) for k in keys])
    for repeats, value in [(1, float(jax.random.uniform(key))), (3, expected)]:
        score = pruning.SupernetScores(masked, [KeyDraw()], batch, key=key, repeats=repeats)
        np.testing.assert_allclose(score(NO_NONE[None])["key_draw"][0], [value], rtol=1e-6)
    with pytest.raises(StudyError, match="repeats must be a positive integer, got 0"):
        pruning.SupernetScores(masked, [KeyDraw()], batch, key=key, repeats=0)


def test_prune_end_to_end_on_a_tiny_network(tmp_path) -> None:
    def run(scorer: OpWeight, **options: Any) -> pruning.Pruned:
        return pruning.prune(
            "nb201",
            [scorer, "params"],
            "gaussian:8,8,3",
            rule="log",
            batch_size=2,
            build_options={"C": 4, "N": 1},
            store=tmp_path / "supernets.jsonl",
            show_progress=False,
            **options,
        )

    first = OpWeight()
    found = run(first)
    assert len(first.calls) == 54
    resumed = OpWeight()
    assert run(resumed) == found and resumed.calls == []
    with pytest.raises(StudyError, match="other settings"):
        run(OpWeight(), seed=1)
    assert found.arch.ops == ("nor_conv_3x3",) * 6
    assert found.scored == 54 and len(found.rounds) == 3
    assert all(set(ops) == set(RELAXATION.decisions) for ops in found.rounds)
    assert {op for ops in found.rounds for op in ops.values()} == set(OPS) - {
        "none",
        "nor_conv_3x3",
    }


def test_region_scores_count_the_thin_network_on_crops_of_the_data() -> None:
    dataset, key = load_dataset("gaussian:8,8,3", seed=0), jax.random.key(3)
    counts = pruning.region_scores("nb201", dataset, 40, num_classes=10, key=key, seed=1)
    choice = (CONV3, SKIP, CONV3, OPS.index("nor_conv_1x1"), CONV3, OPS.index("avg_pool_3x3"))
    active = np.zeros_like(NO_NONE)
    active[np.arange(len(choice)), choice] = True
    values, _ = counts(active[None])[pruning.REGIONS]
    thin = search_spaces.get("nb201", input_shape=(3, 3, 1)).build(
        RELAXATION.arch(choice), num_classes=10, **pruning.THIN_OPTIONS
    )
    crops = random_crops(dataset, 40, size=pruning.CROP_SIZE, seed=1)
    built = LinearRegions()(thin, None, crops, key=key).value
    assert values[0] == built and 1 < built <= 40


def test_prune_with_regions_joins_the_count_and_resumes_it(tmp_path) -> None:
    def run(**options: Any) -> pruning.Pruned:
        return pruning.prune(
            "nb201",
            "params",
            "gaussian:8,8,3",
            batch_size=2,
            build_options={"C": 4, "N": 1},
            store=tmp_path / "supernets.jsonl",
            show_progress=False,
            **options,
        )

    found = run(regions=30)
    kept = (tmp_path / "supernets_regions.jsonl").read_text()
    assert len(kept.splitlines()) == 1 + 54
    assert run(regions=30) == found
    assert (tmp_path / "supernets_regions.jsonl").read_text() == kept
    assert found.seconds > 0 and run().seconds == 0  # counting takes time; params takes none


@pytest.mark.parametrize(
    ("data", "regions", "scorer", "message"),
    [
        ("gaussian:8,8,3", -1, "params", "regions must be a count of crops .* got -1"),
        ((np.zeros((2, 8, 8, 3), np.float32), np.zeros(2, int)), 30, "params", "got a batch"),
        ("gaussian:8,8,3", 30, "linear_regions:name=regions", "a scorer is named 'regions'"),
    ],
)
def test_prune_refuses_bad_regions(data: Any, regions: int, scorer: str, message: str) -> None:
    with pytest.raises(StudyError, match=message):
        pruning.prune("nb201", scorer, data, regions=regions, show_progress=False)


@pytest.mark.parametrize(
    ("space", "scorers", "rule", "message"),
    [
        ("nb201", ["flops"], "sum", "flops cannot score a pruned supernet"),
        ("mlp", ["params"], "sum", "space 'mlp' has no masked supernet"),
        ("nb201", ["params"], "max", "unknown rule 'max'"),
    ],
)
def test_prune_refuses_what_it_cannot_do(
    space: str, scorers: list[str], rule: Any, message: str
) -> None:
    data = (np.zeros((2, 8), np.float32), np.zeros(2, int)) if space == "mlp" else "gaussian:8,8,3"
    with pytest.raises(StudyError, match=message):
        pruning.prune(space, scorers, data, rule=rule, batch_size=2, show_progress=False)
