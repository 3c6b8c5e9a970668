"""Algorithms built from trial settings: resources, and mutated learning rates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

TRIAL: dict[str, Any] = {
    "algorithm": "PPO",
    "window": 8,
    "model_config": {"d_model": 16, "ff_dim": 32, "n_layers": 1},
    "num_envs_per_env_runner": 8,
    "train_batch_size": 400,
    "minibatch_size": 200,
    "num_epochs": 1,
    "eval_every": 0,
    "iterations": 2,
}


def test_trial_resources_follow_the_settings() -> None:
    from rayprice.train.trainable import TunedPPO

    request = TunedPPO.default_resource_request(
        {
            **TRIAL,
            "num_env_runners": 3,
            "train_batch_size": 480,  # 3 runners x 8 markets x 20 steps
            "num_cpus_per_env_runner": 0.5,
            "env_runner_resources": {"simulation": 1},
        }
    )
    bundles = request.bundles
    runners = [b for b in bundles if b.get("simulation")]
    assert len(runners) == 3
    assert all(b["CPU"] == 0.5 and b["simulation"] == 1 for b in runners)


@pytest.mark.slow
def test_a_restored_trial_learns_at_its_new_learning_rate(
    ray_session: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What PBT does on exploit: a new config, restored from another checkpoint."""
    import ray.tune.trainable.trainable as trainable

    from rayprice.train.trainable import TunedPPO

    # Built outside Tune, an Algorithm logs to ~/ray_results unless told otherwise.
    monkeypatch.setattr(trainable, "DEFAULT_STORAGE_PATH", str(tmp_path / "logs"))

    def learner_lrs(algo: Any) -> list[float]:
        return [
            group["lr"]
            for outcome in algo.learner_group.foreach_learner(
                lambda learner, **_: [
                    g
                    for o in learner._named_optimizers.values()
                    for g in o.param_groups
                ]
            )
            for group in outcome.get()
        ]

    source = TunedPPO(config={**TRIAL, "lr": 1e-3})
    source.train()
    checkpoint = source.save(str(tmp_path / "ckpt")).checkpoint.path
    source.stop()

    target = TunedPPO(config={**TRIAL, "lr": 2e-4})
    target.restore(checkpoint)
    try:
        assert target.iteration == 1
        assert learner_lrs(target) == [pytest.approx(2e-4)]
        result = target.train()
        learned = result["learners"]["default_policy"][
            "default_optimizer_learning_rate"
        ]
        assert learned == pytest.approx(2e-4)
    finally:
        target.stop()
