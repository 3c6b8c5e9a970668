"""Market-steps per second of the native vector env, against gymnasium's SyncVectorEnv.

How to run:
    python benchmarks/env_throughput.py [--family retail-v1] [--seconds 3]
        [--json benchmarks/results/env_throughput.json]

What to expect:
    One line per configuration: the native ``MarketVectorEnv`` over N = 1, 64,
    1024 and 4096 markets, and gymnasium's ``SyncVectorEnv`` over the single-market
    env for N = 64 and 1024 (what a user gets without the native vector env), then
    the native/sync ratio at equal N. The run is pinned to one core and numpy to
    one thread. Targets: 1,000,000 market-steps/s at N = 4096; ratio >= 50 at
    N = 1024. Figures depend on the machine; compare ratios within one run.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

from rayprice.market.env import MarketEnv, MarketVectorEnv  # noqa: E402


def rate(env: gym.vector.VectorEnv, n: int, seconds: float, seed: int) -> float:
    """Market-steps per second over random actions, after a short warm-up."""
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1, 1, size=(64, n, 1)).astype(np.float32)
    for k in range(3):
        env.step(actions[k])
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(actions[steps % 64])
        steps += 1
    return steps * n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", default="retail-v1")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--json", type=Path, default=Path("benchmarks/results/env_throughput.json")
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    native, sync = {}, {}
    for n in (1, 64, 1024, 4096):
        native[n] = rate(
            MarketVectorEnv(num_envs=n, family=args.family), n, args.seconds, args.seed
        )
        print(f"native MarketVectorEnv   N={n:5d}  {native[n]:>12,.0f} market-steps/s")
    for n in (64, 1024):
        env = gym.vector.SyncVectorEnv(
            [lambda: MarketEnv(family=args.family) for _ in range(n)],
            autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
        )
        sync[n] = rate(env, n, args.seconds, args.seed)
        print(f"gymnasium SyncVectorEnv  N={n:5d}  {sync[n]:>12,.0f} market-steps/s")
    ratios = {n: native[n] / sync[n] for n in sync}
    for n, r in ratios.items():
        print(f"ratio native/sync        N={n:5d}  {r:>12.1f}x")
    print(
        f"target: >= 1,000,000 at N=4096 ({'met' if native[4096] >= 1e6 else 'not met'}); "
        f"ratio >= 50 at N=1024 ({'met' if ratios[1024] >= 50 else 'not met'})"
    )

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "benchmark": "env_throughput",
                "family": args.family,
                "seconds_per_measure": args.seconds,
                "seed": args.seed,
                "machine": platform.platform(),
                "processor": platform.processor(),
                "native_steps_per_s": native,
                "sync_steps_per_s": sync,
                "ratio_native_over_sync": ratios,
                "targets": {"native_4096": 1e6, "ratio_1024": 50},
            },
            indent=2,
        )
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
