"""The `ntk-nas` command end to end: `main()` in process, and a real subprocess where the process
itself matters (the `python -m` entry point, Ctrl-C, the environment, stderr of a failing run)."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

TINY = ["--build", "C=4", "--build", "N=1", "--data", "gaussian:8,8,3", "--batch-size", "4"]
ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+" + (
    "|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+" + (
    "|skip_connect~0|skip_connect~1|skip_connect~2|"
)


ROOT = Path(__file__).resolve().parents[2]


def ntk_nas(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ntk_nas.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
        check=False,
    )


def main(
    capsys: pytest.CaptureFixture[str], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`ntk_nas.cli.main(args)` in this process (no Python and JAX start-up to pay), its exit
    status and printed output as `ntk_nas` returns them."""
    import optuna

    from ntk_nas import cli

    capsys.readouterr()
    verbosity = optuna.logging.get_verbosity()
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            returncode = cli.main(list(args))
    except SystemExit as exit_:
        returncode = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        optuna.logging.set_verbosity(verbosity)  # main() quiets optuna for the whole process
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["ntk-nas", *args], returncode, out, err)


def test_search_writes_results_and_resumes(tmp_path, capsys):
    out = tmp_path / "runs" / "out"  # made with its parents
    first = main(capsys, "search", "--scorer", "params", "--trials", "3", "--out", str(out), *TINY)
    assert first.returncode == 0, first.stderr
    assert "rank" in first.stdout and "params" in first.stdout and "sampled" in first.stdout
    assert "3 trials, " in first.stdout and " distinct architectures; results in " in first.stdout
    for name in ["results.csv", "results.json", "history.png", "study.db"]:
        assert (out / name).stat().st_size > 0
    resumed = main(
        capsys, "search", "--scorer", "params", "--trials", "5", "--out", str(out), *TINY
    )
    assert resumed.returncode == 0, resumed.stderr
    rows = json.loads((out / "results.json").read_text())["trials"]
    assert len(rows) == 5
    assert rows[0]["params"] == max(r["params"] for r in rows)


def test_the_history_plot_follows_the_first_scorer_in_trial_order(tmp_path, capsys, monkeypatch):
    from ntk_nas import results

    drawn = []
    monkeypatch.setattr(results, "plot_history", lambda *args: drawn.append(args))
    out = tmp_path / "out"
    done = main(capsys, "search", "--scorer", "params", "--trials", "3", "--out", str(out), *TINY)
    assert done.returncode == 0, done.stderr
    rows = json.loads((out / "results.json").read_text())["trials"]
    by_trial = [r["params"] for r in sorted(rows, key=lambda r: r["trial"])]
    assert drawn == [(by_trial, False, "params", out / "history.png")]  # params is maximized


def test_multi_objective_search_draws_pareto_plot(tmp_path, capsys):
    out = tmp_path / "out"
    done = main(
        capsys,
        "search",
        "--scorer",
        "params",
        "--scorer",
        "flops",
        "--trials",
        "3",
        "--out",
        str(out),
        *TINY,
    )
    assert done.returncode == 0, done.stderr
    assert (out / "pareto.png").stat().st_size > 0


def test_rank_and_score(tmp_path, capsys):
    archs = tmp_path / "archs.txt"
    archs.write_text(f"# two archs\n{ALL_SKIP}\n{ALL_CONV}\n")
    ranked = tmp_path / "ranked.csv"
    done = main(
        capsys, "rank", "--archs", str(archs), "--scorer", "params", "--out", str(ranked), *TINY
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(ranked.read_text().splitlines()))
    assert [r["arch"] for r in rows] == [ALL_CONV, ALL_SKIP]
    assert "architectures: 100%" in done.stderr  # the progress of a ranking
    scored = main(capsys, "score", ALL_CONV, "--scorer", "params", *TINY)
    assert scored.returncode == 0, scored.stderr
    assert f"arch: {ALL_CONV}" in scored.stdout and "params: " in scored.stdout
    assert scored.stderr == ""  # no progress bar for one architecture


def test_correlate_prints_the_statistics_and_names_a_missing_column(tmp_path, capsys):
    table = tmp_path / "measured.csv"
    one_conv = ALL_SKIP.replace("skip_connect~2", "nor_conv_3x3~2")
    table.write_text(f"arch,acc\n{ALL_SKIP},50\n{one_conv},80\n{ALL_CONV},90\n")
    out = tmp_path / "out"
    args = ["correlate", "--table", str(table), "--scorer", "params", "--out", str(out), *TINY]
    done = main(capsys, *args, "--target", "acc", "--resamples", "20")
    assert done.returncode == 0, done.stderr
    header, _, row = done.stdout.splitlines()[:3]
    assert header.split()[:4] == ["target", "score", "n", "Kendall"]
    assert row.split()[:4] == ["acc", "params", "3", "1.000"]  # more parameters, more accuracy
    assert {p.name for p in out.iterdir()} == {
        "settings.json",
        "scores.csv",
        "rows.csv",
        "correlation.json",
        "scatter_params.png",
    }
    missing = main(capsys, *args, "--target", "accuracy")
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"ntk-nas: error: table {table} lacks the column(s) 'accuracy'; its columns: arch, acc"
    ]


@pytest.mark.slow  # about 90 s; `rank(devices=...)` itself is tested in test_study.py
def test_rank_over_every_device(tmp_path):
    archs = tmp_path / "archs.txt"
    archs.write_text(f"{ALL_SKIP}\n{ALL_CONV}\n")
    kernels = {}
    for options in ([], ["--all-devices"]):
        ranked = tmp_path / "ranked.csv"
        done = ntk_nas(
            "rank",
            "--archs",
            str(archs),
            "--scorer",
            "ntk_cond:repeats=1",
            "--out",
            str(ranked),
            *options,
            *TINY,
            env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
        )
        assert done.returncode == 0, done.stderr
        rows = csv.DictReader(ranked.read_text().splitlines())
        kernels[bool(options)] = {r["arch"]: float(r["ntk_cond.trace"]) for r in rows}
    assert kernels[True] == pytest.approx(kernels[False], rel=1e-4)


def test_lists(capsys):
    spaces, scorers = main(capsys, "spaces"), main(capsys, "scorers")
    assert spaces.returncode == 0 and "nb201" in spaces.stdout.split()
    assert scorers.returncode == 0 and "ntk_cond" in scorers.stdout.split()


@pytest.mark.parametrize(
    ("flags", "interval"),
    [([], 10), (["--heartbeat", "1"], 1), (["--heartbeat", "0"], None), (["--journal"], None)],
)
def test_heartbeats_are_off_at_zero_and_for_a_journal(
    tmp_path, capsys, monkeypatch, flags, interval
):
    from ntk_nas import study

    seen = []

    def search(*args, heartbeat_interval, **kwargs):
        seen.append(heartbeat_interval)
        raise study.StudyError("stopped before searching")

    monkeypatch.setattr(study, "search", search)
    if flags == ["--journal"]:
        flags = ["--storage", f"journal:{tmp_path / 'journal.log'}"]
    done = main(capsys, "search", "--out", str(tmp_path), *flags)
    assert done.returncode == 2 and "stopped before searching" in done.stderr
    assert seen == [interval]


@pytest.mark.parametrize(
    ("flags", "supernet"), [([], "auto"), (["--standalone"], False), (["--supernet"], True)]
)
def test_the_cost_model_chooses_the_path_unless_a_flag_forces_it(flags, supernet):
    from ntk_nas import cli

    required = {"search": [], "rank": ["--archs", "a.txt"], "score": ["x"]}
    for command, rest in required.items():
        args = cli.make_parser().parse_args([command, *flags, *rest])
        assert cli._supernet(args) == supernet


def test_standalone_and_supernet_exclude_each_other(capsys):
    from ntk_nas import cli

    with pytest.raises(SystemExit) as exit_:
        cli.make_parser().parse_args(["rank", "--archs", "a.txt", "--standalone", "--supernet"])
    assert exit_.value.code == 2
    assert "--supernet: not allowed with argument --standalone" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "option"),
    [(["search"], "--top"), (["train", "x"], "--top"), (["search"], "--trials")],
)
def test_counts_must_be_positive_integers(capsys, command, option):
    from ntk_nas import cli

    with pytest.raises(SystemExit) as exit_:
        cli.make_parser().parse_args([*command, option, "0"])
    assert exit_.value.code == 2
    assert f"{option}: expected a positive integer, got '0'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.make_parser().parse_args([*command, option, "abc"])
    assert f"{option}: expected a positive integer, got 'abc'" in capsys.readouterr().err
    assert getattr(cli.make_parser().parse_args([*command, option, "1"]), option[2:]) == 1


def test_build_options_split_on_commas_and_parse_literals():
    from ntk_nas import cli

    expected = {"C": 8, "N": 1, "affine": False}
    assert cli.parse_build_options(["C=8", "N=1", "affine=False"]) == expected
    assert cli.parse_build_options(["C=8,N=1,affine=False"]) == expected


@pytest.mark.parametrize(
    ("command", "option"),
    [("prune", "--standalone"), ("train", "--standalone"), ("train", "--scorer")],
)
def test_commands_refuse_options_they_have_no_use_for(capsys, command, option):
    from ntk_nas import cli

    with pytest.raises(SystemExit):
        cli.make_parser().parse_args([command, option])
    assert f"unrecognized arguments: {option}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "--space", "nope"], "nope"),
        (["search", "--scorer", "nope"], "nope"),
        (["search", "--data", "nope:x"], "nope"),
        (["search", "--data", "npz:/no/such.npz"], "/no/such.npz"),
        (["search", "--storage", "nosuchdb://x"], "nosuchdb"),
        (["score", "|bad~0|"], "bad"),
        (["rank", "--archs", "/no/such/file"], "/no/such/file"),
        (["search", "--timeout", "-1"], "timeout must be a positive number of seconds, got -1"),
        (["search", "--data", "gaussian:8"], "'nb201' takes images (H, W, C); got input shape"),
        (["search", "--build", "C8"], "bad --build option 'C8'; expected KEY=VALUE"),
        (["search", "--build", "C=8,=1"], "bad --build option '=1'"),
        (["rank", "--archs", "comments.txt"], "--archs file comments.txt lists no architectures"),
        (["train"], "give either an architecture or --top K (with --study)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "comments.txt").write_text("# no architecture here\n\n")
    done = main(
        capsys,
        *args,
        "--out" if args[0] == "search" else "--seed",
        str(tmp_path / "o") if args[0] == "search" else "0",
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ntk-nas: error:") and message in lines[0]


SECRET_URL = "postgresql://alice:s3cret-pw@127.0.0.1:1/db"


def test_storage_password_is_never_printed(tmp_path, capsys):
    """Given as a flag (in process) and through the environment of a real process, whose whole
    stderr is the one error line."""
    done = main(capsys, "search", "--storage", SECRET_URL, "--out", str(tmp_path), *TINY)
    assert done.returncode == 2
    assert "s3cret-pw" not in done.stdout + done.stderr
    assert "postgresql://alice:***@127.0.0.1:1/db" in done.stderr
    done = ntk_nas("search", "--out", str(tmp_path), *TINY, env={"NTK_NAS_STORAGE": SECRET_URL})
    assert done.returncode == 2
    assert "s3cret-pw" not in done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ntk-nas: error:")
    assert "postgresql://alice:***@127.0.0.1:1/db" in lines[0]


@pytest.mark.parametrize("command", ["search", "rank", "score", "correlate", "prune", "train"])
def test_help_shows_defaults_but_not_the_storage_from_the_environment(command, capsys):
    done = main(capsys, command, "--help", env={"NTK_NAS_STORAGE": SECRET_URL})
    assert done.returncode == 0
    help_text = " ".join(done.stdout.split())  # argparse wraps lines
    assert "(default: 32)" in help_text and "(default: nb201)" in help_text
    assert "s3cret-pw" not in help_text and "(default: False)" not in help_text
    assert "(default: None)" not in help_text and "(default: [])" not in help_text


def test_ctrl_c_keeps_finished_trials_and_the_rerun_completes_the_total(tmp_path, capsys):
    import optuna

    out = tmp_path / "out"
    args = ["search", "--scorer", "params", "--out", str(out), "--study", "s", *TINY]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "ntk_nas.cli", *args, "--trials", "500"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    storage = f"sqlite:///{out / 'study.db'}"
    finished = 0
    deadline = time.monotonic() + 300
    while finished < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.5)
        with contextlib.suppress(Exception):
            trials = optuna.load_study(study_name="s", storage=storage).trials
            finished = sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "stopping after the running trial" in stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    saved = sum(
        t.state == optuna.trial.TrialState.COMPLETE
        for t in optuna.load_study(study_name="s", storage=storage).trials
    )
    assert 2 <= saved < 500
    rerun = main(capsys, *args, "--trials", str(saved + 2))
    assert rerun.returncode == 0, rerun.stderr
    rows = json.loads((out / "results.json").read_text())["trials"]
    assert len(rows) == saved + 2


def test_class_balanced_batch(tmp_path, capsys):
    import numpy as np

    data = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(
        data, x=rng.integers(0, 255, (40, 8, 8, 3), dtype=np.uint8), y=np.repeat(np.arange(4), 10)
    )

    def score(batch_size: str) -> subprocess.CompletedProcess[str]:
        return main(
            capsys,
            "score",
            ALL_CONV,
            "--scorer",
            "params",
            "--data",
            f"npz:{data}",
            "--batch-size",
            batch_size,
            "--class-balanced",
            "--build",
            "C=4",
            "--build",
            "N=1",
        )

    done = score("8")
    assert done.returncode == 0, done.stderr
    uneven = score("6")  # 4 classes cannot share 6 samples equally
    assert uneven.returncode == 2 and "ntk-nas: error:" in uneven.stderr


@pytest.mark.slow  # about 40 s; training itself is tested in test_training.py
def test_train_the_top_architecture_of_a_study(tmp_path):
    """Both commands on their default output folder and storage, in the working directory."""
    search = ntk_nas(
        "search", "--scorer", "params", "--trials", "2", "--study", "s", *TINY, cwd=tmp_path
    )
    assert search.returncode == 0, search.stderr
    trained = ntk_nas(
        "train",
        "--top",
        "1",
        "--study",
        "s",
        "--epochs",
        "1",
        *TINY[:4],
        "--data",
        "gaussian:8,8,3",
        "--batch-size",
        "16",
        cwd=tmp_path,
    )
    assert trained.returncode == 0, trained.stderr
    assert "held_out_accuracy" in trained.stdout
    assert (tmp_path / "ntk-nas-out" / "study.db").exists()
    assert (tmp_path / "ntk-nas-train" / "0" / "history.json").exists()
    assert (tmp_path / "ntk-nas-train" / "train_results.csv").exists()
    both = ntk_nas("train", ALL_CONV, "--top", "1")
    assert both.returncode == 2 and "either an architecture or --top" in both.stderr


def test_prune_prints_the_rounds_writes_the_pick_and_resumes(tmp_path, capsys):
    out = tmp_path / "out"
    tiny = ["--build", "C=4,N=1", "--data", "gaussian:8,8,3", "--batch-size", "2"]
    done = main(capsys, "prune", "--scorer", "params", "--rule", "log", "--out", str(out), *tiny)
    assert done.returncode == 0, done.stderr
    header = done.stdout.splitlines()[1].split()
    assert header == ["decision", "round", "1", "round", "2", "round", "3"]
    assert f"picked: {ALL_CONV}" in done.stdout and "54 supernets scored" in done.stdout
    found = json.loads((out / "prune.json").read_text())
    assert (found["arch"], found["scored"], found["rule"]) == (ALL_CONV, 54, "log")
    table = [line.split() for line in done.stdout.splitlines()[3:9]]
    assert table == [[d, *(ops[d] for ops in found["rounds"])] for d in found["rounds"][0]]
    assert [set(ops.values()) for ops in found["rounds"]][-1] <= {"nor_conv_1x1", "skip_connect"}
    assert len((out / "supernets.jsonl").read_text().splitlines()) == 1 + 54
    again = main(capsys, "prune", "--scorer", "params", "--out", str(out), *tiny)
    assert again.returncode == 0 and len((out / "supernets.jsonl").read_text().splitlines()) == 55
    other = main(capsys, "prune", "--scorer", "params", "--out", str(out), "--seed", "1", *tiny)
    assert other.returncode == 2 and "other settings" in other.stderr
    kept = main(capsys, "prune", "--scorer", "params", "--keep", "none", "--out", str(out), *tiny)
    assert kept.returncode == 0, kept.stderr
    assert "84 supernets scored" in kept.stdout
    refused = main(capsys, "prune", "--scorer", "flops", "--out", str(out), *tiny)
    assert refused.returncode == 2 and "flops cannot score a pruned supernet" in refused.stderr


def test_prune_with_tenas_regions(tmp_path, capsys):
    out = tmp_path / "out"
    tiny = ["--build", "C=4,N=1", "--data", "gaussian:8,8,3", "--batch-size", "2"]
    done = main(capsys, "prune", "--scorer", "params", "--regions", "30", "--out", str(out), *tiny)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "prune.json").read_text())["scorers"] == ["params", "regions"]
    assert len((out / "supernets_regions.jsonl").read_text().splitlines()) == 1 + 54
    negative = main(
        capsys, "prune", "--scorer", "params", "--regions", "-5", "--out", str(out), *tiny
    )
    assert negative.returncode == 2 and "regions must be a count of crops" in negative.stderr


@pytest.mark.parametrize(
    ("command", "kept"),
    [
        ("prune", "supernets scored are saved, run the same command to continue\n"),
        ("rank", "ntk-nas: interrupted\n"),
    ],
)
def test_ctrl_c_says_what_was_kept(capsys, monkeypatch, command, kept):
    from ntk_nas import pruning, study

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pruning, "prune", interrupted)
    monkeypatch.setattr(study, "rank", interrupted)
    done = main(capsys, command, *(["--archs", __file__] if command == "rank" else []))
    assert done.returncode == 130 and done.stderr.endswith(kept)


def test_a_second_ctrl_c_stops_at_once(capsys):
    from ntk_nas import cli

    previous = signal.getsignal(signal.SIGINT)
    with cli._stop_requests() as requested:
        signal.raise_signal(signal.SIGINT)
        assert requested.is_set()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is previous
    assert "(Ctrl-C again to stop now)" in capsys.readouterr().err


def test_ctrl_c_is_left_alone_when_the_search_runs_off_the_main_thread():
    from ntk_nas import cli

    handler, seen = signal.getsignal(signal.SIGINT), []

    def worker():
        with cli._stop_requests() as requested:
            seen.append((requested.is_set(), signal.getsignal(signal.SIGINT) is handler))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [(False, True)]


def test_the_pareto_plot_takes_the_finite_pairs_and_both_directions(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from ntk_nas import cli, results

    drawn = []
    monkeypatch.setattr(results, "plot_history", lambda *args: None)
    monkeypatch.setattr(results, "plot_pareto", lambda *args: drawn.append(args))
    low = SimpleNamespace(name="a", direction="minimize")
    high = SimpleNamespace(name="b", direction="maximize")
    nan = float("nan")
    rows = [
        {"trial": 2, "a": 3.0, "b": 4.0},
        {"trial": 0, "a": 1.0, "b": nan},
        {"trial": 1, "a": nan, "b": 2.0},
        {"trial": 3, "a": 5.0, "b": 6.0},
    ]
    cli._plots(rows, [low, high], tmp_path)
    assert drawn == [([(3.0, 4.0), (5.0, 6.0)], (True, False), ("a", "b"), tmp_path / "pareto.png")]
