"""Sampling throughput across simulation nodes: env steps per second with 1, 2 and 4
EnvRunners on a local multi-node Ray cluster, and what a cluster would sample.

How to run:
    python benchmarks/cluster_scaling.py [--runners 1,2,4] [--num-envs 64]
        [--steps 4096] [--rounds 3] [--nodes 8] [--runners-per-node 14]
        [--json benchmarks/results/cluster_scaling.json]

    It starts its own cluster with ``ray.cluster_utils.Cluster`` (a head and one
    simulation node per EnvRunner, each node 1 CPU and 1 ``simulation``, the
    resource ``cluster.yaml``'s ``sim_cpu`` nodes offer), so no Ray may be running
    in this process; it takes 2-4 minutes on 2 cores.

What to expect:
    One line per EnvRunner count: env steps sampled per second by all EnvRunners
    together, measured sampling-only (every EnvRunner's ``sample()`` on
    ``--steps`` env steps at once through ``env_runner_group.foreach_env_runner``,
    policy inference included, no learner updates), after one warm-up round; the
    scaling efficiency (rate / (runners x the one-runner rate)); the per-runner
    rate; and an estimate for a cluster of ``--nodes`` simulation nodes with
    ``--runners-per-node`` EnvRunners each: nodes x runners per node x per-runner
    rate. On a 2-core machine 2 EnvRunners raise the rate by about 1.7x and 4
    oversubscribe the cores (4 processes on 2 cores), so the 4-runner line
    measures contention, not scaling; on a cluster each EnvRunner has its own
    core. The estimate assumes a cluster core samples like a core here and that
    sampling, not the learner, is the bottleneck.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

SIMULATION = "simulation"
NODE_OBJECT_STORE = 100 * 1024 * 1024


def sampled_steps(runner: Any, steps: int) -> int:
    """Runs on an EnvRunner: sample ``steps`` env steps, return how many it took."""
    episodes = runner.sample(num_timesteps=steps, random_actions=False)
    return int(sum(len(e) for e in episodes))


def sampling_rate(settings: Any, steps: int, rounds: int) -> tuple[float, list[str]]:
    """Env steps per second of all remote EnvRunners sampling at once; their nodes."""
    import ray

    from rayprice.train.config import build_config

    algo = build_config(settings).build_algo()
    try:
        group = algo.env_runner_group
        nodes = group.foreach_env_runner(
            lambda _: ray.get_runtime_context().get_node_id(),
            local_env_runner=False,
        )
        group.foreach_env_runner(
            lambda r: sampled_steps(r, steps), local_env_runner=False
        )
        done = 0
        start = time.perf_counter()
        for _ in range(rounds):
            done += sum(
                group.foreach_env_runner(
                    lambda r: sampled_steps(r, steps), local_env_runner=False
                )
            )
        return done / (time.perf_counter() - start), nodes
    finally:
        algo.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", default="retail-v1")
    parser.add_argument("--runners", default="1,2,4")
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--runners-per-node", type=int, default=14)
    parser.add_argument(
        "--json", type=Path, default=Path("benchmarks/results/cluster_scaling.json")
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.runners.split(",")]

    import ray
    import ray.tune.trainable.trainable as trainable
    import torch
    from ray.cluster_utils import Cluster

    from rayprice.train.settings import TrainSettings

    torch.set_num_threads(1)
    # Short: Ray's socket paths under it must stay within 107 bytes.
    scratch = Path(tempfile.mkdtemp(prefix="rpc-"))
    os.environ.setdefault("RAY_TMPDIR", str(scratch / "ray"))
    trainable.DEFAULT_STORAGE_PATH = str(scratch / "ray_logs")
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "object_store_memory": NODE_OBJECT_STORE,
            "include_dashboard": False,
        },
    )
    rates: dict[int, float] = {}
    placement: dict[int, list[str]] = {}
    try:
        for _ in range(max(counts)):
            cluster.add_node(
                num_cpus=1,
                resources={SIMULATION: 1},
                object_store_memory=NODE_OBJECT_STORE,
            )
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        head = ray.get_runtime_context().get_node_id()
        for n in counts:
            settings = TrainSettings(
                family=args.family,
                num_env_runners=n,
                num_envs_per_env_runner=args.num_envs,
                env_runner_resources={SIMULATION: 1},
                eval_every=0,
                output_dir=scratch,
            )
            rates[n], nodes = sampling_rate(settings, args.steps, args.rounds)
            placement[n] = nodes
            assert head not in nodes and len(set(nodes)) == n
            print(
                f"{n} EnvRunner{'s' if n > 1 else ' '} on {len(set(nodes))} "
                f"simulation node{'s' if n > 1 else ''}: {rates[n]:>9,.0f} env steps/s"
                f"  (efficiency {rates[n] / (n * rates[counts[0]] / counts[0]):.0%})"
            )
    finally:
        ray.shutdown()
        cluster.shutdown()

    per_runner = rates[counts[0]] / counts[0]
    runners = args.nodes * args.runners_per_node
    estimate = runners * per_runner
    print(f"per-runner rate: {per_runner:,.0f} env steps/s ({args.num_envs} markets)")
    print(
        f"estimate: {args.nodes} sim_cpu nodes x {args.runners_per_node} EnvRunners "
        f"x {per_runner:,.0f} = {estimate:,.0f} env steps/s "
        f"({estimate * 3600 / 1e9:.2f} billion an hour), if a cluster core samples "
        "like a core here and the learners keep up"
    )

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "benchmark": "cluster_scaling",
                "family": args.family,
                "num_envs_per_env_runner": args.num_envs,
                "steps_per_runner_per_round": args.steps,
                "rounds": args.rounds,
                "method": "sampling only: EnvRunner.sample on every remote runner "
                "at once, policy inference included, no learner updates",
                "env_steps_per_s": {str(n): rate for n, rate in rates.items()},
                "efficiency": {
                    str(n): rate / (n * per_runner) for n, rate in rates.items()
                },
                "per_runner_env_steps_per_s": per_runner,
                "estimate": {
                    "sim_nodes": args.nodes,
                    "runners_per_node": args.runners_per_node,
                    "env_steps_per_s": estimate,
                },
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                },
                "placement": {str(n): nodes for n, nodes in placement.items()},
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
