"""The market simulator: N markets answering N prices, one period at a time.

One period of market ``i``:

1. The rivals' prices for the period are known (set from our previous price).
2. We post ``price[i]``; customers arrive (seasonal) and choose among our offer,
   the rivals and not buying; units demanded are drawn at the market's uniforms.
3. Units sold are capped by stock; profit is ``(price - unit_cost) * units_sold``
   less holding cost on what is left, plus salvage value at the season's end.
4. The reference price moves toward our price, rivals react, stock is delivered.

With ``expected=True`` the simulator walks the *expected* path instead: units
demanded are their expectation and random walks stand still. The oracle plans on
that path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rayprice.market import random as rnd
from rayprice.market.batch import MarketBatch
from rayprice.market.demand import customers, draw_units, segment_rates
from rayprice.market.rivals import next_rival_prices


@dataclass
class StepOutcome:
    """What one period produced, per market (arrays of shape (N,) unless noted)."""

    price: np.ndarray
    rival_price: np.ndarray  # (N, R), the rivals' prices during the period
    stock_before: np.ndarray
    units_demanded: np.ndarray
    expected_units: np.ndarray
    units_sold: np.ndarray
    profit: np.ndarray
    done: np.ndarray


class MarketSimulator:
    """Steps a :class:`MarketBatch` through its season.

    Args:
        batch: the markets.
        seeds: one uint64 seed per market; every random draw of market ``i``
            depends on ``seeds[i]`` and the period alone.
        expected: walk the expected path instead of drawing sales.
    """

    def __init__(
        self, batch: MarketBatch, seeds: np.ndarray, expected: bool = False
    ) -> None:
        self.expected = expected
        self.reset(batch, seeds)

    def reset(self, batch: MarketBatch, seeds: np.ndarray) -> None:
        seeds = np.asarray(seeds, dtype=np.uint64)
        if seeds.shape != (batch.n,):
            raise ValueError(
                f"seeds: need one seed per market, shape ({batch.n},), got {seeds.shape}"
            )
        self.batch = batch
        self.seeds = seeds
        self.t = np.zeros(batch.n, dtype=np.int64)
        self.stock = batch.initial_stock.astype(np.float64).copy()
        self.reference = np.ones(batch.n)
        self.rival_price = batch.rival_initial_price.copy()
        self.last_price = batch.list_price.copy()

    def reset_markets(self, mask: np.ndarray, batch: MarketBatch, seeds: np.ndarray) -> None:
        """Replace the markets where ``mask`` holds by ``batch`` (of ``mask.sum()``)."""
        idx = np.flatnonzero(mask)
        if len(idx) == self.batch.n:
            self.reset(batch, seeds)
            return
        for name, value in vars(self.batch).items():
            if isinstance(value, np.ndarray):
                value[idx] = getattr(batch, name)
        for j, i in enumerate(idx):
            self.batch.names[i] = batch.names[j]
        self.seeds[idx] = seeds
        self.t[idx] = 0
        self.stock[idx] = batch.initial_stock
        self.reference[idx] = 1.0
        self.rival_price[idx] = batch.rival_initial_price
        self.last_price[idx] = batch.list_price

    @property
    def done(self) -> np.ndarray:
        return self.t >= self.batch.horizon_days

    def step(self, price: np.ndarray) -> StepOutcome:
        """Advance every market by one period at ``price`` (currency, shape (N,))."""
        b = self.batch
        price = np.asarray(price, dtype=np.float64)
        if price.shape != (b.n,):
            raise ValueError(f"price: need shape ({b.n},), got {price.shape}")
        if not np.all(np.isfinite(price)) or np.any(price <= 0):
            bad = int(np.flatnonzero(~(np.isfinite(price) & (price > 0)))[0])
            raise ValueError(
                f"price: must be finite and positive, got {price[bad]!r} for market "
                f"{bad}"
            )
        t = self.t
        stock_before = self.stock.copy()
        rival_now = self.rival_price

        # Customers choose among our offer, the rivals and not buying.
        rates = segment_rates(b, price, rival_now, self.reference)
        n = customers(b, t)
        expected = (rates * n).sum(axis=-1)
        if self.expected:
            demanded = expected
        else:
            u = rnd.uniforms(self.seeds, rnd.DEMAND, t, b.n_segments)
            demanded = draw_units(b, rates, n, u)

        # Stock caps sales; profit counts holding cost and, at the end, salvage.
        sold = np.minimum(demanded, self.stock)
        self.stock = self.stock - sold
        left = np.where(np.isfinite(self.stock), self.stock, 0.0)
        profit = (price - b.unit_cost) * sold - b.holding_cost * left
        last = t + 1 >= b.horizon_days
        profit = profit + np.where(last, b.salvage_value * left, 0.0)

        # Memory: the reference price follows ours, rivals react, deliveries arrive.
        if b.has_reference:
            x = price / b.list_price
            self.reference = b.ref_memory * self.reference + (1 - b.ref_memory) * x
        if b.has_rivals:
            walk = None if self.expected else rnd.uniforms(self.seeds, rnd.RIVALS, t, b.n_rivals)
            self.rival_price = next_rival_prices(b, price, rival_now, walk)
        if b.has_inventory:
            due = (b.restock_every > 0) & ((t + 1) % np.maximum(b.restock_every, 1) == 0)
            self.stock = np.where(due, np.maximum(self.stock, b.restock_to), self.stock)
        self.last_price = price
        self.t = t + 1
        return StepOutcome(
            price=price,
            rival_price=rival_now,
            stock_before=stock_before,
            units_demanded=demanded,
            expected_units=expected,
            units_sold=sold,
            profit=profit,
            done=self.t >= b.horizon_days,
        )
