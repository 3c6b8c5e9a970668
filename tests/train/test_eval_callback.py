"""The held-out check as an RLlib callback: its schedule, and DQN policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from rayprice.train.settings import TrainSettings


def test_checks_run_every_n_iterations_and_at_the_last() -> None:
    from rayprice.train.callbacks import HeldoutEvalCallback

    settings = TrainSettings(eval_every=3, iterations=7)
    plain = HeldoutEvalCallback(settings)
    assert [i for i in range(1, 8) if plain.due(i)] == [3, 6, 7]
    # Tune needs the metric in every result: the first iteration is checked too.
    tune = HeldoutEvalCallback(settings, every_result=True)
    assert [i for i in range(1, 8) if tune.due(i)] == [1, 3, 6, 7]
    assert not HeldoutEvalCallback(TrainSettings(eval_every=0)).due(10)


@pytest.mark.slow
def test_a_dqn_run_reports_the_held_out_check(ray_session: None, run_dir: Path) -> None:
    from rayprice.train.evaluation import EVAL_ORACLE_RATIO
    from rayprice.train.run import train

    settings = TrainSettings(
        algorithm="DQN",
        iterations=3,
        num_env_runners=0,
        num_envs_per_env_runner=4,
        n_prices=5,
        eval_every=2,
        eval_markets=2,
        checkpoint_every=0,
        output_dir=run_dir,
    )
    outcome = train(settings)

    checked = [EVAL_ORACLE_RATIO in row for row in outcome.history]
    assert checked == [False, True, True]  # every 2nd and the last
    assert all(-100 < row[EVAL_ORACLE_RATIO] < 200 for row in outcome.history[1:])
    # The check scored the DQN's RLModule, written as a bundle.
    assert (run_dir / "eval_bundle" / "rl_module").is_dir()
