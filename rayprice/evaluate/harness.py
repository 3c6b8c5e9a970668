"""Run pricers side by side on the same markets and the same customers.

Every pricer gets a fresh :class:`~rayprice.market.simulator.MarketSimulator` over
the same markets and seeds. The simulator draws each market's customers from
``(market seed, period)`` alone, so every pricer meets the same customers (common
random numbers): differences between pricers are differences in pricing, not in
luck. Pricers run over all markets of a shard at once; shards run one after
another here, or as Ray tasks on a cluster (``backend="ray"``), and give the same
figures either way because no market's draws depend on its neighbours.
"""

from __future__ import annotations

import logging
import platform
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

import rayprice
from rayprice.evaluate import metrics as m
from rayprice.market.batch import MarketBatch
from rayprice.market.families import Family, Suite, load_family, load_suite
from rayprice.market.oracle import Oracle
from rayprice.market.simulator import MarketSimulator
from rayprice.market.spec import SpecError
from rayprice.pricers.base import MarketState, MarketView, PricingContext, Sales
from rayprice.pricers.registry import make_pricer, parse_pricer_list

logger = logging.getLogger(__name__)

CHECKPOINTS: tuple[int, ...] = (10, 50, 100)
FLAT_REFERENCE = "ts-flat"
BAYES_REFERENCE = "ts-true-prior"

Backend = Literal["local", "ray"]


@dataclass(frozen=True)
class EvaluationSettings:
    """What to evaluate, and how.

    Attributes:
        pricers: registry names, in the order of the output.
        suite: a suite name (``logit-heldout-v1``), a family name (its held-out
            suite) or a family file; ignored when ``family`` is given.
        family: instead of a suite, draw ``markets`` markets from this family
            (name or file) with ``seed``.
        markets: the first N markets of the suite, or how many to draw.
        seed: seed of the markets drawn with ``family``.
        horizon_days: season length; default the suite's own.
        checkpoints: periods t at which profit over 1..t is reported (the
            horizon is always added).
        backend: ``"local"`` or ``"ray"`` (Ray tasks on a running cluster).
        shard_size: markets per shard (one Ray task each); 0 runs one shard.
        progress: show a progress bar on the terminal.
        bootstrap_seed: seed of the meta-learning value's bootstrap.
    """

    pricers: tuple[str, ...]
    suite: str = "logit-heldout-v1"
    family: str | None = None
    markets: int | None = None
    seed: int = 0
    horizon_days: int | None = None
    checkpoints: tuple[int, ...] = CHECKPOINTS
    backend: Backend = "local"
    shard_size: int = 0
    progress: bool = False
    bootstrap_seed: int = 0

    def __post_init__(self) -> None:
        if not self.pricers:
            raise ValueError("pricers: give at least one pricer, e.g. 'oracle,ts-flat'")
        if self.markets is not None and self.markets < 1:
            raise ValueError(f"markets: must be at least 1, got {self.markets}")
        if self.horizon_days is not None and self.horizon_days < 1:
            raise ValueError(
                f"horizon_days: must be at least 1, got {self.horizon_days}"
            )
        if self.backend not in ("local", "ray"):
            raise ValueError(f"backend: choose 'local' or 'ray', got {self.backend!r}")
        if self.shard_size < 0:
            raise ValueError(f"shard_size: must be >= 0, got {self.shard_size}")


@dataclass
class PricerRun:
    """What one pricer did in every market: arrays (N, T)."""

    name: str
    settings: dict[str, Any]
    profit: np.ndarray
    price: np.ndarray
    units_sold: np.ndarray
    seconds: float


@dataclass
class PricerMetrics:
    """The figures of one pricer (see :mod:`rayprice.evaluate.metrics`)."""

    ratio_pct: dict[int, m.Estimate]
    regret: dict[int, m.Estimate]
    regret_pct: dict[int, m.Estimate]
    periods_to_95: int | None
    periods_to_95_median: float | None
    reached_95_share: float
    meta_value: dict[int, m.Estimate] = field(default_factory=dict)
    ratio_curve: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ratio_curve_ci: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    regret_pct_curve: np.ndarray = field(default_factory=lambda: np.zeros(0))
    regret_pct_curve_ci: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))


@dataclass
class EvaluationResult:
    """Every pricer's run and metrics on one suite, with the exact settings."""

    settings: EvaluationSettings
    suite: Suite
    horizon_days: int
    checkpoints: tuple[int, ...]
    oracle_profit: np.ndarray
    oracle_methods: list[str]
    runs: dict[str, PricerRun]
    metrics: dict[str, PricerMetrics]
    seconds: float

    @property
    def pricers(self) -> list[str]:
        return list(self.runs)

    def to_dict(self) -> dict[str, Any]:
        """Every figure and the exact settings, ready for JSON."""
        from rayprice.evaluate.report import result_to_dict

        return result_to_dict(self)


def resolve_suite(settings: EvaluationSettings) -> tuple[Suite, Family]:
    """The markets to evaluate and the family they come from."""
    if settings.family is not None:
        family = load_family(settings.family)
        suite = family.draw_suite(settings.markets or 200, settings.seed)
    else:
        suite = load_suite(settings.suite)
        if settings.markets is not None:
            suite = suite.head(settings.markets)
        family = (
            load_family(suite.family)
            if _is_builtin(suite.family)
            else load_family(settings.suite)
        )
    return suite, family


def _is_builtin(name: str) -> bool:
    from rayprice.market.families import builtin_names

    return name in builtin_names()


def season_length(batch: MarketBatch, horizon_days: int | None) -> int:
    """The horizon every market is evaluated over."""
    if horizon_days is not None:
        return horizon_days
    lengths = np.unique(batch.horizon_days)
    if len(lengths) > 1:
        raise SpecError(
            f"horizon_days: the suite's markets have seasons of {lengths.min()} to "
            f"{lengths.max()} days; pass --horizon to evaluate them over one length"
        )
    return int(lengths[0])


def evaluate(
    settings: EvaluationSettings,
    on_progress: Callable[[int], None] | None = None,
) -> EvaluationResult:
    """Run every pricer on every market of the suite and compute the metrics.

    Args:
        settings: what to evaluate.
        on_progress: called with a number of pricer-periods done, for progress
            bars; a default bar is shown when ``settings.progress`` is set.

    Raises:
        UnknownPricerError: a pricer name is not registered.
        SpecError: the suite or family cannot be loaded.
    """
    names = parse_pricer_list(",".join(settings.pricers))
    started = time.perf_counter()
    suite, family = resolve_suite(settings)
    horizon = season_length(suite.batch, settings.horizon_days)
    batch = suite.batch.with_horizon(horizon)
    shards = _shards(batch.n, settings.shard_size)
    total = len(names) * horizon * len(shards)

    bar = None
    if on_progress is None and settings.progress:
        from tqdm import tqdm

        bar = tqdm(
            total=total, desc=f"evaluating {suite.name}", unit="period", leave=False
        )
        on_progress = bar.update
    try:
        if settings.backend == "ray":
            parts = _run_on_ray(
                batch, suite.seeds, family, names, horizon, shards, on_progress
            )
        else:
            parts = [
                run_shard(
                    batch.take(s), suite.seeds[s], family, names, horizon, on_progress
                )
                for s in shards
            ]
    finally:
        if bar is not None:
            bar.close()

    oracle_profit = np.concatenate([p["oracle_profit"] for p in parts])
    methods = [x for p in parts for x in p["oracle_methods"]]
    runs = {}
    for name in names:
        pieces = [p["runs"][name] for p in parts]
        runs[name] = PricerRun(
            name=name,
            settings=pieces[0]["settings"],
            profit=np.concatenate([r["profit"] for r in pieces]),
            price=np.concatenate([r["price"] for r in pieces]),
            units_sold=np.concatenate([r["units_sold"] for r in pieces]),
            seconds=float(sum(r["seconds"] for r in pieces)),
        )
    checkpoints = tuple(
        sorted({t for t in settings.checkpoints if t <= horizon} | {horizon})
    )
    metrics = summarize(runs, oracle_profit, checkpoints, settings.bootstrap_seed)
    seconds = time.perf_counter() - started
    logger.info(
        "evaluated %d pricers on %d markets in %.1f s", len(names), batch.n, seconds
    )
    return EvaluationResult(
        settings=settings,
        suite=suite,
        horizon_days=horizon,
        checkpoints=checkpoints,
        oracle_profit=oracle_profit,
        oracle_methods=methods,
        runs=runs,
        metrics=metrics,
        seconds=seconds,
    )


def _shards(n: int, size: int) -> list[slice]:
    if size <= 0 or size >= n:
        return [slice(0, n)]
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def run_shard(
    batch: MarketBatch,
    seeds: np.ndarray,
    family: Family | None,
    pricers: list[str],
    horizon: int,
    on_progress: Callable[[int], None] | None = None,
    oracle: Oracle | None = None,
) -> dict[str, Any]:
    """Every pricer over the markets of one shard; plain arrays, for Ray tasks too.

    ``oracle`` is a plan already made for these markets and horizon (callers that
    score many pricers on the same markets plan once); by default one is made.

    Returns:
        ``oracle_profit`` (N, T), ``oracle_methods`` and, per pricer, its
        ``profit``, ``price``, ``units_sold`` (N, T), ``settings`` and ``seconds``.
    """
    batch = batch.with_horizon(horizon)
    if oracle is None:
        oracle = Oracle(batch, seeds)
    oracle_profit = oracle.expected_profit()[:, :horizon]
    view = MarketView.from_batch(batch)
    runs: dict[str, Any] = {}
    for name in pricers:
        pricer = make_pricer(name)
        full = pricer.full_information
        context = PricingContext(
            view=view,
            seeds=seeds,
            family=family,
            truth=batch if full else None,
            oracle=oracle if full else None,
        )
        started = time.perf_counter()
        pricer.reset(context)
        sim = MarketSimulator(batch, seeds)
        profit, price, units = (np.zeros((batch.n, horizon)) for _ in range(3))
        for t in range(horizon):
            period = sim.t.copy()
            quote = pricer.quote(MarketState.from_simulator(sim, full))
            out = sim.step(quote)
            pricer.observe(Sales.from_outcome(period, out))
            profit[:, t], price[:, t], units[:, t] = (
                out.profit,
                out.price,
                out.units_sold,
            )
            if on_progress is not None:
                on_progress(1)
        runs[name] = {
            "settings": pricer.describe(),
            "profit": profit,
            "price": price,
            "units_sold": units,
            "seconds": time.perf_counter() - started,
        }
        logger.info("%s: %d markets x %d periods", name, batch.n, horizon)
    return {
        "oracle_profit": oracle_profit,
        "oracle_methods": oracle.methods,
        "runs": runs,
    }


def _run_on_ray(
    batch: MarketBatch,
    seeds: np.ndarray,
    family: Family,
    names: list[str],
    horizon: int,
    shards: list[slice],
    on_progress: Callable[[int], None] | None,
) -> list[dict[str, Any]]:
    """One Ray task per shard on a running cluster, results in shard order."""
    try:
        import ray
    except ImportError as err:
        raise RuntimeError(
            "backend: 'ray' needs Ray installed (pip install 'ray[default]'); "
            "use backend 'local' on one machine"
        ) from err
    if not ray.is_initialized():
        ray.init(address="auto", log_to_driver=False)
    task = ray.remote(run_shard)
    pending = [
        task.remote(batch.take(s), seeds[s], family, names, horizon, None)
        for s in shards
    ]
    order = {ref: i for i, ref in enumerate(pending)}
    parts: list[dict[str, Any] | None] = [None] * len(pending)
    remaining = list(pending)
    while remaining:
        ready, remaining = ray.wait(remaining, num_returns=1)
        parts[order[ready[0]]] = ray.get(ready[0])
        if on_progress is not None:
            on_progress(len(names) * horizon)
    return [p for p in parts if p is not None]


def summarize(
    runs: dict[str, PricerRun],
    oracle_profit: np.ndarray,
    checkpoints: tuple[int, ...],
    bootstrap_seed: int = 0,
) -> dict[str, PricerMetrics]:
    """Metrics of every pricer against the oracle's expected profit."""
    ratios = {
        name: m.running_ratio(r.profit, oracle_profit) for name, r in runs.items()
    }
    out: dict[str, PricerMetrics] = {}
    for name, run in runs.items():
        ratio = ratios[name]
        regret = m.cumulative_regret(run.profit, oracle_profit)
        share = m.regret_share(run.profit, oracle_profit)
        ratio_est = [m.mean_ci(ratio[:, t] * 100) for t in range(ratio.shape[1])]
        share_est = [m.mean_ci(share[:, t] * 100) for t in range(share.shape[1])]
        per_market = m.first_reach_per_market(ratio)
        reached = np.isfinite(per_market)
        metric = PricerMetrics(
            ratio_pct={t: ratio_est[t - 1] for t in checkpoints},
            regret={t: m.mean_ci(regret[:, t - 1]) for t in checkpoints},
            regret_pct={t: share_est[t - 1] for t in checkpoints},
            periods_to_95=m.first_reach(np.array([e.mean for e in ratio_est]) / 100),
            periods_to_95_median=float(np.median(per_market[reached]))
            if reached.any()
            else None,
            reached_95_share=float(reached.mean()),
            ratio_curve=np.array([e.mean for e in ratio_est]),
            ratio_curve_ci=np.array([[e.low, e.high] for e in ratio_est]),
            regret_pct_curve=np.array([e.mean for e in share_est]),
            regret_pct_curve_ci=np.array([[e.low, e.high] for e in share_est]),
        )
        if FLAT_REFERENCE in ratios and BAYES_REFERENCE in ratios:
            metric.meta_value = {
                t: m.meta_value(
                    ratio[:, t - 1],
                    ratios[FLAT_REFERENCE][:, t - 1],
                    ratios[BAYES_REFERENCE][:, t - 1],
                    seed=bootstrap_seed,
                )
                for t in checkpoints
            }
        out[name] = metric
    return out


def environment() -> dict[str, str]:
    """Versions that produced a result."""
    import scipy

    return {
        "rayprice": rayprice.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }


def settings_dict(result: EvaluationResult) -> dict[str, Any]:
    """The exact settings of a result: suite, seeds, horizon, versions, oracle."""
    suite = result.suite
    family = load_family(suite.family) if _is_builtin(suite.family) else None
    return {
        **asdict(result.settings),
        "suite_name": suite.name,
        "family": suite.family,
        "family_version": family.version if family is not None else None,
        "suite_seed": suite.seed,
        "n_markets": suite.size,
        "market_names": list(suite.batch.names),
        "market_seeds": [int(s) for s in suite.seeds],
        "horizon_days": result.horizon_days,
        "checkpoints": list(result.checkpoints),
        "oracle_methods": dict(Counter(result.oracle_methods)),
        "oracle_method_per_market": list(result.oracle_methods),
        "oracle_is_approximate": "approx-lookahead" in result.oracle_methods,
        "versions": environment(),
        "pricer_settings": {name: run.settings for name, run in result.runs.items()},
    }
