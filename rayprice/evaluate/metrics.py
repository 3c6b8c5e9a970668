"""Metrics of a pricer against the oracle, with confidence intervals over markets.

Per market ``i`` and period ``t`` (1-based), with ``profit`` the pricer's realised
profit and ``oracle`` the oracle's expected profit per period:

- ``ratio_i(t) = sum_{s<=t} profit / sum_{s<=t} oracle``: the share of the
  oracle's profit earned over periods 1..t. Reported as a percentage, averaged
  over markets (every market counts alike, whatever its price level).
- ``regret_i(t) = sum_{s<=t} (oracle - profit)``, in the market's currency, and
  as a percentage of the oracle's profit over the whole horizon.
- periods to 95%: the first ``t`` at which the mean ratio reaches 95% (and, per
  market, where the market's own running ratio first does).
- meta-learning value ``(pricer - flat) / (true prior - flat)`` on the mean
  ratio, with a paired bootstrap interval over markets.

Confidence intervals are 95% Student-t intervals of the mean over markets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

# Metric names, defined once and used as keys in every output.
RATIO = "eval/oracle_ratio_pct"
REGRET = "eval/regret"
REGRET_PCT = "eval/regret_pct_of_oracle"
PERIODS_TO_95 = "eval/periods_to_95pct"
META_VALUE = "eval/meta_learning_value"
TARGET_RATIO = 0.95
CONFIDENCE = 0.95
BOOTSTRAP_SAMPLES = 1000


@dataclass(frozen=True)
class Estimate:
    """A mean over markets with its 95% confidence interval."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "mean": _num(self.mean),
            "ci_low": _num(self.low),
            "ci_high": _num(self.high),
            "n_markets": self.n,
        }

    def format(self, digits: int = 1) -> str:
        if not math.isfinite(self.mean):
            return "n/a"
        if not math.isfinite(self.half_width):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def mean_ci(values: np.ndarray, confidence: float = CONFIDENCE) -> Estimate:
    """Mean of the finite values and its Student-t confidence interval."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(v.mean())
    if n < 2:
        return Estimate(mean, math.nan, math.nan, n)
    half = float(
        student_t.ppf(0.5 + confidence / 2, n - 1) * v.std(ddof=1) / math.sqrt(n)
    )
    return Estimate(mean, mean - half, mean + half, n)


def running_ratio(profit: np.ndarray, oracle: np.ndarray) -> np.ndarray:
    """``sum_{s<=t} profit / sum_{s<=t} oracle`` per market and period, (N, T).

    NaN where the oracle's cumulative expected profit is not positive (a market
    where nothing can be earned has no ratio).
    """
    cum_profit = np.cumsum(profit, axis=1)
    cum_oracle = np.cumsum(oracle, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(cum_oracle > 0, cum_profit / cum_oracle, np.nan)


def cumulative_regret(profit: np.ndarray, oracle: np.ndarray) -> np.ndarray:
    """``sum_{s<=t} (oracle - profit)`` per market and period, currency, (N, T)."""
    return np.cumsum(oracle - profit, axis=1)


def regret_share(profit: np.ndarray, oracle: np.ndarray) -> np.ndarray:
    """Cumulative regret as a share of the oracle's profit over the horizon, (N, T)."""
    total = oracle.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, cumulative_regret(profit, oracle) / total, np.nan)


def first_reach(curve: np.ndarray, target: float = TARGET_RATIO) -> int | None:
    """First period (1-based) at which a curve reaches ``target``; None if never."""
    hits = np.flatnonzero(np.nan_to_num(curve, nan=-np.inf) >= target)
    return int(hits[0]) + 1 if hits.size else None


def first_reach_per_market(
    ratio: np.ndarray, target: float = TARGET_RATIO
) -> np.ndarray:
    """Per market, the first period reaching ``target`` (NaN if never), (N,)."""
    hit = np.nan_to_num(ratio, nan=-np.inf) >= target
    first = hit.argmax(axis=1).astype(np.float64) + 1
    return np.where(hit.any(axis=1), first, np.nan)


def meta_value(
    pricer: np.ndarray,
    flat: np.ndarray,
    true_prior: np.ndarray,
    seed: int = 0,
    samples: int = BOOTSTRAP_SAMPLES,
) -> Estimate:
    """``(pricer - flat) / (true prior - flat)`` on mean ratios, paired bootstrap CI.

    Args:
        pricer, flat, true_prior: per-market ratios of the three pricers on the
            same markets, (N,).
        seed: seed of the bootstrap resampling.
        samples: bootstrap resamples.
    """
    ok = np.isfinite(pricer) & np.isfinite(flat) & np.isfinite(true_prior)
    a, f, b = pricer[ok], flat[ok], true_prior[ok]
    n = int(ok.sum())
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)

    def value(idx: np.ndarray | slice) -> np.ndarray:
        gap = b[idx].mean(axis=-1) - f[idx].mean(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (a[idx].mean(axis=-1) - f[idx].mean(axis=-1)) / gap

    point = float(value(slice(None)))
    if n < 2:
        return Estimate(point, math.nan, math.nan, n)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(samples, n))
    boot = value(idx)
    boot = boot[np.isfinite(boot)]
    if boot.size < samples // 2:
        return Estimate(point, math.nan, math.nan, n)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(boot, [tail, 100 - tail])
    return Estimate(point, float(low), float(high), n)
