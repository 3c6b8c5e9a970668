"""Training settings: validation, and the AlgorithmConfig they build."""

from __future__ import annotations

import pytest

from rayprice.train.settings import TrainSettings


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"algorithm": "SAC"}, "algorithm"),
        ({"network": "lstm"}, "network"),
        ({"minibatch_size": 10_000}, "minibatch_size"),
        ({"num_env_runners": -1}, "num_env_runners"),
        ({"price_span": 1.0}, "price_span"),
        ({"model_config": {"layers": 3}}, "layers"),
        ({"env_runner_resources": {"CPU": 1}}, "env_runner_resources.CPU"),
        ({"learner_resources": {"trainer": 0}}, "learner_resources.trainer"),
        ({"num_cpus_per_env_runner": -1}, "num_cpus_per_env_runner"),
    ],
)
def test_bad_settings_name_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        TrainSettings(**change)  # type: ignore[arg-type]


def test_model_config_carries_the_window() -> None:
    settings = TrainSettings(window=8, model_config={"d_model": 16})
    assert settings.full_model_config["window"] == 8
    assert settings.full_model_config["d_model"] == 16
    assert settings.env_config["window"] == 8


def test_ppo_config_uses_the_native_vector_env() -> None:
    from rayprice.policy.module import PricingRLModule
    from rayprice.train.config import build_config, learner_gpus

    settings = TrainSettings(
        num_env_runners=3, num_envs_per_env_runner=32, num_learners=2
    )
    config = build_config(settings, cluster_gpus=0.0)
    assert config.gym_env_vectorize_mode == "vector_entry_point"
    assert config.num_env_runners == 3 and config.num_envs_per_env_runner == 32
    assert config.num_learners == 2 and config.num_gpus_per_learner == 0
    assert config.rl_module_spec.module_class is PricingRLModule
    # Learners take a GPU when the cluster has one each, with no other change.
    assert learner_gpus(settings, cluster_gpus=2.0) == 1.0
    assert build_config(settings, cluster_gpus=2.0).num_gpus_per_learner == 1.0


def test_dqn_config_uses_the_discrete_grid() -> None:
    from rayprice.train.config import build_config

    settings = TrainSettings(algorithm="DQN", n_prices=11)
    config = build_config(settings)
    assert config.algo_class.__name__ == "DQN"
    assert config.env_config["action_type"] == "discrete"
    assert config.env_config["n_prices"] == 11


def test_placement_comes_from_the_settings() -> None:
    from rayprice.train.config import build_config

    settings = TrainSettings(
        num_env_runners=2,
        num_cpus_per_env_runner=0.5,
        env_runner_resources={"simulation": 1},
        num_learners=1,
        learner_resources={"learner": 1},
    )
    config = build_config(settings)
    assert config.custom_resources_per_env_runner == {"simulation": 1}
    assert config.num_cpus_per_env_runner == 0.5
    assert config.custom_resources_per_learner == {"learner": 1}
    assert config.restart_failed_env_runners
    # One machine asks for nothing it lacks.
    assert build_config(TrainSettings()).custom_resources_per_env_runner == {}


def test_training_stops_at_the_count_or_the_budget_whichever_comes_first() -> None:
    from rayprice.train.run import _finished

    both = TrainSettings(iterations=3, time_budget_s=100.0)
    assert not _finished(both, iteration=2, elapsed=10.0, last_seconds=5.0)
    assert _finished(both, iteration=3, elapsed=10.0, last_seconds=5.0)
    # The next iteration would end past the budget: stop before it.
    assert _finished(both, iteration=1, elapsed=96.0, last_seconds=5.0)

    count_only = TrainSettings(iterations=3, time_budget_s=None)
    assert not _finished(count_only, iteration=2, elapsed=1e6, last_seconds=5.0)
    budget_only = TrainSettings(iterations=None, time_budget_s=100.0)
    assert not _finished(budget_only, iteration=10_000, elapsed=90.0, last_seconds=5.0)


def test_training_without_a_count_or_a_budget_is_refused() -> None:
    with pytest.raises(
        ValueError, match="iterations: give iterations or time_budget_s"
    ):
        TrainSettings(iterations=None, time_budget_s=None)
