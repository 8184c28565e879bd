"""experiments/nb201_prune.py: the pruning rounds on made-up scores, and end to end on a tiny
network."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import search_spaces
from experiments import nb201_prune as exp
from search_spaces.nb201 import OPS

SKIP = OPS.index("skip_connect")
CONV3 = OPS.index("nor_conv_3x3")


def counting(score: str, op: int, sign: float) -> exp.ScoreMasks:
    """Made-up scores: `sign` times the number of edges on which `op` is still active."""

    def score_masks(masks: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        values = sign * masks[:, :, op].sum(axis=1).astype(float)
        return {score: (values, np.ones(len(masks)))}

    return score_masks


def test_supernet_weights_share_each_edge_equally_and_name_an_empty_edge() -> None:
    active = exp.initial_active()
    assert not active[:, OPS.index("none")].any()
    weights = exp.supernet_weights(active)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    np.testing.assert_allclose(weights[active], 0.25)
    active[2] = False
    with pytest.raises(ValueError, match="every edge needs an active op"):
        exp.supernet_weights(active)


def test_removals_skip_edges_with_one_op_left() -> None:
    active = exp.initial_active(keep_none=True)
    active[0] = np.eye(len(OPS), dtype=bool)[SKIP]
    found = exp.removals(active)
    assert len(found) == 5 * len(OPS)
    assert all(edge != 0 for edge, _ in found)
    assert not exp.without(active, (1, SKIP))[1, SKIP] and active[1, SKIP]


@pytest.mark.parametrize("log", [False, True])
def test_pruning_keeps_the_op_whose_removal_hurts_the_score_most(log: bool) -> None:
    # Maximising the number of edges with a 3x3 conv: removing it is always the worst removal,
    # so every edge keeps its 3x3 conv; 24 + 18 + 12 supernets are scored.
    ops, scored, seconds = exp.prune_search(
        ["s"], {"s": "maximize"}, counting("s", CONV3, 1.0), log=log
    )
    assert ops == ("nor_conv_3x3",) * 6
    assert (scored, seconds) == (54, 54.0)
    # Minimising it prunes the 3x3 conv first; with `none` competing, four rounds.
    ops, scored, _ = exp.prune_search(
        ["s"], {"s": "minimize"}, counting("s", CONV3, 1.0), keep_none=True
    )
    assert "nor_conv_3x3" not in ops
    assert scored == 30 + 24 + 18 + 12


def test_a_method_prunes_by_its_own_components() -> None:
    # Two scores that disagree: "a" keeps the skip connection on every edge, "b" the 3x3 conv.
    def both(masks: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        a, b = counting("a", SKIP, 1.0)(masks), counting("b", CONV3, 1.0)(masks)
        return {**a, **b}

    directions = {"a": "maximize", "b": "maximize"}
    assert exp.prune_search(["a"], directions, both)[0] == ("skip_connect",) * 6
    assert exp.prune_search(["b"], directions, both)[0] == ("nor_conv_3x3",) * 6


def test_active_params_counts_the_built_cell_for_a_one_hot_mask() -> None:
    space = search_spaces.get("nb201")
    module = space.masked(num_classes=10, C=4, N=1).module
    shapes = jax.eval_shape(module.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))["params"]
    total = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(shapes))
    assert exp.active_params(shapes, np.ones((6, len(OPS)), bool)) == total
    rng = np.random.default_rng(0)
    for _ in range(5):
        arch = space.sample(rng)
        active = np.zeros((6, len(OPS)), bool)
        active[np.arange(6), [OPS.index(op) for op in arch.ops]] = True
        assert exp.active_params(shapes, active) == space.num_params(arch, C=4, N=1)


def test_scorers_that_read_unused_ops_are_refused(accuracies: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="naswot cannot score a pruned supernet"):
        exp.main(["--scorers", "naswot", "--methods", "naswot", "--out", str(tmp_path),
                  "--accuracies", str(accuracies)])  # fmt: skip
    with pytest.raises(SystemExit, match="'random' is not a pruning method"):
        exp.main(["--scorers", "params", "--methods", "random", "--out", str(tmp_path),
                  "--accuracies", str(accuracies)])  # fmt: skip


def test_prune_end_to_end_reports_and_resumes(
    accuracies: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["--seeds", "1", "--build", "C=4,N=1", "--batch-size", "4", "--scorers",
            "expressivity", "params", "--methods", "params", "expressivity*params",
            "--accuracies", str(accuracies), "--out", str(out)]  # fmt: skip
    assert exp.main(argv) == 0
    printed = capsys.readouterr().out
    with (out / "prune.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["method"], r["seed"]) for r in rows] == [
        ("params", "0"),
        ("expressivity*params", "0"),
    ]
    # The most parameters: a 3x3 conv on every edge.
    assert (
        rows[0]["arch_str"]
        == "|"
        + "|+|".join("|".join(f"nor_conv_3x3~{i}" for i in range(j)) for j in (1, 2, 3))
        + "|"
    )
    assert all(r["scored"] == "54" for r in rows)
    report = json.loads((out / "prune.json").read_text())
    assert set(report["methods"]) == {"params", "expressivity*params"}
    assert "| expressivity*params |" in printed and "TE-NAS (published)" in printed
    assert f"seed 0: params picked {rows[0]['arch_str']}" in printed
    # A rerun keeps the rows and scores nothing.
    before = (out / "prune.csv").read_text()
    assert exp.main(argv) == 0
    assert (out / "prune.csv").read_text() == before
    with pytest.raises(SystemExit, match="other settings"):
        exp.main([*argv[:-2], "--out", str(out), "--batch-size", "8"])
