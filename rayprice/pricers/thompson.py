"""Thompson sampling for demand learning, myopic and inventory-aware.

Every period, each market draws one particle market from its posterior (see
:mod:`rayprice.pricers.particles`) and prices as if that draw were the truth:

- Where stock is unlimited, the draw's myopic optimum (best expected profit
  this period) is posted.
- Where stock is finite and the myopic optimum would outsell it, the price
  comes from TS-fixed / TS-update of Ferreira, Simchi-Levi and Wang (2018): the
  fluid LP ``max sum_k (p_k - c) d_k x_k`` subject to ``sum_k d_k x_k <= rate``
  and ``sum_k x_k <= 1`` with the draw's demand ``d_k`` at candidate prices
  ``p_k``; price ``k`` is posted with probability ``x_k`` (a shut-off price with
  the rest). TS-fixed's rate is the stock rate of the season's start;
  TS-update's is the stock left over the days until the next delivery (or the
  season's end).

The registry variants ``ts-flat`` (the family's priors widened: a learner that
knows little), ``ts-true-prior`` (the family's own prior: the Bayes reference,
which knows the family but not the market) and ``meta-ts``
(:class:`MetaThompsonPricer`, a prior learned from markets seen before) differ
only in the prior; all three plan stock like TS-update, so that the reference
lines are sound pricers in inventory families too. ``ts-fixed`` and
``ts-update`` are the paper's pair with its flat prior; ``ts-update`` therefore
prices exactly like ``ts-flat``.
"""

from __future__ import annotations

import logging

import numpy as np

from rayprice.market import random as rnd
from rayprice.market.batch import MarketBatch
from rayprice.market.demand import expected_units
from rayprice.market.families import Family
from rayprice.market.simulator import MarketSimulator
from rayprice.pricers.base import (
    MarketState,
    MarketView,
    Pricer,
    PricingContext,
    Sales,
    candidate_prices,
    feasible,
    inventory_rate,
    myopic_best_price,
    shutoff_price,
)
from rayprice.pricers.particles import (
    SAMPLE_STREAM,
    FamilyPrior,
    ParticlePosterior,
    ParticlePrior,
    PooledPrior,
    flat_family,
)

logger = logging.getLogger(__name__)

DEFAULT_PARTICLES = 256
# Candidate prices of the inventory LP on continuous price ranges.
LP_GRID = 24
PRIORS: tuple[str, ...] = ("flat", "true")
# Prices (in list prices) meta-ts cycles through in the markets it learns its
# prior from: varied prices identify every demand parameter, where Thompson
# sampling's prices would leave the posterior along the unidentified direction
# at the flat prior's centre and bias the learned prior.
EXPLORE_PRICES = np.array([0.6, 0.8, 1.0, 1.25, 1.5])


def _require_family(context: PricingContext, who: str) -> Family:
    if context.family is None:
        raise ValueError(
            f"family: the {who!r} pricer needs the family the markets come from; "
            "evaluate a suite or a family file rather than bare markets"
        )
    return context.family


def make_prior(family: Family, prior: str) -> FamilyPrior:
    """The ``"flat"`` or ``"true"`` particle prior of a family."""
    if prior == "true":
        return FamilyPrior(family, "true")
    if prior == "flat":
        return FamilyPrior(flat_family(family), "flat")
    raise ValueError(f"prior: unknown prior {prior!r}; choose from {', '.join(PRIORS)}")


INVENTORY_MODES: tuple[str, ...] = ("update", "fixed", "none")


class ThompsonPricer(Pricer):
    """Thompson sampling over a particle posterior, inventory-aware where stock is finite.

    Each period a particle market is drawn per market. Where the draw's myopic
    optimum would sell more than the stock allows (``inventory`` ``"update"``
    or ``"fixed"``), the price comes from the fluid LP of Ferreira, Simchi-Levi
    and Wang (2018) instead; elsewhere it is the myopic optimum itself, so with
    unlimited stock every mode is plain myopic Thompson sampling.

    Args:
        prior: ``"flat"`` or ``"true"``.
        inventory: ``"update"`` (TS-update: the LP's rate is the stock left over
            the days until the next delivery), ``"fixed"`` (TS-fixed: the rate of
            the season's start) or ``"none"`` (ignore stock).
        n_particles: particles per market.
        name: the registry name shown in outputs.
    """

    def __init__(
        self,
        prior: str = "flat",
        inventory: str = "update",
        n_particles: int = DEFAULT_PARTICLES,
        name: str = "",
    ) -> None:
        if prior not in PRIORS:
            raise ValueError(
                f"prior: unknown prior {prior!r}; choose from {', '.join(PRIORS)}"
            )
        if inventory not in INVENTORY_MODES:
            raise ValueError(
                f"inventory: unknown mode {inventory!r}; choose from "
                f"{', '.join(INVENTORY_MODES)}"
            )
        self.prior_name = prior
        self.inventory = inventory
        self.n_particles = n_particles
        self.name = name or f"ts-{prior}"
        self.posterior: ParticlePosterior | None = None

    def build_prior(self, context: PricingContext) -> ParticlePrior:
        return make_prior(_require_family(context, self.name), self.prior_name)

    def reset(self, context: PricingContext) -> None:
        view = context.view
        self.view = view
        self.sample_seeds = rnd.derive_seeds(context.seeds, rnd.PRICER, SAMPLE_STREAM)
        prior = self.build_prior(context)
        self.posterior = ParticlePosterior(prior, view, context.seeds, self.n_particles)
        start = np.zeros(view.n, dtype=np.int64)
        self.fixed_rate = inventory_rate(view, start, view.initial_stock)
        self.candidates = candidate_prices(view.list_price, view.grid_price, LP_GRID)
        self.shutoff = shutoff_price(view)

    def draw(self, state: MarketState) -> tuple[np.ndarray, np.ndarray]:
        """A particle per market from the posterior: (flat indices, a spare uniform)."""
        assert self.posterior is not None, "call reset() before quote()"
        u = rnd.uniforms(self.sample_seeds, rnd.PRICER, state.t, 2)
        return self.posterior.sample(u[:, 0]), u[:, 1]

    def quote(self, state: MarketState) -> np.ndarray:
        assert self.posterior is not None, "call reset() before quote()"
        index, u = self.draw(state)
        sampled = self.posterior.batch.take(index)
        rival = state.rival_price if sampled.has_rivals else None
        reference = self.posterior.reference[index]
        price, _ = myopic_best_price(sampled, state.t, rival, reference)
        if self.inventory == "none" or not np.any(self.view.has_stock_limit):
            return feasible(self.view, price)

        # Where the draw's myopic price would outsell the stock, plan with the LP.
        if self.inventory == "update":
            rate = inventory_rate(self.view, state.t, state.stock)
        else:
            rate = self.fixed_rate
        units = expected_units(sampled, price, state.t, rival, reference)
        binding = np.flatnonzero(units > rate)
        if len(binding):
            price[binding] = self._plan(
                sampled.take(binding),
                binding,
                state.t[binding],
                None if rival is None else rival[binding],
                reference[binding],
                rate[binding],
                u[binding],
            )
        shut = price >= self.shutoff
        return np.where(shut, price, feasible(self.view, price))

    def _plan(
        self,
        sampled: MarketBatch,
        rows: np.ndarray,
        t: np.ndarray,
        rival: np.ndarray | None,
        reference: np.ndarray,
        rate: np.ndarray,
        u: np.ndarray,
    ) -> np.ndarray:
        """Post candidate k with the LP's probability x_k; the rest shuts off."""
        candidates = self.candidates[rows]
        demand = expected_units(sampled, candidates, t, rival, reference)
        margin = candidates - sampled.unit_cost[:, None]
        share = solve_rate_lp(demand, margin * demand, rate)
        options = np.concatenate([candidates, self.shutoff[rows][:, None]], axis=1)
        pick = np.minimum(
            (np.cumsum(share, axis=1) < u[:, None]).sum(axis=1), options.shape[1] - 1
        )
        return options[np.arange(len(rows)), pick]

    def observe(self, sales: Sales) -> None:
        assert self.posterior is not None, "call reset() before observe()"
        self.posterior.update(sales)

    def describe(self) -> dict[str, object]:
        prior = self.posterior.prior.describe() if self.posterior else {}
        return {
            "name": self.name,
            "n_particles": self.n_particles,
            "inventory": self.inventory,
            **prior,
        }


def solve_rate_lp(
    demand: np.ndarray, profit: np.ndarray, rate: np.ndarray
) -> np.ndarray:
    """Solve ``max profit . x`` s.t. ``demand . x <= rate``, ``sum x <= 1``, ``x >= 0``.

    With two constraints an optimal vertex uses at most two prices, so the LP is
    solved exactly by comparing every single price that fits the rate with
    every mix of one price above and one at or below it (a shut-off option of
    zero demand and profit is added).

    Args:
        demand: expected units per candidate price, (N, G).
        profit: expected profit per candidate price, (N, G).
        rate: units the stock allows per period, (N,) (inf: unlimited).

    Returns:
        Probabilities (N, G + 1) over the candidates and, last, shutting off.
    """
    n, g = demand.shape
    d = np.concatenate([demand, np.zeros((n, 1))], axis=1)
    r = np.concatenate([profit, np.zeros((n, 1))], axis=1)
    c = rate[:, None]

    # Single prices whose demand fits the rate.
    pure = np.where(d <= c, r, -np.inf)
    best_pure = pure.argmax(axis=1)
    best_value = pure[np.arange(n), best_pure]

    # Mixes of a price i above the rate and a price j at or below it.
    di, dj = d[:, :, None], d[:, None, :]
    ri, rj = r[:, :, None], r[:, None, :]
    mix = (di > c[:, :, None]) & (dj <= c[:, :, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(mix, (c[:, :, None] - dj) / (di - dj), 0.0)
    value = np.where(mix, lam * ri + (1 - lam) * rj, -np.inf).reshape(n, -1)
    best_mix = value.argmax(axis=1)
    mix_value = value[np.arange(n), best_mix]

    share = np.zeros((n, g + 1))
    rows = np.arange(n)
    use_pure = best_value >= mix_value
    share[rows[use_pure], best_pure[use_pure]] = 1.0
    i, j = np.divmod(best_mix, g + 1)
    lam_best = lam.reshape(n, -1)[rows, best_mix]
    mixed = rows[~use_pure]
    share[mixed, i[~use_pure]] += lam_best[~use_pure]
    share[mixed, j[~use_pure]] += 1.0 - lam_best[~use_pure]
    return share


class MetaThompsonPricer(ThompsonPricer):
    """Thompson sampling with a prior learned from markets seen before.

    After Bastani, Simchi-Levi and Zhu (2022), "Meta Dynamic Pricing": before
    the evaluated markets, the pricer has sold in ``n_past`` earlier markets of
    the family at varied prices (:data:`EXPLORE_PRICES`, or the menu), keeps
    each one's flat-prior posterior mean, and prices the new markets with a
    prior fitted to those means (a Gaussian kernel density with Silverman's
    bandwidth, plus a share of the flat prior against surprises). The earlier
    markets are drawn with ``seed``, never from the markets under evaluation.

    Args:
        n_past: earlier markets to learn the prior from.
        seed: seed of the earlier markets.
        n_particles: particles per market.
        name: the registry name shown in outputs.
    """

    def __init__(
        self,
        n_past: int = 100,
        seed: int = 7,
        n_particles: int = DEFAULT_PARTICLES,
        name: str = "meta-ts",
    ) -> None:
        super().__init__("flat", "update", n_particles, name)
        self.n_past = n_past
        self.seed = seed

    def build_prior(self, context: PricingContext) -> ParticlePrior:
        family = _require_family(context, self.name)
        horizon = int(context.view.horizon_days.max())
        return learned_prior(family, horizon, self.n_past, self.seed, self.n_particles)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "n_past": self.n_past, "past_seed": self.seed}


_LEARNED: dict[tuple[str, str, int, int, int, int], PooledPrior] = {}


def learned_prior(
    family: Family, horizon: int, n_past: int, seed: int, n_particles: int
) -> PooledPrior:
    """The meta-learned prior of a family: cached, as it is a pure function of its inputs."""
    key = (
        family.name,
        family.spec.model_dump_json(),
        horizon,
        n_past,
        seed,
        n_particles,
    )
    if key in _LEARNED:
        return _LEARNED[key]
    if n_past < 2:
        raise ValueError(
            f"n_past: meta-ts needs at least 2 earlier markets, got {n_past}"
        )

    # Sell in the earlier markets on an exploratory design, learning a flat posterior.
    seeds = rnd.seeds_from(seed, n_past, stream=rnd.PRICER)
    past = family.sample(seeds).with_horizon(horizon)
    view = MarketView.from_batch(past)
    base = make_prior(family, "flat")
    posterior = ParticlePosterior(base, view, seeds, n_particles)
    sim = MarketSimulator(past, seeds)
    menu = (
        view.grid_price if view.has_menu else view.list_price[:, None] * EXPLORE_PRICES
    )
    for day in range(horizon):
        t = sim.t.copy()
        price = feasible(view, menu[:, day % menu.shape[1]])
        posterior.update(Sales.from_outcome(t, sim.step(price)))

    # A kernel density over the earlier markets' posterior means.
    pool = posterior.parameter_matrix()
    spread = pool.std(axis=0)
    bandwidth = np.maximum(
        1.06 * spread * n_past ** (-1 / 5), 1e-3 * (1 + np.abs(pool).mean(axis=0))
    )
    prior = PooledPrior(base, pool, bandwidth)
    logger.info(
        "meta-ts learned a prior for %s from %d earlier markets over %d periods",
        family.name,
        n_past,
        horizon,
    )
    _LEARNED[key] = prior
    return prior


__all__ = [
    "MetaThompsonPricer",
    "ThompsonPricer",
    "learned_prior",
    "make_prior",
    "solve_rate_lp",
]
