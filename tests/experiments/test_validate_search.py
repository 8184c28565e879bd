"""End to end: experiments/validate_search.py on tiny MLPs, a few candidates and synthetic data."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

import search_spaces
from experiments import validate_search as exp
from experiments.nb201_correlation import TARGETS
from ntk_nas import stats

FEATURES = 8


def write_accuracies(path: Path, archs: list[str], cifar10: list[float]) -> None:
    """An accuracy file in NAS-Bench-201's format for the given arch strings."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arch_index", "arch_str", *(c for c, _ in TARGETS.values())])
        for i, (arch, acc) in enumerate(zip(archs, cifar10, strict=True)):
            writer.writerow([i, arch, acc, acc / 2, acc / 3])


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """64 samples of 8 features, 4 classes whose means differ (so training learns something)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 64)
    x = rng.standard_normal((64, FEATURES)).astype(np.float32) + y[:, None]
    path = tmp_path / "data.npz"
    np.savez(path, x=x, y=y, label_names=np.array(["a", "b", "c", "d"]))
    return path


def args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--space", "mlp", "--data", f"npz:{data}", "--train-size", "64", "--batch-size", "16",
        "--epochs", "1", "--score-batch-size", "8", "--resamples", "50", "--out", str(out),
        *extra,
    ]  # fmt: skip


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_trains_top_and_random_reports_and_reuses(data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    space = search_spaces.get("mlp", input_shape=(FEATURES,))
    archs = exp.sample_archs(space, 5, seed=1)  # seed 1: MLPs of 1 or 2 layers, quick to compile
    assert len({space.to_str(space.canonical(space.from_str(a))) for a in archs}) == 5
    # A run stopped after scoring 4 of the 5 candidates: these rows are kept, the 5th is scored.
    # Condition numbers are >= 1, so the two below 1 must be the top group, lowest first.
    fake = {archs[0]: 1e12, archs[1]: 0.5, archs[2]: 2e12, archs[3]: 0.25}
    with (out / exp.SCORES).open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(exp.SCORE_COLUMNS)
        writer.writerows([a, a, v, 1000 + i, 0.0] for i, (a, v) in enumerate(fake.items()))
    benchmark = [50.0, 90.0, 40.0, 95.0, 60.0]
    write_accuracies(tmp_path / "acc.csv", archs, benchmark)
    argv = args(
        data, out, "--seed", "1", "--candidates", "5", "--top", "2",
        "--accuracies", str(tmp_path / "acc.csv"),
    )  # fmt: skip

    assert exp.main(argv) == 0
    printed = capsys.readouterr().out
    for name in ("validate.csv", "validate.json", "table.md"):
        assert (out / name).stat().st_size > 0
    assert (out / "table.md").read_text().strip() == printed.strip()
    scores = read_rows(out / exp.SCORES)
    assert [r["arch"] for r in scores] == archs  # 4 kept, the 5th appended
    assert math.isfinite(float(scores[4]["score"])) and float(scores[4]["score"]) >= 1
    assert float(scores[4]["params"]) == space.num_params(space.from_str(archs[4]), num_classes=4)

    rows = read_rows(out / "validate.csv")
    top = [r["arch"] for r in rows if r["group"] == "top"]
    rand = [r["arch"] for r in rows if r["group"] == "random"]
    assert top == [archs[3], archs[1]]
    assert [r["score_rank"] for r in rows[:2]] == ["1", "2"]
    assert len(rand) == 2 and not set(rand) & set(top) and set(rand) <= set(archs)
    for r in rows:
        assert 0 <= float(r["held_out_acc_pct"]) <= 100
        assert float(r["benchmark_acc_pct"]) == benchmark[archs.index(r["arch"])]
        assert float(r["oriented_score"]) == -float(r["score"])  # ntk_cond is minimised
        assert (out / r["run"] / "history.json").exists()

    report = json.loads((out / "validate.json").read_text())
    assert report["trained_now"] == 4 and report["reused"] == 0
    assert report["settings"]["train_images"] == 51 and report["settings"]["held_out_images"] == 13
    assert {g: report["groups"][g]["held_out_acc_pct"]["n"] for g in exp.GROUPS} == {
        "top": 2,
        "random": 2,
    }
    top_bench = report["groups"]["top"]["benchmark_acc_pct"]
    assert top_bench["mean"] == pytest.approx(92.5)
    assert top_bench["std"] == pytest.approx(np.std([90.0, 95.0], ddof=1))
    pairs = {(c["x"], c["y"], c["over"]): c for c in report["correlations"]}
    assert set(pairs) == {
        ("score", "short training", "trained"),
        ("params", "short training", "trained"),
        ("short training", "benchmark", "trained"),
        ("score", "benchmark", "trained"),
        ("score", "benchmark", "candidates"),
        ("params", "benchmark", "candidates"),
    }
    for c in pairs.values():
        assert c["n"] == (5 if c["over"] == "candidates" else 4)
        for key in ("kendall_tau", "spearman_rho"):
            low, high = c[f"{key}_ci95"]
            assert -1 <= low <= high <= 1 and -1 <= c[key] <= 1
    # The report's figures are those of the CSV columns, the score negated.
    short = np.array([float(r["held_out_acc_pct"]) for r in rows])
    oriented = -np.array([float(r["score"]) for r in rows])
    x, y = stats.finite_pairs(oriented, short)
    assert pairs["score", "short training", "trained"]["kendall_tau"] == pytest.approx(
        stats.kendall_tau(x, y)
    )
    all_scores = -np.array([float(r["score"]) for r in scores])
    assert pairs["score", "benchmark", "candidates"]["spearman_rho"] == pytest.approx(
        stats.spearman_rho(all_scores, np.array(benchmark))
    )
    escaped = archs[3].replace("|", "\\|")  # a pipe would end the Markdown cell
    assert "| top | 1 | `" + escaped + "`" in printed

    # A rerun trains and scores nothing: every checkpoint, history and score is left as it was.
    before = snapshot(out / exp.RUNS), (out / exp.SCORES).read_bytes()
    assert exp.main(argv) == 0
    assert (snapshot(out / exp.RUNS), (out / exp.SCORES).read_bytes()) == before
    again = json.loads((out / "validate.json").read_text())
    assert again["trained_now"] == 0 and again["reused"] == 4
    reread = read_rows(out / "validate.csv")
    assert [r.pop("reused") for r in reread] == ["True"] * 4
    assert reread == [{k: v for k, v in r.items() if k != "reused"} for r in rows]

    # Other training settings in the same folder are refused, naming what differs.
    capsys.readouterr()
    assert exp.main([*argv, "--epochs", "2"]) == 2
    error = capsys.readouterr().err
    assert "validate_search: error:" in error and '"epochs": 2' in error and "--out" in error


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--top", "0"], "--top must be at least 1, got 0"),
        (["--candidates", "5", "--top", "3"], "--top 3 needs at least 6 candidates"),
        (["--held-out", "1.5"], "--held-out must be in (0, 1), got 1.5"),
        (["--build", "C"], "bad --build option 'C'"),
        (["--study", "s"], "--study needs --storage"),
    ],
)
def test_bad_flags_name_the_value(
    extra: list[str], message: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.delenv("NTK_NAS_STORAGE", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        exp.parse_args(["--out", str(tmp_path), *extra])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--train-size", "1000"], "--train-size must be in 2..64"),
        (["--batch-size", "60"], "--batch-size 60 is larger than the 51 training images"),
        (["--data", "npz:/nonexistent.npz"], "npz file not found"),
    ],
)
def test_bad_input_is_one_line(
    extra: list[str], message: str, data: Path, tmp_path: Path, capsys
) -> None:
    assert exp.main(args(data, tmp_path / "out", *extra)) == 2
    error = capsys.readouterr().err
    assert error.startswith("validate_search: error:") and message in error


def test_candidates_from_a_study(data: Path, tmp_path: Path, capsys) -> None:
    import ntk_nas

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    found = ntk_nas.search(
        "mlp", "params", f"npz:{data}", n_trials=4, storage=storage, study_name="s",
        batch_size=8, show_progress=False,
    )  # fmt: skip
    best = found.best_trial.user_attrs["arch"]
    out = tmp_path / "out"
    assert exp.main(args(data, out, "--study", "s", "--storage", storage, "--top", "1")) == 0
    report = json.loads((out / "validate.json").read_text())
    assert report["settings"]["scorer"] == "study 's': params"
    assert report["settings"]["candidates"] == {"study": "s", "storage": storage}
    top, rand = report["archs"]
    assert (top["group"], top["arch"], top["score_rank"]) == ("top", best, 1)
    assert top["score"] == found.best_value and rand["group"] == "random"
    assert rand["arch"] != best and rand["score"] <= top["score"]

    capsys.readouterr()
    assert exp.main(args(data, out, "--study", "s", "--storage", storage, "--top", "3")) == 2
    assert "--top 3 needs at least 6 candidates" in capsys.readouterr().err
    assert exp.main(args(data, tmp_path / "t", "--study", "t", "--storage", storage)) == 2
    assert "no study 't'" in capsys.readouterr().err


def test_groups_order_and_draw() -> None:
    def pool(values: list[float]) -> list[exp.Candidate]:
        return [exp.Candidate(f"a{i}", f"a{i}", -v, v, 0.0) for i, v in enumerate(values)]

    candidates = pool([math.nan, 3.0, -math.inf, 5.0, 1.0, 2.0, 4.0, 0.0])
    order, top, rand = exp.pick_groups(candidates, 2, seed=0)
    assert order[:6] == [3, 6, 1, 5, 4, 7] and set(order[6:]) == {0, 2}
    assert top == [3, 6]
    assert len(rand) == 2 and not set(rand) & set(top)
    assert rand == sorted(rand, key=order.index)
    assert exp.pick_groups(candidates, 2, seed=0)[2] == rand
    draws = {tuple(exp.pick_groups(candidates, 2, seed=s)[2]) for s in range(10)}
    assert len(draws) > 1 and all(set(d) <= set(order[2:]) for d in draws)
    with pytest.raises(exp.ValidateError, match="--top 5 needs at least 10 candidates"):
        exp.pick_groups(candidates, 5, seed=0)


@pytest.mark.slow
def test_nb201_with_benchmark(tmp_path: Path) -> None:
    """The default space and scorer (masked supernet), a reduced network, 16x16 images."""
    rng = np.random.default_rng(1)
    path = tmp_path / "images.npz"
    np.savez(
        path,
        x=rng.integers(0, 256, (48, 16, 16, 3), dtype=np.uint8),
        y=rng.integers(0, 10, 48),
        label_names=np.array([f"c{i}" for i in range(10)]),
    )
    space = search_spaces.get("nb201", input_shape=(16, 16, 3))
    archs = exp.sample_archs(space, 5, seed=0)
    write_accuracies(tmp_path / "acc.csv", archs, [80.0, 85.0, 90.0, 70.0, 60.0])
    out = tmp_path / "out"
    argv = [
        "--candidates", "5", "--top", "2", "--build", "C=4,N=1", "--data", f"npz:{path}",
        "--epochs", "1", "--batch-size", "16", "--score-batch-size", "8", "--resamples", "50",
        "--accuracies", str(tmp_path / "acc.csv"), "--out", str(out),
    ]  # fmt: skip
    assert exp.main(argv) == 0
    report = json.loads((out / "validate.json").read_text())
    assert report["settings"]["build"] == {"C": 4, "N": 1}
    assert report["settings"]["scorer"] == "ntk_cond:repeats=1"
    assert [r["group"] for r in report["archs"]] == ["top", "top", "random", "random"]
    assert {r["arch"] for r in report["archs"]} <= set(archs)
    short_vs_bench = report["correlations"][2]
    assert (short_vs_bench["x"], short_vs_bench["y"], short_vs_bench["n"]) == (
        "short training",
        "benchmark",
        4,
    )
