"""Greedy iterated least squares: fit demand on what was seen, price at its optimum.

The pricer regresses units sold per customer on price (in list prices) by
ordinary least squares over every period so far, and posts the profit-maximising
price of the fitted linear demand ``units = traffic * (alpha + beta * x)``:
``x* = (alpha / -beta + unit_cost / list_price) / 2``. It never explores on
purpose; the first two prices (the list price and 10% above it) only make the
first fit possible. This is the certainty-equivalent pricing that den Boer and
Zwart (2014) show can stop learning at a wrong price ("incomplete learning").
Rivals, seasonality and stock-outs are ignored, as a plain regression would.
"""

from __future__ import annotations

import numpy as np

from rayprice.pricers.base import MarketState, Pricer, PricingContext, Sales, feasible

# Opening prices, in list prices, before the first fit.
OPENING = (1.0, 1.1)


class GreedyLeastSquaresPricer(Pricer):
    """Greedy (certainty-equivalent) pricing on a linear least-squares fit."""

    name = "greedy"

    def reset(self, context: PricingContext) -> None:
        self.view = context.view
        n = context.n
        self.count = np.zeros(n)
        self.sx = np.zeros(n)
        self.sy = np.zeros(n)
        self.sxx = np.zeros(n)
        self.sxy = np.zeros(n)
        self.last = feasible(self.view, self.view.list_price)

    def quote(self, state: MarketState) -> np.ndarray:
        view = self.view
        t = state.t

        # Least squares on units per customer against price in list prices.
        spread = self.count * self.sxx - self.sx**2
        with np.errstate(divide="ignore", invalid="ignore"):
            beta = (self.count * self.sxy - self.sx * self.sy) / spread
            alpha = (self.sy - beta * self.sx) / self.count
            best_x = 0.5 * (alpha / -beta + view.unit_cost / view.list_price)
        usable = (spread > 1e-12) & (beta < 0) & np.isfinite(best_x)
        price = np.where(usable, best_x * view.list_price, self.last)
        opening = t < len(OPENING)
        price = np.where(
            opening,
            view.list_price * np.asarray(OPENING)[np.minimum(t, len(OPENING) - 1)],
            price,
        )
        self.last = feasible(view, price)
        return self.last.copy()

    def observe(self, sales: Sales) -> None:
        x = sales.price / self.view.list_price
        y = sales.units_sold / self.view.market_size
        self.count += 1
        self.sx += x
        self.sy += y
        self.sxx += x * x
        self.sxy += x * y
