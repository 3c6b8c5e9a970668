"""RLlib training throughput: env steps sampled per second with the native vector
env against gymnasium's sync vectorisation of the single env, and learner updates
per second.

How to run:
    python benchmarks/train_throughput.py [--num-envs 64] [--steps 12800]
        [--network transformer] [--json benchmarks/results/train_throughput.json]

What to expect:
    Two lines of sampling throughput (env steps/s through RLlib's
    SingleAgentEnvRunner, policy inference included) for the native
    ``MarketVectorEnv`` (``gym_env_vectorize_mode="vector_entry_point"``) and for
    ``SyncVectorEnv`` over ``MarketEnv`` copies (``"sync"``), at the same number
    of markets per runner, then the ratio, then learner updates (SGD minibatch
    steps) per second and learner samples per second from two PPO iterations.
    On a busy 2-core machine expect a ratio well below the env-only ratio of
    ``benchmarks/env_throughput.py``: RLlib's connectors and the policy's forward
    pass cost the same in both modes and dominate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def sampling_rate(mode: str, settings: object, steps: int) -> float:
    """Env steps per second of the local EnvRunner's ``sample()``, after a warm-up."""
    from rayprice.train.config import build_config

    algo = build_config(settings, vectorize_mode=mode).build_algo()  # type: ignore[arg-type]
    try:
        runner = algo.env_runner
        runner.sample(num_timesteps=1024, random_actions=False)
        start = time.perf_counter()
        done = 0
        while done < steps:
            episodes = runner.sample(num_timesteps=2048, random_actions=False)
            done += sum(len(e) for e in episodes)
        return done / (time.perf_counter() - start)
    finally:
        algo.stop()


def learner_rate(settings: object) -> tuple[float, float]:
    """(minibatch updates per second, samples per second) of PPO's learner."""
    from rayprice.train.config import build_config

    algo = build_config(settings).build_algo()  # type: ignore[arg-type]
    try:
        algo.train()
        result = algo.train()
        seconds = result["timers"]["learner_update_timer"]
    finally:
        algo.stop()
    s = settings
    updates = s.num_epochs * s.train_batch_size / s.minibatch_size  # type: ignore[attr-defined]
    samples = s.num_epochs * s.train_batch_size  # type: ignore[attr-defined]
    return updates / seconds, samples / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", default="retail-v1")
    parser.add_argument("--network", default="transformer")
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=12_800)
    parser.add_argument(
        "--json", type=Path, default=Path("benchmarks/results/train_throughput.json")
    )
    args = parser.parse_args()

    import ray
    import ray.tune.trainable.trainable as trainable
    import torch

    from rayprice.train.settings import TrainSettings

    torch.set_num_threads(1)
    scratch = Path(tempfile.mkdtemp(prefix="rayprice-bench-"))
    trainable.DEFAULT_STORAGE_PATH = str(scratch)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=256 * 1024**2,
        log_to_driver=False,
        _temp_dir=str(scratch / "ray"),
    )
    settings = TrainSettings(
        family=args.family,
        network=args.network,
        num_envs_per_env_runner=args.num_envs,
        eval_every=0,
        output_dir=scratch,
    )

    native = sampling_rate("vector_entry_point", settings, args.steps)
    print(
        f"sampling, native vector env   N={args.num_envs}: {native:>9,.0f} env steps/s"
    )
    sync = sampling_rate("sync", settings, args.steps)
    print(f"sampling, gymnasium sync      N={args.num_envs}: {sync:>9,.0f} env steps/s")
    print(f"ratio native/sync: {native / sync:.2f}x")
    updates, samples = learner_rate(settings)
    print(
        f"learner: {updates:.2f} minibatch updates/s ({samples:,.0f} samples/s, "
        f"minibatch {settings.minibatch_size}, {settings.network})"
    )
    ray.shutdown()

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "benchmark": "train_throughput",
                "family": args.family,
                "network": args.network,
                "num_envs_per_env_runner": args.num_envs,
                "steps_measured": args.steps,
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "sample_steps_per_s": {"vector_entry_point": native, "sync": sync},
                "ratio_native_over_sync": native / sync,
                "learner_updates_per_s": updates,
                "learner_samples_per_s": samples,
                "minibatch_size": settings.minibatch_size,
                "train_batch_size": settings.train_batch_size,
                "num_epochs": settings.num_epochs,
            },
            indent=2,
        )
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
