"""experiments/bench_masked.py on a tiny setting: both paths agree, the masked one compiles once."""

from __future__ import annotations

import json

import pytest

from experiments import bench_masked


@pytest.mark.slow  # tests/ntk_nas/test_study.py checks the same through ntk_nas.rank
def test_masked_path_compiles_nothing_per_arch_and_agrees(capsys: pytest.CaptureFixture[str]):
    bench_masked.main(["--archs", "1", "--batch-size", "4", "--build", "C=4,N=1", "--bn", "eval"])
    machine, standalone, masked, summary = map(json.loads, capsys.readouterr().out.splitlines())
    assert "jax" in machine
    assert (standalone["path"], masked["path"]) == ("standalone", "masked")
    assert standalone["compilations"] >= 1 and masked["compilations"] == 0
    assert summary["same_finite_cells"] and summary["max_abs_diff_log10_ntk_cond"] < 1e-3
