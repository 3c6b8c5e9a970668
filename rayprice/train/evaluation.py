"""Held-out evaluation during training, through the evaluation harness.

The reference pricers (the oracle, flat and true-prior Thompson sampling) run once
on the evaluation markets; each evaluation then runs only the current policy, on
the same markets and customers, and the harness's :func:`summarize` computes the
ratios. Results go into the training result under :data:`EVAL_ORACLE_RATIO` and
:data:`EVAL_META_VALUE`.

On a cluster the markets can be split into shards scored by Ray tasks
(``ray_tasks``). Each shard's oracle is planned once, by the task that first runs
the references on it, and stays in the object store; the policy bundle travels
to the tasks as bytes, so no node needs the driver's files. No market's draws
depend on its neighbours, so the figures are those of the in-process evaluation.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import rayprice.pricers.policy  # noqa: F401  (registers the rl: pricers)
from rayprice.evaluate.harness import (
    BAYES_REFERENCE,
    FLAT_REFERENCE,
    EvaluationSettings,
    PricerRun,
    resolve_suite,
    run_shard,
    season_length,
    summarize,
)
from rayprice.market.batch import MarketBatch
from rayprice.market.families import Family
from rayprice.market.oracle import Oracle

logger = logging.getLogger(__name__)

EVAL_ORACLE_RATIO = "eval/oracle_ratio"
EVAL_META_VALUE = "eval/meta_value"
EVAL_FLAT_RATIO = "eval/ts_flat_ratio"
# The iteration of the latest check, in results that repeat it (Tune trials).
EVAL_ITERATION = "eval/iteration"
REFERENCES: tuple[str, ...] = (FLAT_REFERENCE, BAYES_REFERENCE)
# CPUs each evaluation task reserves: a shard is a few seconds of numpy and a
# small network's forward pass, and should fit beside the EnvRunners.
EVAL_TASK_CPUS = 0.5


class HeldoutEvaluator:
    """Scores policy bundles on the first ``markets`` markets of a held-out suite.

    Args:
        suite: suite name (or family name for its held-out suite).
        markets: how many of its markets.
        horizon_days: season length; default the suite's.
        ray_tasks: split the markets into this many shards, each scored by a Ray
            task on the running cluster (0: score in this process). The tasks
            reserve :data:`EVAL_TASK_CPUS` CPUs each and are scheduled outside
            any placement group (a Tune trial's reserved bundles are held by its
            EnvRunners), so the cluster needs that many free CPUs.

    Raises:
        ValueError: ``ray_tasks`` is negative.
        RuntimeError: ``ray_tasks`` is set and Ray is not initialized.
    """

    def __init__(
        self,
        suite: str,
        markets: int,
        horizon_days: int | None = None,
        ray_tasks: int = 0,
    ) -> None:
        if ray_tasks < 0:
            raise ValueError(
                f"ray_tasks: must be >= 0 (0 scores in this process), got {ray_tasks}"
            )
        settings = EvaluationSettings(
            pricers=REFERENCES, suite=suite, markets=markets, horizon_days=horizon_days
        )
        self.suite, self.family = resolve_suite(settings)
        self.horizon = season_length(self.suite.batch, horizon_days)
        self.batch = self.suite.batch.with_horizon(self.horizon)
        self.ray_tasks = min(ray_tasks, self.batch.n)
        self._shards: _RayShards | None = None
        self.oracle: Oracle | None
        if self.ray_tasks:
            self._shards = _RayShards(
                self.batch, self.suite.seeds, self.family, self.horizon, self.ray_tasks
            )
            self.oracle = None
            part = self._shards.references()
        else:
            # Planned once: every check scores a new policy on the same markets.
            self.oracle = Oracle(self.batch, self.suite.seeds)
            part = run_shard(
                self.batch,
                self.suite.seeds,
                self.family,
                list(REFERENCES),
                self.horizon,
                oracle=self.oracle,
            )
        self.oracle_profit = part["oracle_profit"]
        self.references = {name: _run(name, r) for name, r in part["runs"].items()}

    def score(self, bundle: str | Path) -> dict[str, float]:
        """% of the oracle's profit over the season and the meta-learning value."""
        if self._shards is not None:
            raw = self._shards.score(Path(bundle))
        else:
            name = f"rl:{bundle}"
            part = run_shard(
                self.batch,
                self.suite.seeds,
                self.family,
                [name],
                self.horizon,
                oracle=self.oracle,
            )
            raw = part["runs"][name]
        runs = {**self.references, "policy": _run("policy", raw)}
        metrics = summarize(runs, self.oracle_profit, (self.horizon,))
        ratio = metrics["policy"].ratio_pct[self.horizon].mean
        flat = metrics[FLAT_REFERENCE].ratio_pct[self.horizon].mean
        meta = metrics["policy"].meta_value.get(self.horizon)
        return {
            EVAL_ORACLE_RATIO: float(ratio),
            EVAL_META_VALUE: float(meta.mean) if meta is not None else math.nan,
            EVAL_FLAT_RATIO: float(flat),
        }


class _RayShards:
    """The evaluation markets as shards in Ray's object store, scored by tasks.

    The shards' markets, seeds and the family are put once; each shard's oracle is
    planned by the task that runs the references and stays in the object store,
    so later checks send only the bundle.
    """

    def __init__(
        self,
        batch: MarketBatch,
        seeds: np.ndarray,
        family: Family,
        horizon: int,
        tasks: int,
    ) -> None:
        import ray

        if not ray.is_initialized():
            raise RuntimeError(
                "ray_tasks: evaluation tasks need a running Ray (ray.init); set "
                "eval_ray_tasks to 0 to score in this process"
            )
        self.horizon = horizon
        size = -(-batch.n // tasks)
        slices = [slice(i, min(i + size, batch.n)) for i in range(0, batch.n, size)]
        self.markets = [ray.put(batch.take(s)) for s in slices]
        self.seeds = [ray.put(seeds[s]) for s in slices]
        self.family = ray.put(family)
        self.oracles: list[Any] = []
        options = {"num_cpus": EVAL_TASK_CPUS, "scheduling_strategy": "SPREAD"}
        self._plan = ray.remote(_plan_and_run_references).options(
            num_returns=2, **options
        )
        self._score = ray.remote(_score_shard).options(**options)

    def references(self) -> dict[str, Any]:
        """The reference pricers over every shard, planning the shards' oracles."""
        import ray

        parts = []
        for markets, seeds in zip(self.markets, self.seeds):
            refs: Any = self._plan.remote(markets, seeds, self.family, self.horizon)
            oracle, part = refs
            self.oracles.append(oracle)
            parts.append(part)
        pieces = ray.get(parts)
        runs = {
            name: _concatenate([p["runs"][name] for p in pieces]) for name in REFERENCES
        }
        return {
            "oracle_profit": np.concatenate([p["oracle_profit"] for p in pieces]),
            "runs": runs,
        }

    def score(self, bundle: Path) -> dict[str, Any]:
        """The policy in ``bundle`` over every shard, as one pricer run."""
        import ray

        files = ray.put(_pack(bundle))
        pending = [
            self._score.remote(markets, seeds, self.family, files, self.horizon, oracle)
            for markets, seeds, oracle in zip(self.markets, self.seeds, self.oracles)
        ]
        return _concatenate(ray.get(pending))


def _plan_and_run_references(
    batch: MarketBatch, seeds: np.ndarray, family: Family, horizon: int
) -> tuple[Oracle, dict[str, Any]]:
    """A Ray task: plan one shard's oracle and run the reference pricers on it."""
    oracle = Oracle(batch.with_horizon(horizon), seeds)
    part = run_shard(batch, seeds, family, list(REFERENCES), horizon, oracle=oracle)
    return oracle, part


def _score_shard(
    batch: MarketBatch,
    seeds: np.ndarray,
    family: Family,
    files: dict[str, bytes],
    horizon: int,
    oracle: Oracle,
) -> dict[str, Any]:
    """A Ray task: the packed bundle's policy over one shard's markets."""
    folder = Path(tempfile.mkdtemp(prefix="rayprice-eval-bundle-"))
    try:
        _unpack(files, folder)
        name = f"rl:{folder}"
        part = run_shard(batch, seeds, family, [name], horizon, oracle=oracle)
        return dict(part["runs"][name])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _pack(folder: Path) -> dict[str, bytes]:
    """Every file of a bundle folder by its relative path (bundles are small)."""
    if not folder.is_dir():
        raise ValueError(f"bundle: {folder} is not a policy bundle folder")
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _unpack(files: dict[str, bytes], folder: Path) -> None:
    for relative, data in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _concatenate(pieces: list[dict[str, Any]]) -> dict[str, Any]:
    """One pricer's runs over consecutive shards as one run over all markets."""
    return {
        "settings": pieces[0]["settings"],
        "profit": np.concatenate([p["profit"] for p in pieces]),
        "price": np.concatenate([p["price"] for p in pieces]),
        "units_sold": np.concatenate([p["units_sold"] for p in pieces]),
        "seconds": float(sum(p["seconds"] for p in pieces)),
    }


def _run(name: str, raw: dict[str, Any]) -> PricerRun:
    return PricerRun(
        name=name,
        settings=raw["settings"],
        profit=np.asarray(raw["profit"]),
        price=np.asarray(raw["price"]),
        units_sold=np.asarray(raw["units_sold"]),
        seconds=float(raw["seconds"]),
    )
