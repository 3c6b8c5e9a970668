"""The one typed settings object behind ``rayprice train``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rayprice.market.env import DEFAULT_FAMILY, DEFAULT_PRICE_SPAN
from rayprice.market.window import DEFAULT_WINDOW
from rayprice.policy.networks import NETWORKS, network_config

Algorithm = Literal["PPO", "DQN"]
ALGORITHMS: tuple[str, ...] = ("PPO", "DQN")


@dataclass(frozen=True)
class TrainSettings:
    """How to meta-train a pricing policy.

    Attributes:
        algorithm: ``"PPO"`` (the context-encoder module, continuous price) or
            ``"DQN"`` (RLlib's default Q-network over ``n_prices`` prices).
        family: the family markets are drawn from (name or file); a new market
            every episode.
        network: ``"transformer"`` (context encoder) or ``"memoryless"`` (the
            ablation); PPO only.
        model_config: network sizes overriding the network's defaults.
        window: periods of history in the observation.
        price_span: prices run from list / span to list * span.
        n_prices: size of DQN's price grid.
        horizon_days: override the family's season length while training.
        num_env_runners: remote EnvRunners (0: sample in the driver).
        num_envs_per_env_runner: markets stepped together in each EnvRunner's
            native vector env.
        num_learners: remote learners (0: learn in the driver).
        num_gpus_per_learner: GPUs per learner; ``None`` takes one when the
            cluster has a GPU and none otherwise.
        num_cpus_per_env_runner: CPUs each remote EnvRunner reserves.
        env_runner_resources: custom resources each remote EnvRunner requests,
            e.g. ``{"simulation": 1}`` to keep market simulation on simulation
            nodes (see ``cluster.yaml``); empty on one machine.
        learner_resources: custom resources each remote learner requests.
        num_cpus: CPUs of the local Ray started when none is running.
        torch_threads: torch threads in the driver (its learner and sampler);
            one is fastest for these small networks on a busy machine.
        train_batch_size: env steps per training iteration.
        minibatch_size: PPO minibatch size.
        num_epochs: PPO passes over each batch.
        lr: learning rate.
        gamma: discount per period.
        lambda_: GAE lambda.
        entropy_coeff: PPO entropy bonus.
        clip_param: PPO clip.
        iterations: stop after this many iterations (``None``: no count).
        time_budget_s: stop before an iteration that would take training past
            this many seconds (``None``: no budget). With both, whichever comes
            first; at least one must be set.
        seed: seed of Ray, torch and the envs.
        checkpoint_every: iterations between checkpoints (0: only at the end).
        eval_every: iterations between held-out evaluations (0: none).
        eval_markets: held-out markets in each evaluation.
        eval_suite: suite of the evaluations; default the family's held-out suite.
        eval_ray_tasks: score each evaluation's markets in this many shards, each
            a Ray task (half a CPU, outside the run's reserved resources, so the
            cluster needs free CPUs); 0 scores them in the training process.
        output_dir: where checkpoints, the bundle, results and the report go.
    """

    algorithm: Algorithm = "PPO"
    family: str = DEFAULT_FAMILY
    network: str = "transformer"
    model_config: dict[str, Any] = field(default_factory=dict)
    window: int = DEFAULT_WINDOW
    price_span: float = DEFAULT_PRICE_SPAN
    n_prices: int = 21
    horizon_days: int | None = None
    num_env_runners: int = 0
    num_envs_per_env_runner: int = 64
    num_learners: int = 0
    num_gpus_per_learner: float | None = None
    num_cpus_per_env_runner: float = 1.0
    env_runner_resources: dict[str, float] = field(default_factory=dict)
    learner_resources: dict[str, float] = field(default_factory=dict)
    num_cpus: int = 2
    torch_threads: int = 1
    train_batch_size: int = 6400
    minibatch_size: int = 800
    num_epochs: int = 4
    lr: float = 5e-4
    gamma: float = 0.97
    lambda_: float = 0.95
    entropy_coeff: float = 0.001
    clip_param: float = 0.2
    iterations: int | None = None
    time_budget_s: float | None = 840.0
    seed: int = 0
    checkpoint_every: int = 20
    eval_every: int = 10
    eval_markets: int = 16
    eval_suite: str | None = None
    eval_ray_tasks: int = 0
    output_dir: Path = Path("runs/train")

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(
                f"algorithm: {self.algorithm!r} is not one of {', '.join(ALGORITHMS)}"
            )
        if self.network not in NETWORKS:
            raise ValueError(
                f"network: {self.network!r} is not one of {', '.join(NETWORKS)}"
            )
        network_config(self.network, {**self.model_config, "window": self.window})
        if self.window < 1:
            raise ValueError(f"window: need at least one period, got {self.window}")
        positive = {
            "num_envs_per_env_runner": self.num_envs_per_env_runner,
            "train_batch_size": self.train_batch_size,
            "minibatch_size": self.minibatch_size,
            "num_epochs": self.num_epochs,
            "num_cpus": self.num_cpus,
            "eval_markets": self.eval_markets,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name}: must be at least 1, got {value}")
        if self.minibatch_size > self.train_batch_size:
            raise ValueError(
                f"minibatch_size: {self.minibatch_size} exceeds train_batch_size "
                f"{self.train_batch_size}; lower it or raise the batch"
            )
        for name, value in {
            "num_env_runners": self.num_env_runners,
            "num_learners": self.num_learners,
            "checkpoint_every": self.checkpoint_every,
            "eval_every": self.eval_every,
            "eval_ray_tasks": self.eval_ray_tasks,
        }.items():
            if value < 0:
                raise ValueError(f"{name}: must be >= 0, got {value}")
        if self.num_cpus_per_env_runner < 0:
            raise ValueError(
                "num_cpus_per_env_runner: must be >= 0, got "
                f"{self.num_cpus_per_env_runner}"
            )
        for name, resources in {
            "env_runner_resources": self.env_runner_resources,
            "learner_resources": self.learner_resources,
        }.items():
            for key, amount in resources.items():
                if key in ("CPU", "GPU"):
                    raise ValueError(
                        f"{name}.{key}: CPUs and GPUs have settings of their own "
                        "(num_cpus_per_env_runner, num_gpus_per_learner)"
                    )
                if not amount > 0:
                    raise ValueError(f"{name}.{key}: must be > 0, got {amount}")
        if self.iterations is not None and self.iterations < 1:
            raise ValueError(f"iterations: must be at least 1, got {self.iterations}")
        if self.iterations is None and self.time_budget_s is None:
            raise ValueError(
                "iterations: give iterations or time_budget_s (or both), or training "
                "never stops"
            )
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ValueError(
                f"time_budget_s: must be > 0 seconds, got {self.time_budget_s}"
            )
        if self.price_span <= 1:
            raise ValueError(f"price_span: must be > 1, got {self.price_span}")

    @property
    def action_type(self) -> str:
        return "continuous" if self.algorithm == "PPO" else "discrete"

    @property
    def full_model_config(self) -> dict[str, Any]:
        """The network's complete config, as the RLModule receives it."""
        sizes = network_config(
            self.network, {**self.model_config, "window": self.window}
        )
        return {"network": self.network, **sizes}

    @property
    def env_config(self) -> dict[str, Any]:
        """Keyword arguments of :class:`~rayprice.market.env.MarketVectorEnv`."""
        return {
            "family": self.family,
            "window": self.window,
            "action_type": self.action_type,
            "n_prices": self.n_prices,
            "price_span": self.price_span,
            "reward": "normalized",
            "horizon_days": self.horizon_days,
        }

    @property
    def bundle_dir(self) -> Path:
        return self.output_dir / "bundle"

    @property
    def checkpoint_dir(self) -> Path:
        return self.output_dir / "checkpoints"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["output_dir"] = str(self.output_dir)
        return data
