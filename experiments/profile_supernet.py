"""Where the NAS-Bench-201 masked supernet spends its time, next to a built network.

For one sampled cell, times four jitted computations in the built network (``standalone``) and
in the masked supernet with that cell's mask (``masked``; the mask is an argument, as when
scoring, not a constant that XLA could fold): the forward pass, the gradient of the summed
logits over the batch, per-sample gradients (vmapped over the samples) and the empirical NTK of
the summed logits (the engine's ``auto`` choice; BatchNorm on running statistics, which costs
the same as decoupled statistics). Prints one JSON line per path and computation: the median
seconds of ``--repeats`` calls after a first one, and the first call's extra seconds (mostly
compilation); then one line with the engine's estimated NTK costs and the measured ratios.

    python experiments/profile_supernet.py --build C=16,N=5 --batch-size 64   # the full size
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

try:  # run as a script (python experiments/profile_supernet.py) or imported as a module
    from experiments.nb201_correlation import parse_build
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from experiments.nb201_correlation import parse_build

import ntk_nas
import scorers
import search_spaces

COMPUTATIONS = ("forward", "grad", "per_sample_grad", "ntk")


def programs(module: Any) -> dict[str, Callable[[Any, Any, jax.Array], jax.Array]]:
    """``(params, others, x) -> array`` for each of `COMPUTATIONS`, jitted."""

    def logits(params: Any, others: Any, x: jax.Array) -> jax.Array:
        return module.apply({"params": params, **others}, x, train=False)

    def grad(params: Any, others: Any, x: jax.Array) -> Any:
        return jax.grad(lambda p: logits(p, others, x).sum())(params)

    def per_sample_grad(params: Any, others: Any, x: jax.Array) -> Any:
        return jax.vmap(lambda xi: grad(params, others, xi[None]))(x)

    def ntk(params: Any, others: Any, x: jax.Array) -> jax.Array:
        kernel = ntk_nas.empirical_ntk_fn(
            lambda p, xs: logits(p, others, xs), output="sum_logits", check_finite=False
        )
        return kernel(params, x)

    return {
        "forward": jax.jit(logits),
        "grad": jax.jit(grad),
        "per_sample_grad": jax.jit(per_sample_grad),
        "ntk": jax.jit(ntk),
    }


def time_calls(fn: Callable[..., Any], args: Sequence[Any], repeats: int) -> tuple[float, float]:
    """(median seconds of `repeats` calls ``fn(*args)`` after the first, the first call's extra
    seconds)."""
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        runs.append(time.perf_counter() - start)
    median = statistics.median(runs)
    return median, max(first - median, 0.0)


def add_cell_arguments(parser: argparse.ArgumentParser, *, build: str, repeats: int) -> None:
    """``--build`` (default `build`), ``--batch-size``, ``--repeats`` (default `repeats`) and
    ``--seed``: one sampled NB201 cell, its network's size, the batch and the timed calls."""
    parser.add_argument("--build", action="append", default=[build], help="e.g. C=8,N=1")
    parser.add_argument("--batch-size", type=int, default=64, help="samples N")
    parser.add_argument("--repeats", type=int, default=repeats, help="timed calls after the first")
    parser.add_argument("--seed", type=int, default=1, help="draws the cell")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_cell_arguments(parser, build="C=16,N=5", repeats=3)
    parser.add_argument(
        "--computations", nargs="+", default=list(COMPUTATIONS), choices=COMPUTATIONS
    )
    args = parser.parse_args(argv)
    args.build_options = parse_build(args.build)
    return args


def sampled_cell(args: argparse.Namespace) -> tuple[Any, Any, jax.Array]:
    """The NB201 space, the cell drawn from ``args.seed`` and a gaussian batch
    ``(args.batch_size, 32, 32, 3)``."""
    space = search_spaces.get("nb201")
    arch = space.sample(np.random.default_rng(args.seed))
    x = jax.random.normal(jax.random.key(0), (args.batch_size, 32, 32, 3), jnp.float32)
    return space, arch, x


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    space, arch, x = sampled_cell(args)
    options = {"num_classes": 10, **args.build_options}
    form = space.masked(**options)
    assert form is not None
    built = space.build(arch, **options)
    modules = {"standalone": (built, {}), "masked": (form.module, form.select(arch))}
    print(json.dumps({"arch": space.to_str(arch), **options, "batch_size": args.batch_size}))
    seconds: dict[tuple[str, str], float] = {}
    for path, (module, extra) in modules.items():
        variables = {**module.init(jax.random.key(0), x[:1]), **extra}
        params = variables["params"]
        others = {k: v for k, v in variables.items() if k != "params"}
        count = sum(leaf.size for leaf in jax.tree.leaves(params))
        found = programs(module)
        for name in args.computations:
            run, extra_s = time_calls(found[name], (params, others, x), args.repeats)
            seconds[path, name] = run
            row = {"path": path, "computation": name, "params": count}
            print(json.dumps({**row, "seconds": round(run, 4), "first_extra_s": round(extra_s, 2)}))
    scorer = scorers.ntk_cond(bn="eval", repeats=1)
    estimated = {
        "standalone": scorer.estimated_cost(built, None, x),
        "masked": scorer.estimated_cost(form.module, form.select(arch), x),
    }
    summary: dict[str, Any] = {
        "estimated_ntk_cost_ratio": round(estimated["masked"] / estimated["standalone"], 2)
    }
    for name in args.computations:
        ratio = seconds["masked", name] / seconds["standalone", name]
        summary[f"measured_ratio_{name}"] = round(ratio, 2)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
