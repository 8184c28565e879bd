"""Times every NTK implementation on a fixed model set; prints one JSON line per case.

The models are those of the neural-tangents anchor (`../shared/anchors/bench_anchor.py`), so the two
can be run side by side. Seconds are the median of `--reps` calls after a warm-up call that compiles
(`block_until_ready` each; one timed call when the warm-up took over `--slow-s`); `ratio` is seconds
over the fastest implementation's in the same run (`auto` excluded); `temp_mib` is XLA's temporary
memory for the compiled call (its peak working memory); `rel_diff` is the relative Frobenius
difference to the first implementation's kernel; `chosen` is what `auto` picks. A case whose cost
model estimate exceeds `--max-estimate-s` or whose estimated peak memory exceeds the memory budget
is not run and reported with `"status": "skipped ..."`. After each case one `"kind": "auto"` line
compares auto's time with the fastest.

    python experiments/bench_ntk.py                 # the four anchor models
    python experiments/bench_ntk.py --sweep         # + MLP widths, CNN channels and N sweeps
    python experiments/bench_ntk.py --quick         # small sizes, a minute on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

import ntk_nas
from ntk_nas._ntk.blocks import default_memory_budget

IMPLEMENTATIONS = ["jacobian_contraction", "ntk_vector_products", "structured_derivatives", "auto"]
# Cost-model units (GEMM FLOPs) per second on 2 CPU cores, only to skip hopeless cases.
COST_PER_SECOND = 2e11
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
MODELS: dict[str, tuple[Callable[..., nn.Module], tuple[int, ...], int]] = {
    "mlp": (MLP, (784,), 64),
    "cnn": (CNN, (32, 32, 3), 32),
    "wrn": (WideResNet, (16, 16, 16), 16),
    "nb201": (NB201Cell, (32, 32, 3), 16),
}
QUICK_N = {"mlp": 16, "cnn": 8, "wrn": 8, "nb201": 8}
# (model, size keyword, size, N): MLP widths, CNN channels, then N for the default sizes.
SWEEP = [
    *(("mlp", "width", w, 64) for w in (64, 256, 1024)),
    *(("cnn", "channels", c, 32) for c in (16, 64, 128)),
    *(("mlp", "width", 512, n) for n in (16, 256)),
    *(("cnn", "channels", 32, n) for n in (16, 64, 256)),
]


def _time(fn: Callable[[], jax.Array], reps: int, slow_s: float) -> tuple[float, float, jax.Array]:
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    first = time.perf_counter() - start
    times = []
    for _ in range(reps if first <= slow_s else 1):
        start = time.perf_counter()
        out = jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times), first, out


def bench_case(name: str, n: int, size: dict[str, int], args: argparse.Namespace) -> list[dict]:
    make, shape, _ = MODELS[name]
    module = make(**size)
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    x1 = jax.random.normal(k1, (n, *shape))
    x2 = jax.random.normal(k2, (n, *shape))
    variables = module.init(k3, x1[:1])
    params = sum(leaf.size for leaf in jax.tree_util.tree_leaves(variables["params"]))
    budget = default_memory_budget()
    rows = []
    for output in args.outputs.split(","):
        kernels: dict[str, np.ndarray] = {}
        case = []
        for implementation in args.implementations.split(","):
            fn = ntk_nas.empirical_ntk_fn(
                module.apply, output=output, implementation=implementation
            )
            try:
                plan = fn.plan(variables, x1, x2)
            except ntk_nas.NTKInputError as error:
                case.append(
                    {
                        "model": name,
                        **size,
                        "output": output,
                        "N": n,
                        "implementation": implementation,
                        "status": f"skipped ({error})",
                    }
                )
                continue
            row = {
                "model": name,
                **size,
                "output": output,
                "implementation": implementation,
                "chosen": plan.implementation.value,
                "N": n,
                "P": int(params),
                "estimate_s": round(plan.cost / COST_PER_SECOND, 3),
                "block": plan.block,
            }
            case.append(row)
            if plan.cost / COST_PER_SECOND > args.max_estimate_s:
                row["status"] = f"skipped (estimated {plan.cost / COST_PER_SECOND:.0f} s)"
                continue
            if plan.block < n and plan.cost / COST_PER_SECOND > args.max_estimate_s / 10:
                # Tiles run under a while loop, where XLA:CPU can be far slower than estimated.
                estimate = plan.cost / COST_PER_SECOND
                row["status"] = (
                    f"skipped (needs tiles of {plan.block} under the {budget / 2**30:.1f} GiB "
                    f"budget; estimated {estimate:.0f} s)"
                )
                continue
            seconds, first, kernel = _time(
                lambda fn=fn: fn(variables, x1, x2), args.reps, args.slow_s
            )
            memory = fn.lower(variables, x1, x2).compile().memory_analysis()
            kernels[implementation] = np.asarray(kernel, np.float64)
            row.update(
                status="ok",
                seconds=round(seconds, 5),
                first_call_seconds=round(first, 3),
                temp_mib=round(memory.temp_size_in_bytes / 2**20, 1) if memory else None,
            )
        timed = [r for r in case if "seconds" in r and r["implementation"] != "auto"]
        if timed:
            fastest = min(timed, key=lambda r: r["seconds"])
            base = kernels[timed[0]["implementation"]]
            for row in case:
                if "seconds" in row:
                    k = kernels[row["implementation"]]
                    row["ratio"] = round(row["seconds"] / fastest["seconds"], 3)
                    row["rel_diff"] = float(
                        f"{np.linalg.norm(k - base) / np.linalg.norm(base):.2e}"
                    )
            auto = next((r for r in case if r["implementation"] == "auto"), None)
            if auto is not None:
                summary = {
                    "kind": "auto",
                    "model": name,
                    **size,
                    "N": n,
                    "output": output,
                    "chosen": auto["chosen"],
                    "fastest": fastest["implementation"],
                    "auto_over_fastest": auto.get("ratio"),
                    "all_timed": len(timed) == len(case) - 1,
                }
                case.append(summary)
        for row in case:
            print(json.dumps(row), flush=True)
        rows.extend(case)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset")
    parser.add_argument("--reps", type=int, default=3, help="timed calls per case")
    parser.add_argument("--quick", action="store_true", help="small N: about a minute on 2 cores")
    parser.add_argument("--sweep", action="store_true", help="also MLP widths, CNN channels, N")
    parser.add_argument("--no-default", action="store_true", help="only the sweep")
    parser.add_argument("--outputs", default="full,trace", help="comma-separated subset")
    parser.add_argument(
        "--implementations", default=",".join(IMPLEMENTATIONS), help="comma-separated subset"
    )
    parser.add_argument("--slow-s", type=float, default=10.0, help="one timed call above this")
    parser.add_argument(
        "--max-estimate-s", type=float, default=60.0, help="skip cases estimated slower"
    )
    args = parser.parse_args()
    print(
        json.dumps(
            {
                "kind": "meta",
                "machine": platform.processor() or platform.machine(),
                "devices": [str(d) for d in jax.devices()],
                "jax": jax.__version__,
                "cpus": os.cpu_count(),
            }
        )
    )
    cases: list[tuple[str, dict[str, int], int]] = []
    if not args.no_default:
        for name in args.models.split(","):
            if name not in MODELS:
                parser.error(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
            cases.append((name, {}, QUICK_N[name] if args.quick else MODELS[name][2]))
    if args.sweep:
        cases.extend((name, {key: value}, n) for name, key, value, n in SWEEP)
    for name, size, n in cases:
        bench_case(name, n, size, args)


if __name__ == "__main__":
    main()
