"""Settings of the held-out evaluation's fan-out over Ray tasks (no Ray started)."""

from __future__ import annotations

import pytest

from rayprice.train.settings import TrainSettings


def test_eval_ray_tasks_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="eval_ray_tasks"):
        TrainSettings(eval_ray_tasks=-1)
    assert TrainSettings(eval_ray_tasks=4).eval_ray_tasks == 4


def test_evaluator_refuses_negative_tasks_and_tasks_without_ray(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ray

    from rayprice.train.evaluation import HeldoutEvaluator

    with pytest.raises(ValueError, match="ray_tasks"):
        HeldoutEvaluator("retail-heldout-v1", 2, horizon_days=5, ray_tasks=-1)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with pytest.raises(RuntimeError, match="eval_ray_tasks to 0"):
        HeldoutEvaluator("retail-heldout-v1", 2, horizon_days=5, ray_tasks=2)
