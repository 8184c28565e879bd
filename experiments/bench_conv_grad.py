"""A 3x3 convolution's weight gradient at the top level of a program and inside control flow.

For each shape ``(batch, height = width, channels)`` this times, jitted, the gradient of a
``SAME`` 3x3 convolution (NHWC, ``channels`` in and out) with respect to its kernel at the top
level of the program (``kernel_top``), inside a ``lax.cond`` branch (``kernel_cond``) and inside
a ``lax.map`` of one step (``kernel_map``), and for comparison the gradient with respect to its
input at the top level and in a ``lax.cond`` (``input_top``, ``input_cond``). One JSON line per
shape: the median seconds of ``--repeats`` calls after a first one, and the ratios of each
control-flow way to the same gradient at the top level (3 significant figures). This is why
the NTK engine chains its tiles on CPU instead of looping over them (`ntk_nas._ntk.blocks`).

    python experiments/bench_conv_grad.py
    python experiments/bench_conv_grad.py --shapes 64,32,16 64,8,64
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def _conv(kernel: jax.Array, x: jax.Array) -> jax.Array:
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=_DIMENSIONS)


def _kernel_grad(kernel: jax.Array, x: jax.Array, cotangent: jax.Array) -> jax.Array:
    return jax.vjp(lambda k: _conv(k, x), kernel)[1](cotangent)[0]


def _input_grad(kernel: jax.Array, x: jax.Array, cotangent: jax.Array) -> jax.Array:
    return jax.vjp(lambda v: _conv(kernel, v), x)[1](cotangent)[0]


def _in_cond(grad: Callable[..., jax.Array]) -> Callable[..., jax.Array]:
    """`grad` in the taken branch of a conditional on a run-time flag."""

    def run(kernel: jax.Array, x: jax.Array, cotangent: jax.Array, flag: jax.Array) -> jax.Array:
        return jax.lax.cond(
            flag > 0,
            lambda: grad(kernel, x, cotangent),
            lambda: jnp.zeros_like(grad(kernel, x, cotangent)),
        )

    return run


def programs() -> dict[str, Callable[..., jax.Array]]:
    """``(kernel, x, cotangent, flag) -> gradient`` for each way, jitted."""

    def top(grad: Callable[..., jax.Array]) -> Callable[..., jax.Array]:
        return lambda kernel, x, cotangent, flag: grad(kernel, x, cotangent)

    def looped(kernel: jax.Array, x: jax.Array, cotangent: jax.Array, flag: jax.Array) -> jax.Array:
        return jax.lax.map(lambda xc: _kernel_grad(kernel, *xc), (x[None], cotangent[None]))[0]

    ways = {
        "kernel_top": top(_kernel_grad),
        "kernel_cond": _in_cond(_kernel_grad),
        "kernel_map": looped,
        "input_top": top(_input_grad),
        "input_cond": _in_cond(_input_grad),
    }
    return {name: jax.jit(fn) for name, fn in ways.items()}


#: Each control-flow way and the top-level way it is compared with.
RATIOS = {"kernel_cond": "kernel_top", "kernel_map": "kernel_top", "input_cond": "input_top"}


def median_seconds(fn: Callable[..., jax.Array], args: Sequence[jax.Array], repeats: int) -> float:
    """Median seconds of `repeats` calls after a first (compiling) one."""
    jax.block_until_ready(fn(*args))
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def parse_shape(text: str) -> tuple[int, int, int]:
    """``"batch,size,channels"`` -> a tuple of three positive ints."""
    parts = text.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected BATCH,SIZE,CHANNELS, got {text!r}")
    batch, size, channels = (int(p) for p in parts)
    return batch, size, channels


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shapes",
        type=parse_shape,
        nargs="+",
        default=[(64, 32, 16), (64, 16, 32), (64, 8, 64), (16, 32, 8)],
        help="BATCH,SIZE,CHANNELS (NB201's stages at C=16, batch 64, by default)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    found = programs()
    for batch, size, channels in args.shapes:
        keys = jax.random.split(jax.random.key(0), 3)
        kernel = 0.1 * jax.random.normal(keys[0], (3, 3, channels, channels))
        x = jax.random.normal(keys[1], (batch, size, size, channels))
        cotangent = jax.random.normal(keys[2], (batch, size, size, channels))
        operands = (kernel, x, cotangent, jnp.ones(()))
        seconds = {name: median_seconds(fn, operands, args.repeats) for name, fn in found.items()}
        row = {"batch": batch, "size": size, "channels": channels}
        row |= {f"{name}_s": round(s, 4) for name, s in seconds.items()}
        row |= {
            f"{way}_over_top": float(f"{seconds[way] / seconds[top]:.3g}")
            for way, top in RATIOS.items()
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
