"""Autoscaling on one machine: train on a fake_multinode cluster and see the
autoscaler start simulation nodes for the EnvRunners.

How to run (see benchmarks/fake_multinode.yaml; `ray stop` at the end stops every
Ray on this machine):
    RAY_FAKE_CLUSTER=1 RAY_AUTH_MODE=disabled ray start --head --num-cpus=1 \
      --autoscaling-config=benchmarks/fake_multinode.yaml
    RAY_ADDRESS=auto python benchmarks/fake_multinode_check.py [--iterations 2]
    ray stop

What to expect:
    The nodes before training (the head alone), then, after the autoscaler has
    launched two ``sim_cpu`` nodes for the two EnvRunners (each asks for
    ``{simulation: 1}``), one line per training iteration, the node of each
    EnvRunner (never the head) and the nodes after training. A minute later
    (``idle_timeout_minutes``) ``ray status`` shows the ``sim_cpu`` nodes gone.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

SIMULATION = "simulation"


def describe_nodes() -> list[str]:
    """One line per live node: id prefix and its resources."""
    import ray

    return [
        f"{node['NodeID'][-8:]} {dict(sorted(node['Resources'].items()))}"
        for node in ray.nodes()
        if node["Alive"]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=2)
    args = parser.parse_args()

    import ray
    import ray.tune.trainable.trainable as trainable

    from rayprice.train.config import build_config
    from rayprice.train.settings import TrainSettings

    scratch = Path(tempfile.mkdtemp(prefix="rayprice-fake-check-"))
    trainable.DEFAULT_STORAGE_PATH = str(scratch)
    ray.init(address=os.environ.get("RAY_ADDRESS", "auto"), log_to_driver=False)
    head = ray.get_runtime_context().get_node_id()
    print("nodes before training:", *describe_nodes(), sep="\n  ")

    settings = TrainSettings(
        num_env_runners=2,
        num_envs_per_env_runner=16,
        env_runner_resources={SIMULATION: 1},
        train_batch_size=640,
        minibatch_size=320,
        num_epochs=1,
        eval_every=0,
        output_dir=scratch,
    )
    started = time.perf_counter()
    # Building waits until the autoscaler has started nodes for the EnvRunners.
    algo = build_config(settings).build_algo()
    print(f"EnvRunners placed after {time.perf_counter() - started:.0f} s")
    try:
        for _ in range(args.iterations):
            result = algo.train()
            print(
                f"iteration {result['training_iteration']}: "
                f"{int(result['num_env_steps_sampled_lifetime']):,} env steps sampled"
            )
        nodes = algo.env_runner_group.foreach_env_runner(
            lambda _: ray.get_runtime_context().get_node_id(),
            local_env_runner=False,
        )
    finally:
        algo.stop()
    print("EnvRunners ran on:", ", ".join(n[-8:] for n in nodes))
    assert head not in nodes, "an EnvRunner ran on the head node"
    print("nodes after training:", *describe_nodes(), sep="\n  ")
    ray.shutdown()


if __name__ == "__main__":
    main()
