"""The NTK of a built NAS-Bench-201 network whole, in chained tiles and in looped tiles.

Tiles bound the kernel's memory (`ntk_nas._ntk.blocks`). On CPU up to
``blocks.MAX_CHAINED_TILES`` tiles run as straight-line code, each waiting for the one before
(``chained``); more, or any count elsewhere, run under ``jax.lax.map`` (``looped``). Here each
way is forced, whatever the count, by setting that limit. For each way this prints one JSON
line: the median seconds of ``--repeats`` calls after a first one, the seconds to lower and
compile the kernel, XLA's temporary memory for the compiled kernel in MiB, and the sum of the
kernel's entries (equal across ways up to float rounding). The summary line gives the ratios
to the whole kernel.

    python experiments/bench_tiles.py --build C=16,N=3 --batch-size 64 --block-size 16
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

try:  # run as a script (python experiments/bench_tiles.py) or imported as a module
    from experiments.nb201_correlation import parse_build
    from experiments.profile_supernet import add_cell_arguments, sampled_cell, time_calls
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from experiments.nb201_correlation import parse_build
    from experiments.profile_supernet import add_cell_arguments, sampled_cell, time_calls

import ntk_nas
from ntk_nas._ntk import blocks

WAYS = ("whole", "chained", "looped")
_CHAIN_LIMITS = {"whole": 0, "chained": 1 << 30, "looped": 0}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_cell_arguments(parser, build="C=16,N=3", repeats=2)
    parser.add_argument("--block-size", type=int, default=16, help="samples per tile")
    parser.add_argument("--implementation", default="jacobian_contraction")
    parser.add_argument("--output", default="sum_logits", choices=("sum_logits", "trace", "full"))
    args = parser.parse_args(argv)
    args.build_options = parse_build(args.build)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    space, arch, x = sampled_cell(args)
    module = space.build(arch, **args.build_options)
    variables = module.init(jax.random.key(0), x[:1])
    others = {k: v for k, v in variables.items() if k != "params"}

    def f(params: dict, xs: jax.Array) -> jax.Array:
        return module.apply({"params": params, **others}, xs, train=False)

    settings = {k: v for k, v in vars(args).items() if k not in ("build", "build_options")}
    print(json.dumps({"arch": space.to_str(arch), **args.build_options, **settings}))
    seconds: dict[str, float] = {}
    chain_limit = blocks.MAX_CHAINED_TILES
    for way in WAYS:
        blocks.MAX_CHAINED_TILES = _CHAIN_LIMITS[way]
        try:
            fn = ntk_nas.empirical_ntk_fn(
                f,
                output=args.output,
                implementation=args.implementation,
                block_size=None if way == "whole" else args.block_size,
                check_finite=False,
            )
            start = time.perf_counter()
            compiled = fn.lower(variables["params"], x).compile()
            compile_s = time.perf_counter() - start
            seconds[way], _ = time_calls(compiled, (variables["params"], x, None), args.repeats)
            memory = compiled.memory_analysis()
            kernel = np.asarray(compiled(variables["params"], x, None))
        finally:
            blocks.MAX_CHAINED_TILES = chain_limit
        row = {
            "way": way,
            "seconds": round(seconds[way], 4),
            "compile_s": round(compile_s, 1),
            "temp_mib": round(memory.temp_size_in_bytes / 2**20, 1),
            "kernel_sum": float(kernel.sum()),
        }
        print(json.dumps(row), flush=True)
    ratios = {f"{way}_over_whole": round(seconds[way] / seconds["whole"], 2) for way in WAYS[1:]}
    print(json.dumps(ratios), flush=True)


if __name__ == "__main__":
    main()
