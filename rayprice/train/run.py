"""Meta-training: settings -> a local (or running) Ray, RLlib, checkpoints, a bundle.

>>> from rayprice.train import TrainSettings, train
>>> outcome = train(TrainSettings(iterations=2))  # doctest: +SKIP
>>> outcome.bundle  # doctest: +SKIP
PosixPath('runs/train/bundle')
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rayprice.market.families import load_family
from rayprice.policy.bundle import Manifest, write_bundle
from rayprice.policy.networks import PricingNet, build_network
from rayprice.train.evaluation import (
    EVAL_FLAT_RATIO,
    EVAL_META_VALUE,
    EVAL_ORACLE_RATIO,
)
from rayprice.train.settings import TrainSettings

logger = logging.getLogger(__name__)

# Metric keys of the training log, one row per iteration.
TRAIN_ITERATION = "train/iteration"
TRAIN_SECONDS = "train/seconds"
TRAIN_ENV_STEPS = "train/env_steps"
TRAIN_EPISODE_RETURN = "train/episode_return_mean"
TRAIN_EPISODES = "train/episodes"
TRAIN_ENTROPY = "train/entropy"
TRAIN_VF_EXPLAINED = "train/vf_explained_var"
TRAIN_SAMPLE_SECONDS = "time/sample_s"
TRAIN_LEARN_SECONDS = "time/learn_s"
EVAL_KEYS = (EVAL_ORACLE_RATIO, EVAL_META_VALUE, EVAL_FLAT_RATIO)
OBJECT_STORE_BYTES = 256 * 1024 * 1024
DEFAULT_POLICY = "default_policy"


@dataclass
class TrainOutcome:
    """What a training run produced.

    Attributes:
        settings: the settings it ran with.
        bundle: the exported policy bundle.
        checkpoints: Algorithm checkpoints, oldest first.
        history: one row of metrics per iteration (keys ``train/...``, ``eval/...``).
        seconds: wall time of training (Ray start to bundle written).
        sampler_envs: the class of the env each EnvRunner steps.
    """

    settings: TrainSettings
    bundle: Path
    checkpoints: list[Path] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    sampler_envs: list[str] = field(default_factory=list)

    @property
    def env_steps(self) -> int:
        return int(self.history[-1][TRAIN_ENV_STEPS]) if self.history else 0


def init_ray(settings: TrainSettings) -> bool:
    """Start a local Ray unless one is running; True when this call started it.

    Ray's temp files go under the output folder unless ``RAY_TMPDIR`` says
    otherwise, and token auth is off for the local instance. With
    ``RAY_ADDRESS`` set (a job on a cluster) it joins that cluster instead.
    """
    import ray

    if ray.is_initialized():
        return False
    if os.environ.get("RAY_ADDRESS"):
        # A cluster's size is its own: num_cpus is for a local Ray only.
        ray.init(log_to_driver=False, configure_logging=False)
        return True
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(
        num_cpus=settings.num_cpus,
        include_dashboard=False,
        object_store_memory=OBJECT_STORE_BYTES,
        log_to_driver=False,
        configure_logging=False,
    )
    return True


def _redirect_ray_results(directory: Path) -> None:
    """An Algorithm built outside Tune writes its logs to ``~/ray_results``; the
    path is a module constant read when the Algorithm is built, so it is pointed
    at the run's own folder instead."""
    import ray.tune.trainable.trainable as trainable

    directory.mkdir(parents=True, exist_ok=True)
    trainable.DEFAULT_STORAGE_PATH = str(directory.resolve())


def train(
    settings: TrainSettings,
    on_iteration: Callable[[dict[str, float]], None] | None = None,
) -> TrainOutcome:
    """Train a policy, checkpoint it on schedule and export its bundle.

    Args:
        settings: what to train, for how long, and where to write.
        on_iteration: called with each iteration's metrics row (for progress).

    Returns:
        The bundle, checkpoints and metrics history.
    """
    import ray

    from rayprice.train.callbacks import find_eval_callback
    from rayprice.train.config import build_config

    started = time.perf_counter()
    torch.set_num_threads(settings.torch_threads)
    torch.manual_seed(settings.seed)
    out = settings.output_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "settings.json").write_text(json.dumps(settings.to_dict(), indent=2) + "\n")
    started_ray = init_ray(settings)
    _redirect_ray_results(out / "ray_logs")

    outcome = TrainOutcome(settings=settings, bundle=settings.bundle_dir)
    algo: Any = None
    try:
        gpus = float(ray.cluster_resources().get("GPU", 0.0))
        config = build_config(
            settings, cluster_gpus=gpus, eval_folder=(out / "eval_bundle").resolve()
        )
        algo = config.build_algo()
        # The held-out check is the Algorithm's own callback (as in Tune trials);
        # a run that ends on its time budget asks it for a last check here.
        check = find_eval_callback(algo)
        outcome.sampler_envs = algo.env_runner_group.foreach_env_runner(
            lambda runner: type(runner.env.unwrapped).__name__
        )
        iteration = 0
        last_seconds = 0.0
        while True:
            iteration += 1
            tick = time.perf_counter()
            result = algo.train()
            last_seconds = time.perf_counter() - tick
            if check is not None and EVAL_ORACLE_RATIO in result:
                # The budget check predicts the next iteration's training time.
                last_seconds -= check.seconds
            row = _row(result, iteration, time.perf_counter() - started)

            done = _finished(
                settings, iteration, time.perf_counter() - started, last_seconds
            )
            scores = {k: result[k] for k in EVAL_KEYS if k in result}
            if not scores and done and check is not None:
                scores = check.evaluate(algo, iteration)
            row.update({k: float(scores[k]) for k in EVAL_KEYS if k in scores})
            outcome.history.append(row)
            logger.info("iteration %d: %s", iteration, _fmt(row))
            if on_iteration is not None:
                on_iteration(row)

            if settings.checkpoint_every and iteration % settings.checkpoint_every == 0:
                outcome.checkpoints.append(_checkpoint(algo, settings, iteration))
            if done:
                break

        if not outcome.checkpoints or not outcome.checkpoints[-1].name.endswith(
            f"{iteration:05d}"
        ):
            outcome.checkpoints.append(_checkpoint(algo, settings, iteration))
        outcome.seconds = time.perf_counter() - started
        export_bundle(
            algo, settings, settings.bundle_dir, outcome, outcome.checkpoints[-1]
        )
        _write_history(out / "history.jsonl", outcome.history)
    finally:
        if algo is not None:
            algo.stop()
        if started_ray:
            ray.shutdown()
    outcome.seconds = time.perf_counter() - started
    return outcome


def _finished(
    settings: TrainSettings, iteration: int, elapsed: float, last_seconds: float
) -> bool:
    if settings.iterations is not None and iteration >= settings.iterations:
        return True
    # Stop before an iteration that would overrun the budget.
    budget = settings.time_budget_s
    return budget is not None and elapsed + last_seconds > budget


def _row(result: dict[str, Any], iteration: int, seconds: float) -> dict[str, float]:
    runners = result.get("env_runners", {})
    learner = result.get("learners", {}).get(DEFAULT_POLICY, {})
    timers = result.get("timers", {})
    return {
        TRAIN_ITERATION: float(iteration),
        TRAIN_SECONDS: seconds,
        TRAIN_ENV_STEPS: float(result.get("num_env_steps_sampled_lifetime", 0.0)),
        TRAIN_EPISODE_RETURN: float(runners.get("episode_return_mean", math.nan)),
        TRAIN_EPISODES: float(runners.get("num_episodes_lifetime", 0.0)),
        TRAIN_SAMPLE_SECONDS: float(timers.get("env_runner_sampling_timer", math.nan)),
        TRAIN_LEARN_SECONDS: float(timers.get("learner_update_timer", math.nan)),
        TRAIN_ENTROPY: float(learner.get("entropy", math.nan)),
        TRAIN_VF_EXPLAINED: float(learner.get("vf_explained_var", math.nan)),
    }


def _fmt(row: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in row.items())


def _checkpoint(algo: Any, settings: TrainSettings, iteration: int) -> Path:
    path = (settings.checkpoint_dir / f"iter_{iteration:05d}").resolve()
    algo.save_to_path(str(path))
    logger.info("checkpoint %s", path)
    return path


def network_from_algorithm(algo: Any, settings: TrainSettings) -> PricingNet:
    """The learner's current PPO network as a plain torch module."""
    weights = algo.learner_group.get_weights([DEFAULT_POLICY])[DEFAULT_POLICY]
    net = build_network(settings.network, _sizes(settings))
    state = {
        key.removeprefix("net."): torch.as_tensor(value)
        for key, value in weights.items()
        if key.startswith("net.")
    }
    net.load_state_dict(state)
    return net


def _sizes(settings: TrainSettings) -> dict[str, Any]:
    config = dict(settings.full_model_config)
    config.pop("network")
    return config


def _manifest(settings: TrainSettings, training: dict[str, Any]) -> Manifest:
    family = load_family(settings.family)
    return Manifest(
        window=settings.window,
        price_span=settings.price_span,
        family=family.name,
        family_version=family.version,
        algorithm=settings.algorithm,
        network=settings.network if settings.algorithm == "PPO" else "rllib-default",
        model_config=_sizes(settings) if settings.algorithm == "PPO" else {},
        action_type=settings.action_type,
        n_prices=settings.n_prices if settings.algorithm == "DQN" else 0,
        training=training,
    )


def _write_ppo_bundle(
    algo: Any, settings: TrainSettings, folder: Path, training: dict[str, Any]
) -> Path:
    net = network_from_algorithm(algo, settings)
    return write_bundle(folder, _manifest(settings, training), network=net)


def snapshot_bundle(algo: Any, settings: TrainSettings, folder: Path) -> Path:
    """Write the Algorithm's current policy as a bundle (no training summary).

    PPO: the learner's network weights. DQN: the RLModule the EnvRunners act
    with, saved with ``RLModule.save_to_path``.
    """
    if settings.algorithm == "PPO":
        return _write_ppo_bundle(algo, settings, folder, training={})
    with tempfile.TemporaryDirectory(prefix="rayprice-module-") as tmp:
        module_dir = Path(tmp) / DEFAULT_POLICY
        algo.get_module(DEFAULT_POLICY).save_to_path(str(module_dir))
        return write_bundle(folder, _manifest(settings, {}), rl_module_dir=module_dir)


def export_bundle(
    algo: Any,
    settings: TrainSettings,
    folder: Path,
    outcome: TrainOutcome | None = None,
    checkpoint: Path | None = None,
) -> Path:
    """Write the policy bundle of a trained Algorithm.

    PPO bundles hold the network's weights (plain torch); DQN bundles hold the
    RLModule folder of the checkpoint, loadable with ``RLModule.from_checkpoint``.
    """
    training: dict[str, Any] = {"settings": settings.to_dict()}
    if outcome is not None:
        training.update(
            iterations=len(outcome.history),
            env_steps=outcome.env_steps,
            seconds=round(outcome.seconds, 1),
            last=outcome.history[-1] if outcome.history else {},
        )
    if settings.algorithm == "PPO":
        return _write_ppo_bundle(algo, settings, folder, training)
    if checkpoint is None:
        checkpoint = _checkpoint(algo, settings, 0)
    module_dir = checkpoint / "learner_group" / "learner" / "rl_module" / DEFAULT_POLICY
    return write_bundle(folder, _manifest(settings, training), rl_module_dir=module_dir)


def _write_history(path: Path, history: list[dict[str, float]]) -> None:
    with path.open("w") as f:
        for row in history:
            f.write(json.dumps(row) + "\n")


def remove_checkpoints(settings: TrainSettings, keep_last: bool = True) -> None:
    """Delete old checkpoints, keeping the last one when asked."""
    folder = settings.checkpoint_dir
    if not folder.exists():
        return
    items = sorted(folder.iterdir())
    for item in items[:-1] if keep_last else items:
        shutil.rmtree(item)


def bundle_from_checkpoint(
    checkpoint: str | Path, settings: TrainSettings, folder: str | Path
) -> Path:
    """Write the policy bundle of an Algorithm checkpoint, without an Algorithm.

    PPO: the network's weights (``network.pt``); DQN: the checkpoint's RLModule
    folder (``rl_module/``).

    Args:
        checkpoint: a folder written by ``Algorithm.save_to_path``.
        settings: the settings the run was trained with (``settings.json``).
        folder: the bundle folder.
    """
    from ray.rllib.core.rl_module.rl_module import RLModule

    path = (
        Path(checkpoint).resolve()
        / "learner_group"
        / "learner"
        / "rl_module"
        / DEFAULT_POLICY
    )
    if not path.is_dir():
        raise ValueError(f"checkpoint: {checkpoint} holds no RLModule at {path}")
    training = {"settings": settings.to_dict(), "checkpoint": str(checkpoint)}
    if settings.algorithm != "PPO":
        return write_bundle(
            Path(folder), _manifest(settings, training), rl_module_dir=path
        )
    module: Any = RLModule.from_checkpoint(str(path))
    return write_bundle(Path(folder), _manifest(settings, training), network=module.net)
