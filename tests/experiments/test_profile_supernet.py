"""experiments/profile_supernet.py on a tiny setting: the computations timed on both paths."""

from __future__ import annotations

import json

import pytest

from experiments import profile_supernet


@pytest.mark.slow  # 40-100 s of compilation; the supernet itself is tested in test_nb201.py
def test_times_the_computations_in_both_paths(capsys: pytest.CaptureFixture[str]):
    computations = ["forward", "ntk"]
    profile_supernet.main(
        ["--build", "C=4,N=1", "--batch-size", "4", "--repeats", "1",
         "--computations", *computations]
    )  # fmt: skip
    header, *rows, summary = map(json.loads, capsys.readouterr().out.splitlines())
    assert header["C"] == 4 and header["batch_size"] == 4
    assert [(r["path"], r["computation"]) for r in rows] == [
        (path, name) for path in ("standalone", "masked") for name in computations
    ]
    assert all(r["seconds"] > 0 for r in rows)
    assert rows[-1]["params"] > rows[0]["params"]  # the supernet holds every op's parameters
    assert summary["estimated_ntk_cost_ratio"] > 1
    assert set(summary) == {"estimated_ntk_cost_ratio"} | {
        f"measured_ratio_{n}" for n in computations
    }
