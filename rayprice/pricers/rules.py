"""Rule-based pricers: what practitioners use without learning.

- :class:`FixedPricer` posts the list price every period.
- :class:`CostPlusPricer` posts the unit cost plus a markup.
- :class:`PriorOptimalPricer` posts the one price that earns most on average over
  the family's prior, given what the seller knows about its market (list price,
  unit cost, traffic, stock). It never learns; it is the best a seller can do
  with the family's knowledge and no feedback.
"""

from __future__ import annotations

import numpy as np

from rayprice.market.demand import expected_units
from rayprice.pricers.base import (
    COARSE_GRID,
    MarketState,
    Pricer,
    PricingContext,
    candidate_prices,
    feasible,
    long_run_rate,
)
from rayprice.pricers.particles import FamilyPrior, ParticlePosterior

DEFAULT_MARKUP = 0.5
# Periods the prior-optimal price averages over (a week covers the seasonality of
# the built-in families).
_AVERAGE_DAYS = 7


class FixedPricer(Pricer):
    """The list price, every period."""

    name = "fixed"

    def reset(self, context: PricingContext) -> None:
        self.price = feasible(context.view, context.view.list_price)

    def quote(self, state: MarketState) -> np.ndarray:
        return self.price.copy()


class CostPlusPricer(Pricer):
    """Unit cost times ``1 + markup``, clipped to the allowed prices (or the menu).

    Args:
        markup: margin over unit cost, as a fraction (0.5 is 50%).
    """

    name = "cost-plus"

    def __init__(self, markup: float = DEFAULT_MARKUP) -> None:
        if markup < 0:
            raise ValueError(f"markup: must be >= 0, got {markup}")
        self.markup = markup

    def reset(self, context: PricingContext) -> None:
        view = context.view
        self.price = feasible(view, view.unit_cost * (1.0 + self.markup))

    def quote(self, state: MarketState) -> np.ndarray:
        return self.price.copy()

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "markup": self.markup}


class PriorOptimalPricer(Pricer):
    """The static price that earns most on average over the family's prior.

    The average is over ``n_particles`` markets drawn from the prior and made to
    agree with the seller's known facts, over the first week of the season, at
    the rivals' opening prices. Customers' reference prices are taken at their
    steady state under a constant price (no gain or loss), and stock caps sales
    at the rate deliveries support (a fluid limit).

    Args:
        n_particles: prior draws per market.
    """

    name = "prior-optimal"

    def __init__(self, n_particles: int = 128) -> None:
        self.n_particles = n_particles

    def reset(self, context: PricingContext) -> None:
        if context.family is None:
            raise ValueError(
                "family: the 'prior-optimal' pricer needs the family the markets "
                "come from; evaluate a suite or a family file"
            )
        self.context = context
        self.price: np.ndarray | None = None

    def quote(self, state: MarketState) -> np.ndarray:
        if self.price is None:
            self.price = self._solve(state)
        return self.price.copy()

    def _solve(self, state: MarketState) -> np.ndarray:
        context = self.context
        assert context.family is not None
        view = context.view
        cloud = ParticlePosterior(
            FamilyPrior(context.family, "true"), view, context.seeds, self.n_particles
        )
        particles, owner = cloud.batch, cloud.owner
        particles.ref_gain[:] = 0.0
        particles.ref_loss[:] = 0.0
        rival = state.rival_price[owner] if particles.has_rivals else None
        rate = long_run_rate(view)[owner][:, None]

        # Average profit per candidate over particles and the first week.
        prices = candidate_prices(view.list_price, view.grid_price, COARSE_GRID)
        mine = prices[owner]
        days = range(min(_AVERAGE_DAYS, int(view.horizon_days.min())))
        total = np.zeros_like(mine)
        for t in days:
            units = np.minimum(expected_units(particles, mine, t, rival, None), rate)
            total += (mine - particles.unit_cost[:, None]) * units
        mean = total.reshape(view.n, self.n_particles, -1).mean(axis=1)
        best = prices[np.arange(view.n), mean.argmax(axis=1)]
        return feasible(view, best)

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "n_particles": self.n_particles, "prior": "true"}
