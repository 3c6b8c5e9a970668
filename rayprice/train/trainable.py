"""RLlib algorithms that Tune builds from a trial's training settings.

A trial's config is a dict of :class:`~rayprice.train.settings.TrainSettings`
fields (with ``model_config`` nested), the values Tune sampled for it. The
Algorithm is built from those settings by :func:`~rayprice.train.config.build_config`
inside the trial, so a searched ``window`` reaches both the env and the network,
every trial carries the held-out check, and a PBT mutation (a new ``lr`` or
``entropy_coeff``) reaches the learner when the trial restarts from its
checkpoint with the new config.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.dqn import DQN
from ray.rllib.algorithms.ppo import PPO

from rayprice.train.settings import TrainSettings

logger = logging.getLogger(__name__)


def settings_from_trial(config: Mapping[str, Any]) -> TrainSettings:
    """The training settings of a trial config (a dict of settings fields)."""
    # Tune adds bookkeeping keys such as ``__trial_info__``.
    values = {k: v for k, v in config.items() if not k.startswith("__")}
    if "output_dir" in values:
        values["output_dir"] = Path(values["output_dir"])
    if "model_config" in values:
        values["model_config"] = dict(values["model_config"])
    return TrainSettings(**values)


def _cluster_gpus() -> float:
    import ray

    if not ray.is_initialized():
        return 0.0
    return float(ray.cluster_resources().get("GPU", 0.0))


def _algorithm_config(config: Any) -> Any:
    """An AlgorithmConfig for a trial config; other configs pass through."""
    from rayprice.train.config import build_config

    if not isinstance(config, Mapping):
        return config
    settings = settings_from_trial(config)
    return build_config(settings, cluster_gpus=_cluster_gpus(), eval_every_result=True)


def _resources(base: type[Algorithm], config: Any) -> Any:
    """``base.default_resource_request`` for the AlgorithmConfig of a trial config.

    RLlib's implementation merges a config dict into the algorithm's default
    config; a settings dict is no such dict, so the merge starts from the config
    built from the settings instead (a throwaway subclass returns it as default).
    """
    built = _algorithm_config(config)
    request = base.default_resource_request.__func__  # type: ignore[attr-defined]
    view = type(
        f"_{base.__name__}Resources",
        (base,),
        {"get_default_config": classmethod(lambda _: built)},
    )
    return request(view, {})


def _keep_config_lr(algorithm: Algorithm) -> None:
    group: Any = algorithm.learner_group
    if group is None:
        return
    for outcome in group.foreach_learner(_apply_config_lr):
        if not outcome.ok:
            raise outcome.get()


def _apply_config_lr(learner: Any, **_: Any) -> None:
    """Set each optimizer's learning rate to the config's after a restore.

    Restoring a checkpoint loads the optimizer's ``param_groups``, which hold the
    learning rate it was saved with; RLlib only resets it from the config after
    the next update. A PBT mutation of ``lr`` takes effect at once this way.
    """
    for optimizer, schedule in learner._optimizer_lr_schedules.items():
        learner._set_optimizer_lr(optimizer, lr=float(schedule.get_current_value()))


def _without_config(auto_filled: dict[str, Any]) -> dict[str, Any]:
    """Results without the Algorithm's whole config (hundreds of RLlib keys):
    a trial's settings are its Tune config, and progress tables stay readable."""
    auto_filled.pop("config", None)
    return auto_filled


class TunedPPO(PPO):
    """PPO built from a trial's training settings (see the module docstring)."""

    def __init__(self, config: Any = None, **kwargs: Any) -> None:
        super().__init__(config=_algorithm_config(config), **kwargs)

    @classmethod
    def default_resource_request(cls, config: Any) -> Any:
        """The trial's resources: its EnvRunners and learners, from its settings."""
        return _resources(PPO, config)

    def load_checkpoint(self, checkpoint_dir: Any) -> None:
        """Restore the checkpoint, keeping this config's learning rate."""
        super().load_checkpoint(checkpoint_dir)
        _keep_config_lr(self)

    def get_auto_filled_metrics(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Tune's filled-in result keys, less ``config``."""
        return _without_config(super().get_auto_filled_metrics(*args, **kwargs))


class TunedDQN(DQN):
    """DQN built from a trial's training settings (see the module docstring)."""

    def __init__(self, config: Any = None, **kwargs: Any) -> None:
        super().__init__(config=_algorithm_config(config), **kwargs)

    @classmethod
    def default_resource_request(cls, config: Any) -> Any:
        """The trial's resources: its EnvRunners and learners, from its settings."""
        return _resources(DQN, config)

    def load_checkpoint(self, checkpoint_dir: Any) -> None:
        """Restore the checkpoint, keeping this config's learning rate."""
        super().load_checkpoint(checkpoint_dir)
        _keep_config_lr(self)

    def get_auto_filled_metrics(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Tune's filled-in result keys, less ``config``."""
        return _without_config(super().get_auto_filled_metrics(*args, **kwargs))


TRAINABLES: dict[str, type[Algorithm]] = {"PPO": TunedPPO, "DQN": TunedDQN}
