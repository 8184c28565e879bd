"""Architectures scored per second with `ntk_cond`, per NTK engine implementation; JSON lines.

Scores `--archs` random NAS-Bench-201-like architectures once each (``cold``: every new
architecture is traced and compiled, which is what a search pays) and then again (``warm``: the
compiled code is reused). One extra architecture is scored first and not counted, so that
one-off start-up costs (JAX's backend, eager primitives of the initialisers) stay out of the
rates. The first line names the machine. Networks are a small inline
NB201-like family (ReLU-Conv-BN edges, a 4-node cell, a residual reduction block), or with
``--space nb201`` those of the `search_spaces` package (imported only then).

    python experiments/bench_scorers.py --quick     # tiny sizes, a few minutes on 2 CPU cores
    python experiments/bench_scorers.py --space nb201 --space-option C=8 --space-option N=1
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

import scorers
from ntk_nas.data import load_dataset, sample_batch

IMPLEMENTATIONS = ["jacobian_contraction", "ntk_vector_products", "auto"]
OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
EDGES = [(i, j) for j in range(1, 4) for i in range(j)]


class ReLUConvBN(nn.Module):
    features: int
    kernel: int
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = nn.Conv(self.features, (self.kernel,) * 2, (self.stride,) * 2, use_bias=False)(
            nn.relu(x)
        )
        return nn.BatchNorm(use_running_average=not train)(x)


class Cell(nn.Module):
    ops: tuple[str, ...]
    features: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        nodes = [x]
        for j in range(1, 4):
            total = jnp.zeros_like(x)
            for (i, target), op in zip(EDGES, self.ops, strict=True):
                if target != j or op == "none":
                    continue
                h = nodes[i]
                if op == "skip_connect":
                    total = total + h
                elif op == "avg_pool_3x3":
                    total = total + nn.avg_pool(h, (3, 3), padding="SAME")
                else:
                    total = total + ReLUConvBN(self.features, int(op[-1]))(h, train)
            nodes.append(total)
        return nodes[-1]


class Reduction(nn.Module):
    features: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        h = ReLUConvBN(self.features, 3, stride=2)(x, train)
        h = ReLUConvBN(self.features, 3)(h, train)
        shortcut = nn.Conv(self.features, (1, 1))(nn.avg_pool(x, (2, 2), (2, 2)))
        return h + shortcut


class TinyNB201(nn.Module):
    """Stem, then three stages of `cells` cells (channels C, 2C, 4C) joined by reductions."""

    ops: tuple[str, ...]
    channels: int = 8
    cells: int = 1
    classes: int = 10

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = nn.BatchNorm(use_running_average=not train)(
            nn.Conv(self.channels, (3, 3), use_bias=False)(x)
        )
        for stage in range(3):
            features = self.channels * 2**stage
            if stage:
                x = Reduction(features)(x, train)
            for _ in range(self.cells):
                x = Cell(self.ops, features)(x, train)
        x = nn.relu(nn.BatchNorm(use_running_average=not train)(x))
        return nn.Dense(self.classes)(jnp.mean(x, axis=(1, 2)))


def inline_archs(count: int, seed: int, channels: int, cells: int) -> list[tuple[str, nn.Module]]:
    rng = np.random.default_rng(seed)
    archs = []
    for _ in range(count):
        ops = tuple(str(op) for op in rng.choice(OPS, size=len(EDGES)))
        name = "|".join(f"{op}~{i}" for (i, _), op in zip(EDGES, ops, strict=True))
        archs.append((name, TinyNB201(ops, channels, cells)))
    return archs


def space_archs(
    space_name: str, count: int, seed: int, options: dict[str, Any]
) -> list[tuple[str, nn.Module]]:
    search_spaces = importlib.import_module("search_spaces")
    space = search_spaces.get(space_name)
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(count)]
    return [(space.to_str(a), space.build(a, num_classes=10, **options)) for a in archs]


def _rate(
    scorer: scorers.Scorer, archs: Sequence[tuple[str, nn.Module]], batch: Any
) -> tuple[float, float]:
    """(architectures per second, seconds) of scoring every architecture once."""
    start = time.perf_counter()
    for index, (_, module) in enumerate(archs):
        scorer(module, None, batch, key=jax.random.key(index))
    seconds = time.perf_counter() - start
    return len(archs) / seconds, seconds


def _option(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    return key, json.loads(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", type=int, default=8, help="architectures per implementation")
    parser.add_argument("--batch", type=int, default=32, help="NTK batch size N")
    parser.add_argument("--repeats", type=int, default=3, help="initialisations per score")
    parser.add_argument("--space", help="a search_spaces name (e.g. nb201) instead of inline nets")
    parser.add_argument(
        "--space-option", type=_option, action="append", default=[], help="KEY=JSON for build()"
    )
    parser.add_argument("--channels", type=int, default=8, help="inline nets: channels C")
    parser.add_argument("--cells", type=int, default=1, help="inline nets: cells per stage")
    parser.add_argument("--quick", action="store_true", help="4 archs, N=8, 16x16 inputs")
    parser.add_argument(
        "--implementations", default=",".join(IMPLEMENTATIONS), help="comma-separated subset"
    )
    args = parser.parse_args()
    count, n = (4, 8) if args.quick else (args.archs, args.batch)
    x, y = sample_batch(load_dataset("cifar10"), n, seed=0)
    if args.quick:
        x = x[:, :16, :16]
    make: Callable[[], list[tuple[str, nn.Module]]]
    if args.space:
        make = lambda: space_archs(args.space, count + 1, 0, dict(args.space_option))
    else:
        make = lambda: inline_archs(count + 1, 0, args.channels, args.cells)
    print(
        json.dumps(
            {
                "platform": platform.platform(),
                "processor": platform.processor() or platform.machine(),
                "devices": [str(d) for d in jax.devices()],
                "jax": jax.__version__,
            }
        ),
        flush=True,
    )
    for implementation in args.implementations.split(","):
        scorer = scorers.get("ntk_cond", implementation=implementation, repeats=args.repeats)
        warmup, *archs = make()
        _rate(scorer, [warmup], (x, y))
        cold, cold_seconds = _rate(scorer, archs, (x, y))
        warm, warm_seconds = _rate(scorer, archs, (x, y))
        row = {
            "scorer": "ntk_cond",
            "implementation": implementation,
            "space": args.space or "inline-nb201",
            "archs": count,
            "N": n,
            "repeats": args.repeats,
            "input": list(x.shape[1:]),
            "cold_archs_per_s": round(cold, 4),
            "cold_seconds": round(cold_seconds, 2),
            "warm_archs_per_s": round(warm, 4),
            "warm_seconds": round(warm_seconds, 3),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
