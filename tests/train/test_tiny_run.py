"""A tiny PPO run: two iterations in the driver, a bundle, and the bundle as a pricer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rayprice.train.settings import TrainSettings


@pytest.mark.slow
def test_tiny_ppo_run_writes_a_bundle_that_prices(
    ray_session: None, run_dir: Path
) -> None:
    from rayprice.evaluate import EvaluationSettings, evaluate
    from rayprice.policy.bundle import load_network
    from rayprice.train.evaluation import EVAL_META_VALUE, EVAL_ORACLE_RATIO
    from rayprice.train.run import bundle_from_checkpoint, train

    settings = TrainSettings(
        iterations=2,
        num_env_runners=0,
        num_envs_per_env_runner=8,
        train_batch_size=400,
        minibatch_size=200,
        num_epochs=1,
        model_config={"d_model": 16, "ff_dim": 32, "n_layers": 1},
        eval_every=2,
        eval_markets=2,
        checkpoint_every=1,
        output_dir=run_dir,
    )
    outcome = train(settings)

    assert len(outcome.history) == 2
    assert outcome.env_steps >= 800
    assert (
        EVAL_ORACLE_RATIO in outcome.history[-1]
        and EVAL_META_VALUE in outcome.history[-1]
    )
    assert 0 < outcome.history[-1][EVAL_ORACLE_RATIO] < 200
    assert [p.name for p in outcome.checkpoints] == ["iter_00001", "iter_00002"]
    assert (outcome.checkpoints[-1] / "learner_group").exists()
    assert any((run_dir / "ray_logs").iterdir())  # not ~/ray_results
    assert outcome.sampler_envs == ["MarketVectorEnv"]

    net, manifest = load_network(outcome.bundle)
    assert manifest.training["iterations"] == 2
    assert manifest.model_config["d_model"] == 16

    # An older checkpoint exports to a bundle without an Algorithm.
    from_checkpoint = bundle_from_checkpoint(
        outcome.checkpoints[0], settings, run_dir / "from_checkpoint"
    )
    assert (
        load_network(from_checkpoint)[1].training["checkpoint"].endswith("iter_00001")
    )

    name = f"rl:{outcome.bundle}"
    result = evaluate(
        EvaluationSettings(
            pricers=(name,), suite="retail-heldout-v1", markets=2, horizon_days=10
        )
    )
    assert np.isfinite(result.runs[name].profit).all()


@pytest.mark.slow
def test_tiny_dqn_run_prices_from_a_relative_bundle_path(
    ray_session: None, run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rayprice.evaluate.harness import run_shard
    from rayprice.market.families import load_suite
    from rayprice.train.run import train

    settings = TrainSettings(
        algorithm="DQN",
        iterations=2,
        num_env_runners=0,
        num_envs_per_env_runner=4,
        n_prices=5,
        eval_every=0,
        checkpoint_every=0,
        output_dir=run_dir,
    )
    outcome = train(settings)

    # RLlib loads modules through pyarrow, which refuses relative paths.
    monkeypatch.chdir(outcome.bundle.parent)
    name = f"rl:{outcome.bundle.name}"
    suite = load_suite("retail-heldout-v1").head(3)
    shard = run_shard(suite.batch, suite.seeds, None, [name], 5)
    prices = shard["runs"][name]["price"]
    assert prices.shape == (3, 5) and np.isfinite(prices).all() and (prices > 0).all()
