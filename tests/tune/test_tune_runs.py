"""Tune runs of the tiny experiment: the best bundle, resuming, restarts.

Each test runs one or two trials of a few small iterations on the shared local
Ray; a trial's results (``result.json``) show whether it continued from a
checkpoint: ``iterations_since_restore`` restarts at 1 while
``training_iteration`` carries on.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray.cloudpickle
from ray.tune import Callback

from rayprice.train.trainable import TunedPPO
from rayprice.tune import TuneOutcome, parse_experiment, run_experiment

pytestmark = pytest.mark.slow
BATCH = 400  # env steps per iteration in tiny.yaml


def _rows(outcome: TuneOutcome) -> list[dict[str, Any]]:
    """Every result the single trial reported, in order, both runs included."""
    (trial_dir,) = [p for p in outcome.path.iterdir() if (p / "result.json").exists()]
    lines = (trial_dir / "result.json").read_text().splitlines()
    keys = (
        "training_iteration",
        "iterations_since_restore",
        "num_env_steps_sampled_lifetime",
    )
    return [{k: json.loads(line).get(k) for k in keys} for line in lines if line]


def test_tiny_experiment_exports_a_best_bundle_that_prices(
    ray_session: None, tmp_path: Path, tiny: dict[str, Any]
) -> None:
    from rayprice.evaluate.harness import run_shard
    from rayprice.market.families import load_suite
    from rayprice.pricers.policy import PolicyPricer

    outcome = run_experiment(parse_experiment(tiny), storage=tmp_path, verbose=0)

    assert outcome.path == (tmp_path / "tiny").resolve()
    assert len(outcome.trials) == 2
    assert all(t.status == "done" and t.iterations == 2 for t in outcome.trials)
    assert len({t.searched["lr"] for t in outcome.trials}) == 2
    for trial in outcome.trials:
        # One held-out check per iteration, each a share of the oracle's profit.
        assert [it for it, _ in trial.curve] == [1, 2]
        assert all(0 < value < 200 for _, value in trial.curve)

    best = max(outcome.trials, key=lambda t: t.metric)
    assert outcome.best is not None and outcome.best.trial_id == best.trial_id
    assert outcome.best_bundle == outcome.path / "best_bundle"
    summary = (outcome.path / "best.json").read_text()
    assert best.trial_id in summary
    for name in ("trials.csv", "trials.json", "learning_curves.png"):
        assert (outcome.path / name).stat().st_size > 0

    # The bundle is a pricer: PolicyPricer(PATH) and rl:PATH in the harness.
    pricer = PolicyPricer(outcome.best_bundle)
    assert pricer.manifest.window == 8
    assert pricer.manifest.model_config["d_model"] == 16
    assert pricer.manifest.training["settings"]["lr"] == best.searched["lr"]
    suite = load_suite("retail-heldout-v1").head(2)
    name = f"rl:{outcome.best_bundle}"
    prices = run_shard(suite.batch, suite.seeds, None, [name], 5)["runs"][name]
    assert np.isfinite(prices["price"]).all() and (prices["price"] > 0).all()


class _InterruptAfterCheckpoint(Callback):
    """Sends this process SIGINT (as Ctrl-C would) after the first checkpoint,
    once: a marker file remembers it across the resumed run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def on_checkpoint(self, *args: Any, **kwargs: Any) -> None:
        if not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGINT)


def test_an_interrupted_experiment_resumes_from_its_checkpoints(
    ray_session: None, tmp_path: Path, tiny: dict[str, Any]
) -> None:
    tiny.update(num_samples=1, stop={"iterations": 3})
    experiment = parse_experiment(tiny)
    marker = tmp_path / "interrupted"

    first = run_experiment(
        experiment,
        storage=tmp_path,
        callbacks=[_InterruptAfterCheckpoint(marker)],
        verbose=0,
    )
    assert marker.exists()
    assert first.trials[0].iterations < 3  # stopped before the end

    resumed = run_experiment(experiment, storage=tmp_path, resume=True, verbose=0)
    (trial,) = resumed.trials
    assert trial.status == "done" and trial.iterations == 3
    rows = _rows(resumed)
    after = [r for r in rows if r["iterations_since_restore"] < r["training_iteration"]]
    # The resumed run went on from a checkpoint: its first iteration is not 1,
    # and no iteration was trained twice from scratch.
    assert after, rows
    first = after[0]
    assert first["training_iteration"] > 1
    assert (
        first["num_env_steps_sampled_lifetime"] >= first["training_iteration"] * BATCH
    )
    assert [r["training_iteration"] for r in rows].count(1) == 1
    assert resumed.best_bundle is not None and resumed.best_bundle.exists()


def test_resume_without_a_run_names_the_fix(
    tmp_path: Path, tiny: dict[str, Any]
) -> None:
    from rayprice.tune import ExperimentError

    with pytest.raises(ExperimentError, match="--resume: no experiment"):
        run_experiment(parse_experiment(tiny), storage=tmp_path, resume=True)


class _FailOncePPO(TunedPPO):
    """Raises in its second iteration the first time (a marker file says when)."""

    marker = Path()

    def step(self) -> dict[str, Any]:
        if self.iteration == 1 and not self.marker.exists():
            self.marker.touch()
            raise RuntimeError("injected failure in iteration 2")
        result: dict[str, Any] = super().step()
        return result


def test_a_failed_trial_restarts_from_its_last_checkpoint(
    ray_session: None, tmp_path: Path, tiny: dict[str, Any]
) -> None:
    import sys

    tiny.update(num_samples=1, stop={"iterations": 3}, failure={"max_failures": 1})
    experiment = parse_experiment(tiny)
    _FailOncePPO.marker = tmp_path / "failed-once"
    # The trial actor unpickles the class: send it by value, marker path and all.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        outcome = run_experiment(
            experiment, storage=tmp_path, trainable=_FailOncePPO, verbose=0
        )
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])

    assert _FailOncePPO.marker.exists()  # it did fail
    (trial,) = outcome.trials
    assert trial.status == "done" and trial.iterations == 3
    rows = _rows(outcome)
    restarted = [
        r for r in rows if r["iterations_since_restore"] < r["training_iteration"]
    ]
    # Restored from the checkpoint of iteration 1: the next result is iteration 2,
    # the first since the restore, with iteration 1's env steps already counted.
    assert restarted, rows
    assert restarted[0]["training_iteration"] == 2
    assert restarted[0]["iterations_since_restore"] == 1
    assert restarted[0]["num_env_steps_sampled_lifetime"] >= 2 * BATCH
    assert rows[-1]["training_iteration"] == 3


def test_pbt_mutations_reach_the_learner(
    ray_session: None, tmp_path: Path, tiny: dict[str, Any]
) -> None:
    tiny.update(
        stop={"iterations": 3},
        checkpoint={"every": 1},
        scheduler={
            "type": "pbt",
            "perturbation_interval": 1,
            "quantile_fraction": 0.5,
            "resample_probability": 1.0,
            "mutations": {"lr": {"loguniform": [1.0e-5, 2.0e-5]}},
            # Both trials stop at each perturbation point, so the worse one
            # exploits the better one even when the two run one after another.
            "synch": True,
        },
    )
    outcome = run_experiment(parse_experiment(tiny), storage=tmp_path, verbose=0)

    assert all(t.status == "done" and t.iterations == 3 for t in outcome.trials)
    learned = []
    for trial_dir in outcome.path.iterdir():
        if not (trial_dir / "result.json").exists():
            continue
        for line in (trial_dir / "result.json").read_text().splitlines():
            result = json.loads(line)
            if result["iterations_since_restore"] < result["training_iteration"]:
                rate = result["learners"]["default_policy"]
                learned.append(rate["default_optimizer_learning_rate"])
    # The worse trial copied the better one's checkpoint and trained on at a
    # learning rate drawn from the mutation's range (the search's is 10x higher).
    assert learned
    assert any(1.0e-5 <= rate <= 2.0e-5 for rate in learned), learned
