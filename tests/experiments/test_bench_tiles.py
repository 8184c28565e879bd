"""experiments/bench_tiles.py on a tiny setting: three ways, one kernel."""

from __future__ import annotations

import json

import pytest

from experiments import bench_tiles
from ntk_nas._ntk import blocks


@pytest.mark.slow  # about 50 s of compilation; tiles themselves are tested in test_blocks.py
def test_times_whole_chained_and_looped_tiles_of_one_kernel(capsys: pytest.CaptureFixture[str]):
    limit = blocks.MAX_CHAINED_TILES
    bench_tiles.main(
        ["--build", "C=4,N=1", "--batch-size", "8", "--block-size", "4", "--repeats", "1"]
    )
    header, *rows, ratios = map(json.loads, capsys.readouterr().out.splitlines())
    assert limit == blocks.MAX_CHAINED_TILES  # restored
    assert header["C"] == 4 and header["block_size"] == 4
    assert [row["way"] for row in rows] == list(bench_tiles.WAYS)
    assert all(row["seconds"] > 0 and row["temp_mib"] > 0 for row in rows)
    sums = [row["kernel_sum"] for row in rows]
    assert sums[1] == pytest.approx(sums[0], rel=1e-5) and sums[2] == pytest.approx(
        sums[0], rel=1e-5
    )
    assert set(ratios) == {"chained_over_whole", "looped_over_whole"}
