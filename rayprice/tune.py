"""Tune experiments described in YAML (``tune_configs/NAME.yaml``) -> a Ray Tune run.

An experiment file::

    name: retail-asha            # the folder under the storage path
    settings:                    # training settings shared by every trial
      family: retail-v1          #   (fields of rayprice.train.TrainSettings)
      eval_every: 5
    resources:                   # where each trial runs (placement settings)
      num_env_runners: 0
    search:                      # setting (or model_config.KEY) -> distribution
      lr: {loguniform: [1.0e-4, 1.0e-3]}
      model_config.d_model: {choice: [16, 32]}
    num_samples: 4               # trials drawn from the search space
    scheduler:                   # asha, pbt or fifo
      type: asha
      grace_period: 2
    stop: {iterations: 20}       # per trial: iterations and/or time_budget_s
    metric: eval/oracle_ratio    # held-out % of oracle, from the training check
    mode: max
    checkpoint: {every: 2, keep: 2}   # keep: left out keeps all (pbt needs that)
    failure: {max_failures: 1}   # restarts of a failed trial from its checkpoint

Distributions: ``{loguniform: [low, high]}``, ``{uniform: [low, high]}``,
``{randint: [low, high]}`` (high excluded) and ``{choice: [a, b, ...]}``.
A PBT scheduler takes ``perturbation_interval`` (iterations), ``mutations`` (a
search-style mapping over settings a restored checkpoint can take: ``lr``,
``entropy_coeff``, ``clip_param``, ``gamma``, ``lambda_``, ``num_epochs``),
``quantile_fraction``, ``resample_probability`` and ``synch`` (true: every trial
waits at each perturbation point until all have reached it, so exploits happen
at the same iterations however the trials are scheduled).

Every trial is an RLlib Algorithm built from its own settings
(:mod:`rayprice.train.trainable`); its held-out check
(:class:`~rayprice.train.callbacks.HeldoutEvalCallback`) reports the metric. A
malformed file raises :class:`ExperimentError` naming the dotted key.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict

from rayprice.jsonable import jsonable
from rayprice.train.evaluation import (
    EVAL_FLAT_RATIO,
    EVAL_ITERATION,
    EVAL_META_VALUE,
    EVAL_ORACLE_RATIO,
)
from rayprice.train.settings import TrainSettings

logger = logging.getLogger(__name__)

DEFAULT_STORAGE = Path("runs/tune")
BEST_BUNDLE = "best_bundle"
DISTRIBUTIONS: tuple[str, ...] = ("loguniform", "uniform", "randint", "choice")
EVAL_METRICS: tuple[str, ...] = (EVAL_ORACLE_RATIO, EVAL_META_VALUE, EVAL_FLAT_RATIO)
RETURN_METRIC = "env_runners/episode_return_mean"
METRICS: tuple[str, ...] = (*EVAL_METRICS, RETURN_METRIC)
# Settings a PBT exploit can change: the restored checkpoint still loads.
MUTABLE: tuple[str, ...] = (
    "lr",
    "entropy_coeff",
    "clip_param",
    "gamma",
    "lambda_",
    "num_epochs",
)
# Placement settings: the experiment's ``resources`` section.
RESOURCE_FIELDS: tuple[str, ...] = (
    "num_env_runners",
    "num_envs_per_env_runner",
    "num_cpus_per_env_runner",
    "env_runner_resources",
    "num_learners",
    "num_gpus_per_learner",
    "learner_resources",
)
# Decided by the experiment (stop, checkpoint, storage), not by its settings.
OWNED: dict[str, str] = {
    "iterations": "stop.iterations",
    "time_budget_s": "stop.time_budget_s",
    "checkpoint_every": "checkpoint.every",
    "output_dir": "the storage path (--storage)",
}
SETTING_FIELDS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(TrainSettings)
)


class ExperimentError(ValueError):
    """A malformed experiment; the message names the key and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SchedulerSpec(_Strict):
    """How trials are stopped early or perturbed."""

    type: Literal["asha", "pbt", "fifo"] = "fifo"
    grace_period: int = pydantic.Field(default=1, ge=1)
    reduction_factor: float = pydantic.Field(default=2.0, gt=1)
    max_t: int | None = pydantic.Field(default=None, ge=1)
    perturbation_interval: int = pydantic.Field(default=4, ge=1)
    mutations: dict[str, dict[str, Any]] = pydantic.Field(default_factory=dict)
    quantile_fraction: float = pydantic.Field(default=0.25, gt=0, le=0.5)
    resample_probability: float = pydantic.Field(default=0.25, ge=0, le=1)
    synch: bool = False


class StopSpec(_Strict):
    """When a trial ends (whichever comes first)."""

    iterations: int | None = pydantic.Field(default=None, ge=1)
    time_budget_s: float | None = pydantic.Field(default=None, gt=0)


class CheckpointSpec(_Strict):
    """How often trials checkpoint and how many checkpoints each keeps (all when
    ``keep`` is left out)."""

    every: int = pydantic.Field(default=1, ge=0)
    keep: int | None = pydantic.Field(default=None, ge=1)


class FailureSpec(_Strict):
    """How often a failed trial restarts from its last checkpoint."""

    max_failures: int = pydantic.Field(default=0, ge=-1)


class ExperimentFile(_Strict):
    """The YAML file as written (see the module docstring)."""

    name: str = pydantic.Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    settings: dict[str, Any] = pydantic.Field(default_factory=dict)
    resources: dict[str, Any] = pydantic.Field(default_factory=dict)
    search: dict[str, dict[str, Any]] = pydantic.Field(default_factory=dict)
    num_samples: int = pydantic.Field(default=1, ge=1)
    max_concurrent_trials: int | None = pydantic.Field(default=None, ge=1)
    scheduler: SchedulerSpec = pydantic.Field(default_factory=SchedulerSpec)
    stop: StopSpec
    metric: str = EVAL_ORACLE_RATIO
    mode: Literal["max", "min"] = "max"
    checkpoint: CheckpointSpec = pydantic.Field(default_factory=CheckpointSpec)
    failure: FailureSpec = pydantic.Field(default_factory=FailureSpec)
    seed: int = 0


@dataclass(frozen=True)
class Experiment:
    """A validated experiment.

    Attributes:
        spec: the file as parsed.
        base: the settings every trial starts from (``settings`` and
            ``resources`` merged; ``iterations`` from ``stop``).
        search: setting path (``lr``, ``model_config.d_model``) -> distribution.
        mutations: PBT's mutations, same form.
        source: the file it came from.
    """

    spec: ExperimentFile
    base: TrainSettings
    search: dict[str, tuple[str, list[Any]]] = field(default_factory=dict)
    mutations: dict[str, tuple[str, list[Any]]] = field(default_factory=dict)
    source: Path | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def algorithm(self) -> str:
        return self.base.algorithm

    def param_space(self) -> dict[str, Any]:
        """Tune's param space: every setting, with distributions where searched."""
        space = self.base.to_dict()
        space.pop("output_dir")
        space["model_config"] = dict(space["model_config"])
        for path, (kind, args) in self.search.items():
            domain = _domain(kind, args)
            if path.startswith("model_config."):
                space["model_config"][path.removeprefix("model_config.")] = domain
            else:
                space[path] = domain
        return space

    def searched(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The searched (and mutated) values of a trial config, by path."""
        out: dict[str, Any] = {}
        for path in [
            *self.search,
            *(m for m in self.mutations if m not in self.search),
        ]:
            if path.startswith("model_config."):
                out[path] = config.get("model_config", {}).get(
                    path.removeprefix("model_config.")
                )
            else:
                out[path] = config.get(path)
        return out


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment file.

    Raises:
        ExperimentError: the file is missing, not YAML, or a key is wrong; the
            message names the dotted key and the fix.
    """
    file = Path(path)
    if not file.exists():
        raise ExperimentError(f"{file}: no such file; experiments are in tune_configs/")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as err:
        raise ExperimentError(f"{file}: not valid YAML ({err})") from err
    try:
        experiment = parse_experiment(data)
    except ExperimentError as err:
        raise ExperimentError(f"{file}: {err}") from err
    return dataclasses.replace(experiment, source=file)


def parse_experiment(data: Any) -> Experiment:
    """Validate an experiment given as a mapping (a parsed YAML file).

    Raises:
        ExperimentError: a key is wrong; the message names the dotted key.
    """
    if not isinstance(data, Mapping):
        raise ExperimentError(
            "an experiment is a mapping with name, settings, search, scheduler, "
            f"stop, metric, ...; got {type(data).__name__}"
        )
    try:
        spec = ExperimentFile.model_validate(dict(data))
    except pydantic.ValidationError as err:
        raise ExperimentError(_pydantic_message(err)) from err

    values = _settings_values(spec)
    if spec.stop.iterations is None and spec.stop.time_budget_s is None:
        raise ExperimentError(
            "stop: give iterations or time_budget_s (or both), e.g. stop: "
            "{iterations: 20}"
        )
    values["iterations"] = spec.stop.iterations
    if spec.stop.time_budget_s is not None:
        values["time_budget_s"] = spec.stop.time_budget_s
    values["checkpoint_every"] = 0
    base = _settings(values, "settings")

    search = {
        path: _distribution(f"search.{path}", dist)
        for path, dist in spec.search.items()
    }
    for path, (kind, args) in search.items():
        _check_path(f"search.{path}", path)
        _check_values(f"search.{path}", path, kind, args, values)

    mutations = {
        path: _distribution(f"scheduler.mutations.{path}", dist)
        for path, dist in spec.scheduler.mutations.items()
    }
    if mutations and spec.scheduler.type != "pbt":
        raise ExperimentError(
            f"scheduler.mutations: only a pbt scheduler mutates settings; this one "
            f"is {spec.scheduler.type!r}"
        )
    if spec.scheduler.type == "pbt" and not mutations:
        raise ExperimentError(
            "scheduler.mutations: a pbt scheduler needs settings to mutate, e.g. "
            "mutations: {lr: {loguniform: [1.0e-4, 1.0e-3]}}"
        )
    for path, (kind, args) in mutations.items():
        if path not in MUTABLE:
            raise ExperimentError(
                f"scheduler.mutations.{path}: a PBT mutation must leave the "
                f"checkpoint loadable; mutate one of {', '.join(MUTABLE)}"
            )
        _check_values(f"scheduler.mutations.{path}", path, kind, args, values)

    if spec.metric not in METRICS:
        raise ExperimentError(
            f"metric: {spec.metric!r} is not reported by the trials; use one of "
            f"{', '.join(METRICS)}"
        )
    if spec.metric in EVAL_METRICS and base.eval_every == 0:
        raise ExperimentError(
            f"metric: {spec.metric} comes from the held-out check, which "
            "settings.eval_every: 0 turns off; set eval_every >= 1"
        )
    if spec.scheduler.type == "pbt" and spec.checkpoint.every == 0:
        raise ExperimentError(
            "checkpoint.every: pbt restores trials from checkpoints; set every >= 1"
        )
    if spec.scheduler.type == "pbt" and spec.checkpoint.keep is not None:
        # A trial waiting for a CPU restores the checkpoint it was told to copy
        # later; by then its source may have written `keep` newer ones.
        raise ExperimentError(
            "checkpoint.keep: pbt restores trials from other trials' checkpoints, "
            "which must still be there; leave keep out to keep them all"
        )
    return Experiment(spec=spec, base=base, search=search, mutations=mutations)


def _pydantic_message(err: pydantic.ValidationError) -> str:
    lines = []
    for error in err.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key; {_known_keys(error['loc'])}")
        elif error["type"] == "missing":
            lines.append(f"{where}: required; add it (see rayprice/tune.py)")
        else:
            lines.append(f"{where}: {error['msg']} (got {error.get('input')!r})")
    return "; ".join(lines)


def _known_keys(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] = ExperimentFile
    for part in loc[:-1]:
        annotation = model.model_fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return "remove it"
        model = annotation
    return f"the keys here are {', '.join(model.model_fields)}"


def _settings_values(spec: ExperimentFile) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in spec.settings.items():
        if key in OWNED:
            raise ExperimentError(f"settings.{key}: set by {OWNED[key]} instead")
        if key in RESOURCE_FIELDS:
            raise ExperimentError(f"settings.{key}: belongs in the resources section")
        if key not in SETTING_FIELDS:
            raise ExperimentError(
                f"settings.{key}: not a training setting; the settings are "
                f"{', '.join(f for f in SETTING_FIELDS if f not in OWNED)}"
            )
        values[key] = value
    for key, value in spec.resources.items():
        if key not in RESOURCE_FIELDS:
            raise ExperimentError(
                f"resources.{key}: unknown; the resources are "
                f"{', '.join(RESOURCE_FIELDS)}"
            )
        values[key] = value
    family = values.get("family")
    # Trials run in other processes and folders: a family file needs a full path.
    if isinstance(family, str) and Path(family).is_file():
        values["family"] = str(Path(family).resolve())
    return values


_SETTINGS_ADAPTER: pydantic.TypeAdapter[TrainSettings] = pydantic.TypeAdapter(
    TrainSettings
)


def _settings(values: dict[str, Any], where: str) -> TrainSettings:
    """TrainSettings from values, with types checked; errors name ``where.KEY``."""
    try:
        return _SETTINGS_ADAPTER.validate_python(values)
    except pydantic.ValidationError as err:
        lines = []
        for error in err.errors():
            key = ".".join(str(p) for p in error["loc"])
            if error["type"] == "value_error":
                # TrainSettings' own check: its message starts with the field.
                message = str(error["ctx"]["error"])
                section = (
                    "resources" if message.split(":")[0] in RESOURCE_FIELDS else where
                )
                lines.append(f"{section}.{message}")
            else:
                section = "resources" if key.split(".")[0] in RESOURCE_FIELDS else where
                lines.append(
                    f"{section}.{key}: {error['msg']} (got {error.get('input')!r})"
                )
        raise ExperimentError("; ".join(lines)) from err
    except ValueError as err:  # network_config and friends
        raise ExperimentError(f"{where}.{err}") from err


def _distribution(where: str, dist: Mapping[str, Any]) -> tuple[str, list[Any]]:
    if len(dist) != 1:
        raise ExperimentError(
            f"{where}: give exactly one distribution, one of {', '.join(DISTRIBUTIONS)}"
            f", e.g. {{loguniform: [1.0e-4, 1.0e-3]}}; got {dict(dist)!r}"
        )
    ((kind, args),) = dist.items()
    if kind not in DISTRIBUTIONS:
        raise ExperimentError(
            f"{where}: unknown distribution {kind!r}; use one of "
            f"{', '.join(DISTRIBUTIONS)}"
        )
    if not isinstance(args, list) or not args:
        raise ExperimentError(f"{where}.{kind}: give a list, e.g. [1, 2]")
    if kind == "choice":
        return kind, list(args)
    if len(args) != 2:
        raise ExperimentError(f"{where}.{kind}: give [low, high], got {args!r}")
    try:
        low, high = (float(a) for a in args)
    except (TypeError, ValueError) as err:
        raise ExperimentError(
            f"{where}.{kind}: bounds must be numbers, got {args!r}"
        ) from err
    if not low < high:
        raise ExperimentError(f"{where}.{kind}: low {low} must be below high {high}")
    if kind == "loguniform" and low <= 0:
        raise ExperimentError(f"{where}.loguniform: bounds must be > 0, got {low}")
    if kind == "randint":
        if low != int(low) or high != int(high):
            raise ExperimentError(f"{where}.randint: bounds must be integers")
        return kind, [int(low), int(high)]
    return kind, [low, high]


def _check_path(where: str, path: str) -> None:
    if path.startswith("model_config."):
        return
    if path in OWNED:
        raise ExperimentError(f"{where}: set by {OWNED[path]}; it cannot be searched")
    if path not in SETTING_FIELDS or path == "model_config":
        raise ExperimentError(
            f"{where}: not a training setting; search a field of TrainSettings "
            "(lr, entropy_coeff, window, train_batch_size, ...) or model_config.KEY"
        )


def _check_values(
    where: str, path: str, kind: str, args: list[Any], values: dict[str, Any]
) -> None:
    """Each choice (or each bound) must make valid settings with the base."""
    candidates = [args[0], args[1] - 1] if kind == "randint" else args
    for value in candidates:
        trial = dict(values)
        if path.startswith("model_config."):
            trial["model_config"] = {
                **dict(values.get("model_config", {})),
                path.removeprefix("model_config."): value,
            }
        else:
            trial[path] = value
        try:
            _settings(trial, "settings")
        except ExperimentError as err:
            raise ExperimentError(f"{where}: value {value!r} gives {err}") from err


def _domain(kind: str, args: list[Any]) -> Any:
    from ray import tune

    if kind == "loguniform":
        return tune.loguniform(args[0], args[1])
    if kind == "uniform":
        return tune.uniform(args[0], args[1])
    if kind == "randint":
        return tune.randint(args[0], args[1])
    return tune.choice(args)


# Running.


@dataclass
class TrialRow:
    """One trial of a finished (or interrupted) experiment.

    Attributes:
        trial_id: Tune's id.
        status: TERMINATED, ERROR, PAUSED, ...
        searched: its searched values, by setting path.
        iterations: iterations it reported.
        metric: the metric's last value.
        best_metric: the metric's best value over its iterations.
        checkpoint: its latest checkpoint folder.
        curve: (iteration, metric) pairs.
        config: its settings (Tune's trial config).
    """

    trial_id: str
    status: str
    searched: dict[str, Any]
    iterations: int
    metric: float
    best_metric: float
    checkpoint: str | None
    curve: list[tuple[int, float]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class TuneOutcome:
    """What an experiment run produced.

    Attributes:
        experiment: the experiment.
        path: its folder (``<storage>/<name>``).
        trials: one row per trial.
        best: the best trial by the experiment's metric and mode.
        best_bundle: the best trial's policy bundle (``<path>/best_bundle``).
        files: the table, JSON and plot written.
    """

    experiment: Experiment
    path: Path
    trials: list[TrialRow]
    best: TrialRow | None
    best_bundle: Path | None
    files: list[Path] = field(default_factory=list)


def experiment_path(experiment: Experiment, storage: str | Path | None) -> Path:
    """``<storage>/<name>``, absolute; storage defaults to ``runs/tune``."""
    return (Path(storage or DEFAULT_STORAGE) / experiment.name).resolve()


def run_experiment(
    experiment: Experiment,
    storage: str | Path | None = None,
    resume: bool = False,
    trainable: type | None = None,
    callbacks: Sequence[Any] = (),
    verbose: int = 1,
) -> TuneOutcome:
    """Run (or resume) an experiment, then export the best trial's policy.

    Args:
        experiment: the validated experiment.
        storage: the folder experiments go under (default ``runs/tune``).
        resume: continue an interrupted run from its trials' last checkpoints.
        trainable: the algorithm class; default the settings' algorithm built
            from trial settings (:data:`rayprice.train.trainable.TRAINABLES`).
        callbacks: Tune callbacks (progress, tests).
        verbose: Tune's console verbosity (0 silent).

    Returns:
        The trials, the best one and its bundle.

    Raises:
        ExperimentError: resuming an experiment that is not there, or starting
            one whose folder is taken.
    """
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # Trials keep the driver's folder; every path they use is absolute anyway.
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    from ray import tune

    from rayprice.train.run import init_ray
    from rayprice.train.trainable import TRAINABLES

    path = experiment_path(experiment, storage)
    algorithm = trainable or TRAINABLES[experiment.algorithm]
    started_ray = init_ray(experiment.base)
    try:
        if resume:
            if not tune.Tuner.can_restore(str(path)):
                raise ExperimentError(
                    f"--resume: no experiment to resume at {path}; run it without "
                    "--resume first (or give the --storage it ran with)"
                )
            tuner = tune.Tuner.restore(
                str(path),
                algorithm,
                resume_unfinished=True,
                resume_errored=True,
            )
        else:
            if (path / "tuner.pkl").exists() or any(path.glob("experiment_state*")):
                raise ExperimentError(
                    f"{path}: an experiment of this name is there; pass --resume to "
                    "continue it, or remove the folder (or use --storage) to start over"
                )
            tuner = _tuner(experiment, path, algorithm, list(callbacks), verbose)
        grid = tuner.fit()
        return _collect(experiment, path, grid)
    finally:
        if started_ray:
            import ray

            ray.shutdown()


def _tuner(
    experiment: Experiment,
    path: Path,
    algorithm: type,
    callbacks: list[Any],
    verbose: int,
) -> Any:
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    spec = experiment.spec
    stop: dict[str, float] = {}
    if spec.stop.iterations is not None:
        stop["training_iteration"] = spec.stop.iterations
    if spec.stop.time_budget_s is not None:
        stop["time_total_s"] = spec.stop.time_budget_s
    return tune.Tuner(
        algorithm,
        param_space=experiment.param_space(),
        tune_config=tune.TuneConfig(
            metric=spec.metric,
            mode=spec.mode,
            num_samples=spec.num_samples,
            max_concurrent_trials=spec.max_concurrent_trials,
            scheduler=_scheduler(experiment),
            search_alg=BasicVariantGenerator(random_state=spec.seed),
        ),
        run_config=tune.RunConfig(
            name=spec.name,
            storage_path=str(path.parent),
            stop=stop,
            checkpoint_config=tune.CheckpointConfig(
                checkpoint_frequency=spec.checkpoint.every,
                checkpoint_at_end=True,
                num_to_keep=spec.checkpoint.keep,
            ),
            failure_config=tune.FailureConfig(max_failures=spec.failure.max_failures),
            callbacks=callbacks,
            verbose=verbose,
        ),
    )


def _scheduler(experiment: Experiment) -> Any:
    from ray.tune.schedulers import (
        ASHAScheduler,
        FIFOScheduler,
        PopulationBasedTraining,
    )

    s = experiment.spec.scheduler
    if s.type == "asha":
        max_t = s.max_t or experiment.spec.stop.iterations or 100
        return ASHAScheduler(
            time_attr="training_iteration",
            max_t=max_t,
            grace_period=min(s.grace_period, max_t),
            reduction_factor=s.reduction_factor,
        )
    if s.type == "pbt":
        return PopulationBasedTraining(
            time_attr="training_iteration",
            perturbation_interval=s.perturbation_interval,
            hyperparam_mutations={
                path: _domain(kind, args)
                for path, (kind, args) in experiment.mutations.items()
            },
            quantile_fraction=s.quantile_fraction,
            resample_probability=s.resample_probability,
            synch=s.synch,
        )
    return FIFOScheduler()


def _collect(experiment: Experiment, path: Path, grid: Any) -> TuneOutcome:
    """Trial rows, the best trial's bundle, the table and the plot."""
    from ray import tune

    metric, mode = experiment.spec.metric, experiment.spec.mode
    # A result's own ``config`` is the Algorithm's; the trial's settings (as
    # sampled, and as PBT last mutated them) are the trial's config.
    analysis = tune.ExperimentAnalysis(str(path))
    by_path = {trial.path: trial for trial in analysis.trials}
    trials = []
    for result in grid:
        trial = by_path[result.path]
        config = dict(trial.config)
        frame = result.metrics_dataframe
        curve: list[tuple[int, float]] = []
        if frame is not None and metric in frame and "training_iteration" in frame:
            # Results between held-out checks repeat the latest check: keep each
            # check once, at the iteration it ran.
            fresh = (
                frame[EVAL_ITERATION] == frame["training_iteration"]
                if metric in EVAL_METRICS and EVAL_ITERATION in frame
                else [True] * len(frame)
            )
            for it, value, keep in zip(
                frame["training_iteration"], frame[metric], fresh
            ):
                if keep and value is not None and math.isfinite(float(value)):
                    curve.append((int(it), float(value)))
        metrics = result.metrics or {}
        values = [v for _, v in curve]
        best_value = (max if mode == "max" else min)(values) if values else math.nan
        trials.append(
            TrialRow(
                trial_id=str(trial.trial_id),
                status=_status(
                    experiment,
                    result.error,
                    trial.status,
                    int(metrics.get("training_iteration", 0)),
                ),
                searched=experiment.searched(config),
                config=config,
                iterations=int(metrics.get("training_iteration", 0)),
                metric=float(metrics.get(metric, math.nan)),
                best_metric=best_value,
                checkpoint=result.checkpoint.path if result.checkpoint else None,
                curve=curve,
            )
        )

    best = _best(trials, mode)
    bundle = None
    if best is not None and best.checkpoint is not None:
        bundle = export_best(experiment, path, best)
    outcome = TuneOutcome(experiment, path, trials, best, bundle)
    outcome.files = write_outputs(outcome)
    return outcome


def _status(experiment: Experiment, error: Any, state: str, iterations: int) -> str:
    """``done`` (ran to stop.iterations), ``stopped`` (early: the scheduler or
    the time budget), ``error``, or Tune's state of an unfinished trial."""
    if error is not None:
        return "error"
    if state != "TERMINATED":
        return state.lower()
    planned = experiment.spec.stop.iterations
    return "stopped" if planned is not None and iterations < planned else "done"


def _best(trials: list[TrialRow], mode: str) -> TrialRow | None:
    scored = [t for t in trials if t.checkpoint and math.isfinite(t.metric)]
    if not scored:
        return None
    pick = max if mode == "max" else min
    return pick(scored, key=lambda t: t.metric)


def export_best(experiment: Experiment, path: Path, best: TrialRow) -> Path:
    """Write the best trial's latest checkpoint as a policy bundle at
    ``<path>/best_bundle`` and its settings and score to ``<path>/best.json``."""
    from rayprice.train.run import bundle_from_checkpoint
    from rayprice.train.trainable import settings_from_trial

    if best.checkpoint is None:
        raise ValueError(f"trial {best.trial_id}: no checkpoint to export")
    settings = dataclasses.replace(settings_from_trial(best.config), output_dir=path)
    bundle = bundle_from_checkpoint(best.checkpoint, settings, path / BEST_BUNDLE)
    summary = {
        "experiment": experiment.name,
        "trial_id": best.trial_id,
        "metric": experiment.spec.metric,
        "mode": experiment.spec.mode,
        "value": best.metric,
        "iterations": best.iterations,
        "searched": best.searched,
        "checkpoint": best.checkpoint,
        "bundle": str(bundle),
        "settings": settings.to_dict(),
    }
    (path / "best.json").write_text(
        json.dumps(summary, indent=2, default=jsonable) + "\n"
    )
    logger.info("best trial %s: %s", best.trial_id, summary["value"])
    return bundle


def trial_table(outcome: TuneOutcome) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the trials table (best first)."""
    metric = outcome.experiment.spec.metric
    paths = list(outcome.trials[0].searched) if outcome.trials else []
    header = ["trial", "status", *paths, "iters", metric, "best"]
    reverse = outcome.experiment.spec.mode == "max"
    ordered = sorted(
        outcome.trials,
        key=lambda t: t.metric if math.isfinite(t.metric) else -math.inf,
        reverse=reverse,
    )
    rows = [
        [
            t.trial_id,
            t.status,
            *(_fmt_value(t.searched.get(p)) for p in paths),
            str(t.iterations),
            f"{t.metric:.2f}",
            f"{t.best_metric:.2f}",
        ]
        for t in ordered
    ]
    return header, rows


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def write_outputs(outcome: TuneOutcome) -> list[Path]:
    """``trials.csv``, ``trials.json`` and ``learning_curves.png`` in the
    experiment folder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = outcome.path
    folder.mkdir(parents=True, exist_ok=True)
    header, rows = trial_table(outcome)
    table = folder / "trials.csv"
    with table.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    data = folder / "trials.json"
    data.write_text(
        json.dumps(
            {
                "experiment": outcome.experiment.name,
                "metric": outcome.experiment.spec.metric,
                "mode": outcome.experiment.spec.mode,
                "best": outcome.best.trial_id if outcome.best else None,
                "best_bundle": str(outcome.best_bundle)
                if outcome.best_bundle
                else None,
                "trials": [
                    {k: v for k, v in dataclasses.asdict(t).items() if k != "config"}
                    for t in outcome.trials
                ],
            },
            indent=2,
            default=jsonable,
        )
        + "\n"
    )
    plot = folder / "learning_curves.png"
    fig, ax = plt.subplots(figsize=(7, 4))
    for trial in outcome.trials:
        if trial.curve:
            its, values = zip(*trial.curve)
            ax.plot(its, values, marker=".", label=trial.trial_id)
    ax.set_xlabel("training iteration")
    ax.set_ylabel(outcome.experiment.spec.metric)
    ax.set_title(f"{outcome.experiment.name}: trials")
    if outcome.trials:
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(plot, dpi=120)
    plt.close(fig)
    return [table, data, plot]
