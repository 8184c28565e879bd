"""experiments/bench_masked.py on a tiny setting: the paths agree, the masked ones compile once."""

from __future__ import annotations

import json

import pytest

from experiments import bench_masked


@pytest.mark.slow  # tests/ntk_nas/test_study.py checks the same through ntk_nas.rank
def test_masked_path_compiles_nothing_per_arch_and_agrees(capsys: pytest.CaptureFixture[str]):
    bench_masked.main(
        ["--archs", "3", "--batch-size", "4", "--build", "C=4,N=1", "--bn", "eval",
         "--archs-per-call", "2"]
    )  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    machine, standalone, *masked, summary = map(json.loads, lines)
    assert len(machine["devices"]) == 4  # tests/conftest.py: masked_devices spreads over them
    assert [r["path"] for r in (standalone, *masked)] == list(bench_masked.PATHS)
    assert standalone["compilations"] >= 1
    assert [r["compilations"] for r in masked] == [0, 0, 0]
    assert standalone["warm_up_compilations"] >= 1 and masked[0]["warm_up_seconds"] > 0
    assert {r["implementation"] for r in (standalone, *masked)} == {"auto"}
    assert {r["precision"] for r in (standalone, *masked)} == {"float32"}
    assert all(len(r["log10"]) == 3 for r in (standalone, *masked))
    for path in bench_masked.PATHS[1:]:
        assert summary[f"speedup_{path}_over_standalone"] > 0
        assert summary[f"same_finite_cells_{path}"]
        assert summary[f"max_abs_diff_log10_ntk_cond_{path}"] < 1e-3


def test_scorers_without_a_masked_form_are_refused() -> None:
    with pytest.raises(SystemExit, match="--scorer flops cannot score the masked supernet"):
        bench_masked.main(["--scorer", "flops", "--archs", "1"])
    with pytest.raises(
        SystemExit, match=r"bad --scorer/--bn/--implementation/--precision: .*decoupled"
    ):
        bench_masked.main(["--scorer", "naswot", "--bn", "decoupled", "--archs", "1"])
    with pytest.raises(
        SystemExit, match=r"bad --scorer/--bn/--implementation/--precision: .*'fastest'"
    ):
        bench_masked.main(["--implementation", "fastest", "--archs", "1"])
