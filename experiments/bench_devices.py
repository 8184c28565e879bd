"""NTK seconds with the kernel's rows split across 1, 2 and 4 devices; one JSON line per count.

Each device count runs in its own process. On a CPU the devices are forced host devices
(``--xla_force_host_platform_device_count``), which share the machine's cores, so the figure to
read there is the overhead of splitting; on a machine with several accelerators the same command
measures the speed-up. Seconds are the median of `--reps` calls after a compiling call; `ratio`
is over the one-device time of the same run. The model is the MLP 784-512-512-10 of
``bench_ntk.py``, ``output="trace"``.

    python experiments/bench_devices.py                 # N = 512, 1/2/4 devices
    python experiments/bench_devices.py --n 128 --devices 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence


def time_kernel(n: int, reps: int) -> dict[str, float | int]:
    """Times the sharded kernel on every local device (run inside the worker process)."""
    import flax.linen as nn
    import jax

    import ntk_nas

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x: jax.Array) -> jax.Array:
            x = nn.relu(nn.Dense(512)(x))
            return nn.Dense(10)(nn.relu(nn.Dense(512)(x)))

    model = MLP()
    x = jax.random.normal(jax.random.key(0), (n, 784))
    variables = model.init(jax.random.key(1), x[:1])
    fn = ntk_nas.empirical_ntk_fn(model.apply, output="trace", mesh="local")
    jax.block_until_ready(fn(variables, x))
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        jax.block_until_ready(fn(variables, x))
        times.append(time.perf_counter() - start)
    return {"devices": jax.local_device_count(), "N": n, "seconds": statistics.median(times)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=512, help="samples N (the kernel is N x N)")
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(time_kernel(args.n, args.reps)), flush=True)
        return
    baseline = None
    for count in args.devices:
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={count}"}
        command = [sys.executable, __file__, "--worker", "--n", str(args.n)]
        done = subprocess.run(
            [*command, "--reps", str(args.reps)], capture_output=True, text=True, env=env
        )
        if done.returncode:
            raise SystemExit(f"{count} devices failed:\n{done.stderr[-2000:]}")
        row = json.loads(done.stdout.splitlines()[-1])
        baseline = row["seconds"] if baseline is None else baseline
        row["ratio_to_first"] = round(row["seconds"] / baseline, 3)
        row["seconds"] = round(row["seconds"], 4)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
