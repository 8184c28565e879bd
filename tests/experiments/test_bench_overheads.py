"""experiments/bench_overheads.py on a tiny network: both steps timed, the counts agree."""

from __future__ import annotations

import json

import pytest

from experiments import bench_overheads


def test_times_both_steps(capsys: pytest.CaptureFixture[str]) -> None:
    bench_overheads.main(["--build", "C=4,N=1", "--archs", "3", "--repeats", "2"])
    count, stack = map(json.loads, capsys.readouterr().out.splitlines())
    assert count["step"] == "param_count" and count["archs"] == 3 and count["C"] == 4
    assert count["traced_ms"] > 0 and count["summed_ms"] > 0
    assert count["ratio"] == pytest.approx(count["summed_ms"] / count["traced_ms"])
    assert stack["step"] == "stack" and stack["leaves"] > 10
    assert stack["eager_ms"] > 0 and stack["compiled_ms"] > 0
