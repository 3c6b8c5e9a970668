"""Held-out evaluation during training, through the evaluation harness.

The reference pricers (the oracle, flat and true-prior Thompson sampling) run once
on the evaluation markets; each evaluation then runs only the current policy, on
the same markets and customers, and the harness's :func:`summarize` computes the
ratios. Results go into the training result under :data:`EVAL_ORACLE_RATIO` and
:data:`EVAL_META_VALUE`.
"""

from __future__ import annotations

import logging
import math
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
from rayprice.market.oracle import Oracle

logger = logging.getLogger(__name__)

EVAL_ORACLE_RATIO = "eval/oracle_ratio"
EVAL_META_VALUE = "eval/meta_value"
EVAL_FLAT_RATIO = "eval/ts_flat_ratio"
REFERENCES: tuple[str, ...] = (FLAT_REFERENCE, BAYES_REFERENCE)


class HeldoutEvaluator:
    """Scores policy bundles on the first ``markets`` markets of a held-out suite.

    Args:
        suite: suite name (or family name for its held-out suite).
        markets: how many of its markets.
        horizon_days: season length; default the suite's.
    """

    def __init__(
        self, suite: str, markets: int, horizon_days: int | None = None
    ) -> None:
        settings = EvaluationSettings(
            pricers=REFERENCES, suite=suite, markets=markets, horizon_days=horizon_days
        )
        self.suite, self.family = resolve_suite(settings)
        self.horizon = season_length(self.suite.batch, horizon_days)
        self.batch = self.suite.batch.with_horizon(self.horizon)
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
        name = f"rl:{bundle}"
        part = run_shard(
            self.batch,
            self.suite.seeds,
            self.family,
            [name],
            self.horizon,
            oracle=self.oracle,
        )
        runs = {**self.references, "policy": _run("policy", part["runs"][name])}
        metrics = summarize(runs, self.oracle_profit, (self.horizon,))
        ratio = metrics["policy"].ratio_pct[self.horizon].mean
        flat = metrics[FLAT_REFERENCE].ratio_pct[self.horizon].mean
        meta = metrics["policy"].meta_value.get(self.horizon)
        return {
            EVAL_ORACLE_RATIO: float(ratio),
            EVAL_META_VALUE: float(meta.mean) if meta is not None else math.nan,
            EVAL_FLAT_RATIO: float(flat),
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
