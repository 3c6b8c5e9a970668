"""Placement, fault tolerance and evaluation fan-out on a local multi-node cluster.

The cluster (``conftest.py``) has a head, two simulation nodes and a learner node;
training asks for the ``simulation`` resource per EnvRunner and the ``learner``
resource for its one learner, exactly as a ``cluster.yaml`` cluster is asked
(with ``num_gpus_per_learner`` there instead of a custom resource).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import LocalCluster, tiny_settings

pytestmark = pytest.mark.slow


def _node() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


def env_runner_nodes(algo: Any) -> list[str]:
    """The node id of every healthy remote EnvRunner."""
    return algo.env_runner_group.foreach_env_runner(
        lambda runner: _node(), local_env_runner=False
    )


def learner_nodes(algo: Any) -> list[str]:
    return [r.get() for r in algo.learner_group.foreach_learner(lambda _: _node())]


def test_env_runners_land_on_simulation_nodes_and_the_learner_on_its_node(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    from rayprice.train.config import build_config

    algo = build_config(tiny_settings(tmp_path)).build_algo()
    try:
        result = algo.train()
        runners = env_runner_nodes(algo)
        learners = learner_nodes(algo)
    finally:
        algo.stop()

    print(
        f"head {local_cluster.head[:8]}, simulation nodes "
        f"{[n[:8] for n in local_cluster.simulation]}, learner node "
        f"{local_cluster.learner[:8]}"
    )
    print(
        f"EnvRunners on {[n[:8] for n in runners]}, learner on "
        f"{[n[:8] for n in learners]}"
    )
    assert result["training_iteration"] == 1
    assert result["num_env_steps_sampled_lifetime"] >= 200
    # One EnvRunner per simulation node: each node offers one `simulation`.
    assert sorted(runners) == sorted(local_cluster.simulation)
    assert learners == [local_cluster.learner]


def test_training_goes_on_when_a_simulation_node_is_lost(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    from rayprice.train.config import build_config

    algo = build_config(tiny_settings(tmp_path)).build_algo()
    group = algo.env_runner_group
    results: list[dict[str, Any]] = []
    try:
        results.append(algo.train())
        lost = env_runner_nodes(algo)[0]
        # The node goes away with its EnvRunner; the autoscaler would start
        # another simulation node, which this test does by hand.
        local_cluster.remove_simulation_node(lost)
        replacement = local_cluster.add_simulation_node()

        # Training goes on while Ray restarts the EnvRunner on the new node
        # (a new process: seconds to a minute on a busy machine).
        deadline = time.monotonic() + 180
        after_loss = 0
        while after_loss < 2 or group.num_healthy_remote_workers() < 2:
            assert time.monotonic() < deadline, "the lost EnvRunner was not replaced"
            results.append(algo.train())
            after_loss += 1
        runners = env_runner_nodes(algo)
        restarts = group.num_remote_worker_restarts()
    finally:
        algo.stop()

    iterations = [r["training_iteration"] for r in results]
    print(
        f"lost node {lost[:8]} after iteration 1; EnvRunners on "
        f"{[n[:8] for n in runners]} after iteration {iterations[-1]}, "
        f"{restarts} restart(s)"
    )
    assert iterations == list(range(1, len(results) + 1))
    sampled = [r["num_env_steps_sampled_lifetime"] for r in results]
    # Every iteration sampled: none was skipped or came back empty.
    assert all(b > a for a, b in zip(sampled, sampled[1:]))
    assert restarts >= 1
    assert lost not in runners and replacement in runners
    assert sorted(runners) == sorted(local_cluster.simulation)


def test_heldout_evaluation_fans_out_as_ray_tasks_with_the_same_figures(
    local_cluster: LocalCluster,
) -> None:
    from rayprice.train.evaluation import HeldoutEvaluator

    bundle = Path(__file__).resolve().parents[2] / "rayprice" / "policy" / "default"
    local = HeldoutEvaluator("retail-heldout-v1", 6, horizon_days=12)
    fanned = HeldoutEvaluator("retail-heldout-v1", 6, horizon_days=12, ray_tasks=3)

    assert fanned._shards is not None and len(fanned._shards.markets) == 3
    assert (fanned.oracle_profit == local.oracle_profit).all()
    for name, run in local.references.items():
        assert (fanned.references[name].profit == run.profit).all()
    expected = local.score(bundle)
    scores = fanned.score(bundle)
    # The policy's forward pass over 2 markets instead of 6 may round the last
    # bit differently; anything beyond that would be a different evaluation.
    assert scores == pytest.approx(expected, rel=1e-6)
    assert fanned.score(bundle) == scores  # the oracles stay planned


def test_evaluation_tasks_run_outside_a_full_placement_group(
    local_cluster: LocalCluster,
) -> None:
    """A Tune trial runs in a placement group that captures its child tasks, with
    every reserved CPU held by its EnvRunners; evaluation tasks must not wait
    for room inside it."""
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    from rayprice.train.evaluation import HeldoutEvaluator

    bundle = Path(__file__).resolve().parents[2] / "rayprice" / "policy" / "default"

    @ray.remote(num_cpus=1)
    class Trial:
        def score(self, folder: str) -> dict[str, float]:
            evaluator = HeldoutEvaluator(
                "retail-heldout-v1", 4, horizon_days=8, ray_tasks=2
            )
            return evaluator.score(folder)

    group = placement_group([{"CPU": 1}])
    ray.get(group.ready(), timeout=60)
    try:
        trial = Trial.options(  # type: ignore[attr-defined]
            scheduling_strategy=PlacementGroupSchedulingStrategy(
                group, placement_group_capture_child_tasks=True
            )
        ).remote()
        scores = ray.get(trial.score.remote(str(bundle)), timeout=240)
    finally:
        remove_placement_group(group)
    expected = HeldoutEvaluator("retail-heldout-v1", 4, horizon_days=8).score(bundle)
    assert scores == pytest.approx(expected, rel=1e-6)
