"""Times every NTK implementation on a fixed model set; prints one JSON line per case.

The models are those of the neural-tangents anchor (`../shared/anchors/bench_anchor.py`), so the two
can be run side by side. Seconds are the median of `--reps` calls after a warm-up call that compiles
(`block_until_ready` each); `ratio` is seconds over `jacobian_contraction`'s in the same run;
`temp_mib` is XLA's temporary memory for the compiled call; `rel_diff` is the relative Frobenius
difference to `jacobian_contraction`'s kernel.

    python experiments/bench_ntk.py                 # the whole set
    python experiments/bench_ntk.py --quick         # small sizes, a minute on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

import ntk_nas

IMPLEMENTATIONS = ["jacobian_contraction", "ntk_vector_products", "structured_derivatives", "auto"]
NB201_CELL = {
    (0, 1): "conv3x3",
    (0, 2): "conv1x1",
    (1, 2): "avgpool3x3",
    (0, 3): "skip",
    (1, 3): "conv3x3",
    (2, 3): "conv1x1",
}


class MLP(nn.Module):
    width: int = 512

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.relu(nn.Dense(self.width)(x))
        x = nn.relu(nn.Dense(self.width)(x))
        return nn.Dense(10)(x)


class CNN(nn.Module):
    channels: int = 32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.relu(nn.Conv(self.channels, (3, 3))(x))
        x = nn.relu(nn.Conv(2 * self.channels, (3, 3), strides=(2, 2))(x))
        return nn.Dense(10)(jnp.mean(x, axis=(1, 2)))


class WideResNet(nn.Module):
    channels: int = 32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.Conv(self.channels, (3, 3))(x)
        for _ in range(2):
            h = nn.Conv(self.channels, (3, 3))(nn.relu(x))
            x = x + nn.Conv(self.channels, (3, 3))(nn.relu(h))
        return nn.Dense(10)(jnp.mean(nn.relu(x), axis=(1, 2)))


class NB201Cell(nn.Module):
    channels: int = 16

    def _edge(self, op: str, h: jax.Array) -> jax.Array:
        if op == "conv3x3":
            return nn.Conv(self.channels, (3, 3))(nn.relu(h))
        if op == "conv1x1":
            return nn.Conv(self.channels, (1, 1))(nn.relu(h))
        if op == "avgpool3x3":
            return nn.avg_pool(h, (3, 3), strides=(1, 1), padding="SAME")
        return h

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        nodes = [nn.Conv(self.channels, (3, 3))(x)]
        for j in range(1, 4):
            nodes.append(sum(self._edge(NB201_CELL[(i, j)], nodes[i]) for i in range(j)))
        return nn.Dense(10)(jnp.mean(nn.relu(nodes[3]), axis=(1, 2)))


# name -> (model, input shape per sample, N)
MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...], int]] = {
    "mlp": (MLP, (784,), 64),
    "cnn": (CNN, (32, 32, 3), 32),
    "wrn": (WideResNet, (16, 16, 16), 16),
    "nb201": (NB201Cell, (32, 32, 3), 16),
}
QUICK_N = {"mlp": 16, "cnn": 8, "wrn": 8, "nb201": 8}


def _time(fn: Callable[[], jax.Array], reps: int) -> tuple[float, float, jax.Array]:
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    first = time.perf_counter() - start
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        out = jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times), first, out


def bench_model(name: str, n: int, reps: int, implementations: list[str]) -> list[dict]:
    make, shape, _ = MODELS[name]
    module = make()
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    x1 = jax.random.normal(k1, (n, *shape))
    x2 = jax.random.normal(k2, (n, *shape))
    variables = module.init(k3, x1[:1])
    params = sum(leaf.size for leaf in jax.tree_util.tree_leaves(variables["params"]))
    rows = []
    for output in ["full", "trace"]:
        kernels: dict[str, np.ndarray] = {}
        for implementation in implementations:
            fn = ntk_nas.empirical_ntk_fn(
                module.apply, output=output, implementation=implementation
            )
            seconds, first, kernel = _time(lambda fn=fn: fn(variables, x1, x2), reps)
            memory = fn.lower(variables, x1, x2).compile().memory_analysis()
            kernels[implementation] = np.asarray(kernel, np.float64)
            rows.append(
                {
                    "model": name,
                    "output": output,
                    "implementation": implementation,
                    "chosen": fn.plan(variables, x1, x2).implementation.value,
                    "N": n,
                    "P": int(params),
                    "seconds": round(seconds, 5),
                    "first_call_seconds": round(first, 3),
                    "temp_mib": round(memory.temp_size_in_bytes / 2**20, 1) if memory else None,
                }
            )
        base = kernels["jacobian_contraction"]
        base_seconds = next(
            r["seconds"]
            for r in rows
            if r["output"] == output and r["implementation"] == "jacobian_contraction"
        )
        for row in rows:
            if row["output"] == output:
                k = kernels[row["implementation"]]
                row["ratio"] = round(row["seconds"] / base_seconds, 3)
                row["rel_diff"] = float(f"{np.linalg.norm(k - base) / np.linalg.norm(base):.2e}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset")
    parser.add_argument("--reps", type=int, default=3, help="timed calls per case")
    parser.add_argument("--quick", action="store_true", help="small N: about a minute on 2 cores")
    parser.add_argument(
        "--implementations", default=",".join(IMPLEMENTATIONS), help="comma-separated subset"
    )
    args = parser.parse_args()
    print(
        json.dumps(
            {
                "machine": platform.processor() or platform.machine(),
                "devices": [str(d) for d in jax.devices()],
                "jax": jax.__version__,
            }
        )
    )
    for name in args.models.split(","):
        if name not in MODELS:
            parser.error(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
        n = QUICK_N[name] if args.quick else MODELS[name][2]
        for row in bench_model(name, n, args.reps, args.implementations.split(",")):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
