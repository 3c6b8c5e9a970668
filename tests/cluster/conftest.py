"""A local multi-node Ray cluster shared by the cluster tests of one module.

``ray.cluster_utils.Cluster`` starts real raylets on this machine: a head, two
simulation nodes (the ``simulation`` resource of ``cluster.yaml``'s ``sim_cpu``
nodes) and a learner node. The learner node offers a custom ``learner`` resource
rather than a GPU: a fake GPU would make the learner move its network to CUDA,
which this machine does not have, so the tests place the learner through
``learner_resources`` the way a GPU cluster places it through ``num_gpus``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

NODE_OBJECT_STORE = 80 * 1024 * 1024
SIMULATION = "simulation"
LEARNER = "learner"


@dataclass
class LocalCluster:
    """The running cluster and which node is which (node ids as hex strings)."""

    cluster: Any
    head: str
    simulation: dict[str, Any] = field(default_factory=dict)
    learner: str = ""

    def add_simulation_node(self) -> str:
        """Start one more simulation node (as the autoscaler would); its id."""
        node = self.cluster.add_node(
            num_cpus=1,
            resources={SIMULATION: 1},
            object_store_memory=NODE_OBJECT_STORE,
        )
        self.cluster.wait_for_nodes()
        self.simulation[node.node_id] = node
        return str(node.node_id)

    def remove_simulation_node(self, node_id: str) -> None:
        """Stop a simulation node's raylet and every process on it."""
        self.cluster.remove_node(self.simulation.pop(node_id))


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Head (1 CPU), two simulation nodes, one learner node; the driver connected.

    The session's shared single-node Ray is shut down first; the next test that
    asks for ``ray_session`` starts it again.
    """
    import ray
    import ray.tune.trainable.trainable as trainable
    from ray.cluster_utils import Cluster

    ray.shutdown()
    # Algorithms built outside Tune log under this path; keep it out of $HOME.
    saved = trainable.DEFAULT_STORAGE_PATH
    trainable.DEFAULT_STORAGE_PATH = str(tmp_path_factory.mktemp("ray_logs"))
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "object_store_memory": NODE_OBJECT_STORE,
            "include_dashboard": False,
        },
    )
    try:
        local = LocalCluster(cluster=cluster, head=str(cluster.head_node.node_id))
        for _ in range(2):
            local.add_simulation_node()
        learner = cluster.add_node(
            num_cpus=1,
            resources={LEARNER: 1},
            object_store_memory=NODE_OBJECT_STORE,
        )
        cluster.wait_for_nodes()
        local.learner = str(learner.node_id)
        ray.init(address=cluster.address, log_to_driver=False)
        yield local
    finally:
        ray.shutdown()
        cluster.shutdown()
        trainable.DEFAULT_STORAGE_PATH = saved


def tiny_settings(output_dir: Path, **overrides: Any) -> Any:
    """Settings for a training iteration of a few hundred env steps on the cluster:
    two EnvRunners on simulation nodes, one learner on the learner node."""
    from rayprice.train.settings import TrainSettings

    values: dict[str, Any] = {
        "num_env_runners": 2,
        "num_envs_per_env_runner": 4,
        "env_runner_resources": {SIMULATION: 1},
        "num_learners": 1,
        "num_gpus_per_learner": 0,
        "learner_resources": {LEARNER: 1},
        "train_batch_size": 200,
        "minibatch_size": 100,
        "num_epochs": 1,
        "model_config": {"d_model": 16, "ff_dim": 32, "n_layers": 1},
        "horizon_days": 20,
        "eval_every": 0,
        "checkpoint_every": 0,
        "output_dir": output_dir,
    }
    values.update(overrides)
    return TrainSettings(**values)
