"""Settings -> an RLlib AlgorithmConfig: PPO with the context encoder, or DQN.

Every EnvRunner holds the native vector env (``gym_env_vectorize_mode=
"vector_entry_point"``), stepping ``num_envs_per_env_runner`` markets as arrays.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.algorithms.dqn import DQNConfig
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rayprice.policy.module import PricingRLModule
from rayprice.train.callbacks import HeldoutEvalCallback
from rayprice.train.settings import TrainSettings

logger = logging.getLogger(__name__)


def make_market_env(config: dict[str, Any]) -> Any:
    """The env RLlib's runners build: the native vector env when asked for several
    markets (``num_envs``), the single-market env otherwise (gymnasium's own
    vectorisation wraps that one)."""
    from rayprice.market.env import MarketEnv, MarketVectorEnv

    kwargs = {k: v for k, v in dict(config).items() if k in _ENV_KEYS}
    if "num_envs" in config:
        return MarketVectorEnv(num_envs=int(config["num_envs"]), **kwargs)
    return MarketEnv(**kwargs)


RLLIB_ENV_NAME = "rayprice-market"


def register_market_env() -> str:
    """Register :func:`make_market_env` with Ray's env registry; returns its name."""
    from ray.tune.registry import register_env

    register_env(RLLIB_ENV_NAME, make_market_env)
    return RLLIB_ENV_NAME


_ENV_KEYS = (
    "family",
    "window",
    "action_type",
    "n_prices",
    "price_span",
    "reward",
    "horizon_days",
)


def learner_gpus(settings: TrainSettings, cluster_gpus: float) -> float:
    """GPUs per learner: the setting, or one when the cluster has a GPU."""
    if settings.num_gpus_per_learner is not None:
        return settings.num_gpus_per_learner
    return 1.0 if cluster_gpus >= max(settings.num_learners, 1) else 0.0


def build_config(
    settings: TrainSettings,
    cluster_gpus: float = 0.0,
    vectorize_mode: str = "vector_entry_point",
    eval_folder: Path | None = None,
    eval_every_result: bool = False,
) -> AlgorithmConfig:
    """The AlgorithmConfig for ``settings`` on a cluster with ``cluster_gpus`` GPUs.

    With ``settings.eval_every > 0`` the Algorithm carries a
    :class:`~rayprice.train.callbacks.HeldoutEvalCallback`, which adds the
    held-out scores (``eval/...``) to its results.

    Args:
        settings: what to train.
        cluster_gpus: GPUs in the Ray cluster (``ray.cluster_resources()``).
        vectorize_mode: gymnasium's vectorisation; the benchmarks compare
            ``"sync"`` (the single env, copied) with the native vector env.
        eval_folder: where the held-out check writes the policy's bundle
            (a temporary folder when ``None``).
        eval_every_result: every result carries the latest held-out scores (a
            Tune metric must be in every result).
    """
    config: AlgorithmConfig
    if settings.algorithm == "PPO":
        config = (
            PPOConfig()
            .training(
                train_batch_size_per_learner=settings.train_batch_size,
                minibatch_size=settings.minibatch_size,
                num_epochs=settings.num_epochs,
                lr=settings.lr,
                gamma=settings.gamma,
                lambda_=settings.lambda_,
                entropy_coeff=settings.entropy_coeff,
                clip_param=settings.clip_param,
                vf_clip_param=10.0,
                vf_loss_coeff=0.5,
                grad_clip=0.5,
            )
            .rl_module(
                rl_module_spec=RLModuleSpec(
                    module_class=PricingRLModule,
                    model_config=settings.full_model_config,
                )
            )
        )
    else:
        config = DQNConfig().training(
            train_batch_size_per_learner=256,
            lr=settings.lr,
            gamma=settings.gamma,
            n_step=3,
            double_q=True,
            dueling=True,
            target_network_update_freq=2000,
            replay_buffer_config={
                "type": "PrioritizedEpisodeReplayBuffer",
                "capacity": 200_000,
            },
            num_steps_sampled_before_learning_starts=5000,
            epsilon=[(0, 1.0), (200_000, 0.05)],
        )

    gpus = learner_gpus(settings, cluster_gpus)
    rollout = (
        settings.train_batch_size
        // max(settings.num_env_runners, 1)
        // settings.num_envs_per_env_runner
        if settings.algorithm == "PPO"
        else 4
    )
    config = (
        config.environment(
            register_market_env(),
            env_config=settings.env_config,
        )
        .env_runners(
            num_env_runners=settings.num_env_runners,
            num_envs_per_env_runner=settings.num_envs_per_env_runner,
            gym_env_vectorize_mode=vectorize_mode,
            rollout_fragment_length=max(int(rollout), 1),
            # RLlib types it int; Ray takes fractional CPUs.
            num_cpus_per_env_runner=settings.num_cpus_per_env_runner,  # type: ignore[arg-type]
            custom_resources_per_env_runner=dict(settings.env_runner_resources),
        )
        .learners(
            num_learners=settings.num_learners,
            num_gpus_per_learner=gpus,
            custom_resources_per_learner=dict(settings.learner_resources),
        )
        # A lost EnvRunner (a simulation node gone) is replaced; the iteration
        # samples from the healthy ones meanwhile.
        .fault_tolerance(
            restart_failed_env_runners=True, ignore_env_runner_failures=False
        )
        .debugging(seed=settings.seed)
        .reporting(metrics_num_episodes_for_smoothing=100)
    )
    if settings.eval_every > 0:
        # RLlib calls callbacks_class() with no arguments: any callable will do.
        config = config.callbacks(
            functools.partial(  # type: ignore[arg-type]
                HeldoutEvalCallback,
                settings=settings,
                folder=eval_folder,
                every_result=eval_every_result,
            )
        )
    logger.info(
        "%s on %s: %d env runners x %d markets, %d learners x %.0f GPU",
        settings.algorithm,
        settings.family,
        settings.num_env_runners,
        settings.num_envs_per_env_runner,
        settings.num_learners,
        gpus,
    )
    return config
