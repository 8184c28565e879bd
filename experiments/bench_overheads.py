"""The per-cell host-side costs of scoring NAS-Bench-201 cells, each next to its predecessor.

Times, per cell and in milliseconds, two steps that `ntk_nas.rank` takes for every cell besides
the scorer's own computation:

- ``param_count``: the cell's parameter count, traced from the built network (``traced``, how
  `NB201Space.num_params` counted before) against `NB201Space.num_params` (``summed``: the
  skeleton's count plus each edge's op's, traced once per size; that first trace is included);
- ``stack``: the masked supernet's initialised variables stacked on a new leading axis for the
  NTK scorer, leaf by leaf in eager mode (``eager``) against `scorers.ntk`'s compiled stacking
  (``compiled``), the median of ``--repeats`` calls after a first one.

Prints one JSON line per step with both figures and their ratio; the counts must agree.

    python experiments/bench_overheads.py --build C=16,N=5 --archs 20
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

try:  # run as a script (python experiments/bench_overheads.py) or imported as a module
    from experiments.nb201_correlation import parse_build
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from experiments.nb201_correlation import parse_build

from scorers import ntk
from scorers._model import init_variables
from search_spaces import NB201Space
from search_spaces.base import count_params


def per_call_ms(call: Callable[[], Any], repeats: int) -> float:
    """Median milliseconds of `repeats` calls of `call` (results waited for), after a first."""
    jax.block_until_ready(call())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(call())
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", type=int, default=20, help="sampled cells to count")
    parser.add_argument("--build", action="append", default=[], help="e.g. C=16,N=5")
    parser.add_argument("--repeats", type=int, default=10, help="timed stacking calls")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    options = {"num_classes": 10, **parse_build(args.build)}
    space = NB201Space()
    rng = np.random.default_rng(args.seed)
    archs = [space.sample(rng) for _ in range(args.archs)]

    start = time.perf_counter()
    traced = [count_params(space.build(a, **options), space.input_shape) for a in archs]
    traced_ms = 1e3 * (time.perf_counter() - start) / len(archs)
    start = time.perf_counter()
    summed = [space.num_params(a, **options) for a in archs]
    summed_ms = 1e3 * (time.perf_counter() - start) / len(archs)
    if summed != traced:
        raise SystemExit(f"the counts disagree: traced {traced}, summed {summed}")
    row = {"step": "param_count", "archs": len(archs), **options}
    figures = {"traced_ms": traced_ms, "summed_ms": summed_ms, "ratio": summed_ms / traced_ms}
    print(json.dumps({**row, **figures}), flush=True)

    masked = space.masked(**options)
    x = jnp.zeros((1, *space.input_shape))
    variables = init_variables(masked.module, masked.select(archs[0]), x, jax.random.key(0))
    eager = per_call_ms(
        lambda: jax.tree.map(lambda leaf: jnp.stack([leaf]), variables), args.repeats
    )
    compiled = per_call_ms(lambda: ntk._stack([variables]), args.repeats)
    row = {"step": "stack", "leaves": len(jax.tree.leaves(variables)), **options}
    figures = {"eager_ms": eager, "compiled_ms": compiled, "ratio": compiled / eager}
    print(json.dumps({**row, **figures}), flush=True)


if __name__ == "__main__":
    main()
