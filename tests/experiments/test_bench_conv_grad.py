"""experiments/bench_conv_grad.py on a tiny shape: every way gives the top-level gradient."""

from __future__ import annotations

import argparse
import json

import jax
import numpy as np
import pytest

from experiments import bench_conv_grad


def test_every_way_computes_the_same_gradient():
    keys = jax.random.split(jax.random.key(0), 3)
    kernel = jax.random.normal(keys[0], (3, 3, 2, 2))
    x, cotangent = (jax.random.normal(k, (2, 5, 5, 2)) for k in keys[1:])
    found = {
        name: np.asarray(fn(kernel, x, cotangent, np.float32(1)))
        for name, fn in bench_conv_grad.programs().items()
    }
    for way, top in bench_conv_grad.RATIOS.items():
        np.testing.assert_allclose(found[way], found[top], rtol=1e-5, atol=1e-5)


def test_prints_a_row_per_shape_and_rejects_a_bad_one(capsys: pytest.CaptureFixture[str]):
    bench_conv_grad.main(["--shapes", "2,4,2", "1,4,1", "--repeats", "1"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["batch"], r["channels"]) for r in rows] == [(2, 2), (1, 1)]
    assert all(r["kernel_cond_over_top"] > 0 for r in rows)
    with pytest.raises(argparse.ArgumentTypeError, match="'2,x,2'"):
        bench_conv_grad.parse_shape("2,x,2")
