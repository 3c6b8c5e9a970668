"""Experiment files: the shipped ones validate; malformed ones name the key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from rayprice.tune import ExperimentError, load_experiment, parse_experiment
from tests.tune.conftest import TUNE_CONFIGS

SHIPPED = sorted(TUNE_CONFIGS.glob("*.yaml"))


def test_the_four_experiments_are_shipped() -> None:
    assert {p.stem for p in SHIPPED} >= {
        "tiny",
        "retail-asha",
        "retail-pbt",
        "retail-cluster",
    }


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_experiments_validate(path: Path) -> None:
    experiment = load_experiment(path)
    assert experiment.name == path.stem
    assert experiment.base.eval_every > 0
    assert experiment.search, "a shipped experiment searches something"
    # Stop owns the trial length; the final held-out check knows it.
    assert experiment.base.iterations == experiment.spec.stop.iterations


def test_cluster_experiment_places_runners_on_simulation_nodes() -> None:
    experiment = load_experiment(TUNE_CONFIGS / "retail-cluster.yaml")
    assert experiment.base.env_runner_resources == {"simulation": 1}
    assert experiment.base.num_env_runners >= 8
    assert experiment.base.num_learners == 2
    assert experiment.base.num_gpus_per_learner == 1


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        if value is _DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"schedular": {"type": "asha"}}, "schedular: unknown key"),
        ({"scheduler__type": "hyperband"}, "scheduler.type"),
        ({"scheduler__grace": 2}, "scheduler.grace: unknown key; the keys here are"),
        ({"settings__learning_rate": 0.1}, "settings.learning_rate: not a training"),
        ({"settings__lr": "fast"}, "settings.lr: Input should be a valid number"),
        ({"settings__minibatch_size": 10_000}, "settings.minibatch_size: 10000"),
        ({"settings__iterations": 5}, "settings.iterations: set by stop.iterations"),
        ({"settings__num_env_runners": 2}, "settings.num_env_runners: belongs in"),
        ({"resources__gpus": 1}, "resources.gpus: unknown"),
        ({"resources__num_env_runners": -1}, "resources.num_env_runners: must be"),
        ({"search__lr": {"lognormal": [0.1, 1]}}, "search.lr: unknown distribution"),
        ({"search__lr": {"loguniform": [0, 1]}}, "search.lr.loguniform: bounds"),
        ({"search__lr": {"uniform": [1, 0.5]}}, "search.lr.uniform: low 1.0"),
        ({"search__learning_rate": {"choice": [1]}}, "search.learning_rate: not a"),
        (
            {"search__model_config.layers": {"choice": [1, 2]}},
            "search.model_config.layers: value 1 gives settings.model_config",
        ),
        (
            {"search__minibatch_size": {"choice": [200, 100_000]}},
            "search.minibatch_size: value 100000",
        ),
        ({"metric": "eval/profit"}, "metric: 'eval/profit' is not reported"),
        ({"settings__eval_every": 0}, "metric: eval/oracle_ratio comes from"),
        ({"mode": "maximum"}, "mode: Input should be"),
        ({"stop": {}}, "stop: give iterations or time_budget_s"),
        ({"stop": _DELETE}, "stop: required"),
        ({"num_samples": 0}, "num_samples: Input should be greater than"),
        ({"failure__max_failures": "often"}, "failure.max_failures"),
        (
            {"scheduler": {"type": "pbt", "mutations": {"window": {"choice": [8]}}}},
            "scheduler.mutations.window: a PBT mutation must leave",
        ),
        ({"scheduler": {"type": "pbt"}}, "scheduler.mutations: a pbt scheduler needs"),
        (
            {"scheduler": {"type": "pbt", "mutations": {"lr": {"choice": [0.1]}}}},
            "checkpoint.keep: pbt restores trials from other trials' checkpoints",
        ),
        (
            {"scheduler": {"type": "asha", "mutations": {"lr": {"choice": [0.1]}}}},
            "scheduler.mutations: only a pbt scheduler",
        ),
    ],
)
def test_malformed_experiments_name_the_key(
    tiny: dict[str, Any], changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ExperimentError) as err:
        parse_experiment(_with(tiny, **changes))
    assert message in str(err.value)


def test_a_file_error_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nstop: {iterations: 2}\nsearch: {lr: [1, 2]}\n")
    with pytest.raises(ExperimentError, match=r"bad\.yaml: search\.lr"):
        load_experiment(bad)
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ExperimentError, match="not valid YAML"):
        load_experiment(bad)


def test_the_cli_prints_the_key_and_exits_2(tmp_path: Path) -> None:
    from rayprice.cli import app

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {"name": "bad", "stop": {"iterations": 2}, "scheduler": {"type": "bohb"}}
        )
    )
    result = CliRunner().invoke(app, ["tune", str(bad)])
    assert result.exit_code == 2
    assert "scheduler.type" in result.output


def test_searched_window_reaches_env_and_network(tiny: dict[str, Any]) -> None:
    """Every trial's AlgorithmConfig takes the window Tune drew, in both places."""
    from ray.tune.search.variant_generator import generate_variants

    from rayprice.train.config import build_config
    from rayprice.train.trainable import settings_from_trial

    tiny["search"] = {
        "window": {"choice": [4, 12]},
        "model_config.d_model": {"choice": [8, 24]},
        "lr": {"loguniform": [1.0e-4, 1.0e-3]},
    }
    experiment = parse_experiment(tiny)
    seen = set()
    for _ in range(6):
        for _, trial in generate_variants(experiment.param_space()):
            settings = settings_from_trial(trial)
            config = build_config(settings, eval_every_result=True)
            model = config.rl_module_spec.model_config
            assert config.env_config["window"] == model["window"] == trial["window"]
            assert model["d_model"] == trial["model_config"]["d_model"]
            assert config.lr == trial["lr"] and 1e-4 <= config.lr <= 1e-3
            seen.add((trial["window"], model["d_model"]))
    assert len(seen) > 1  # the space is sampled, not fixed


def test_pbt_mutations_are_tune_domains() -> None:
    from ray.tune.search.sample import Domain

    from rayprice.tune import _scheduler

    experiment = load_experiment(TUNE_CONFIGS / "retail-pbt.yaml")
    scheduler = _scheduler(experiment)
    mutations = scheduler._hyperparam_mutations
    assert set(mutations) == {"lr", "entropy_coeff", "clip_param"}
    assert all(isinstance(d, Domain) for d in mutations.values())
