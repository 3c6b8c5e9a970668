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

from rayprice.market import kernels
from rayprice.market import random as rnd
from rayprice.market.batch import MarketBatch
from rayprice.market.demand import (
    draw_counts,
    is_binomial,
    reference_term,
    season_factor,
    segment_rates,
    sum_like_last_axis,
)
from rayprice.market.rivals import RivalRules


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
        self._plan = _StepPlan(batch, seeds)

    def reset_markets(
        self, mask: np.ndarray, batch: MarketBatch, seeds: np.ndarray
    ) -> None:
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
        self._plan = _StepPlan(self.batch, self.seeds)

    @property
    def done(self) -> np.ndarray:
        return self.t >= self.batch.horizon_days

    def step(self, price: np.ndarray) -> StepOutcome:
        """Advance every market by one period at ``price`` (currency, shape (N,))."""
        b, plan = self.batch, self._plan
        price = np.asarray(price, dtype=np.float64)
        if price.shape != (b.n,):
            raise ValueError(f"price: need shape ({b.n},), got {price.shape}")
        # NaN fails both comparisons, so min and max check every price at once.
        if b.n and not (price.min() > 0 and price.max() < np.inf):
            bad = int(np.flatnonzero(~(np.isfinite(price) & (price > 0)))[0])
            raise ValueError(
                f"price: must be finite and positive, got {price[bad]!r} for market "
                f"{bad}"
            )
        t = self.t
        stock_before = self.stock.copy()
        rival_now = self.rival_price
        # The simulator works with markets on the last axis: (K, N), (R, N).
        rival_t = np.ascontiguousarray(rival_now.T)
        x = price / b.list_price

        # Customers choose among our offer, the rivals and not buying.
        rates = plan.rates(price, x, rival_now, rival_t, self.reference)
        n = plan.customers(t)
        expected = sum_like_last_axis(rates * n, axis=0)
        walk_u = None
        if self.expected:
            demanded = expected
        else:
            u, walk_u = plan.uniforms(t)
            demanded = draw_counts(b, rates, n, u).sum(axis=0)

        # Stock caps sales; profit counts holding cost and, at the end, salvage.
        sold = np.minimum(demanded, self.stock)
        self.stock = self.stock - sold
        left = np.where(np.isfinite(self.stock), self.stock, 0.0)
        profit = (price - b.unit_cost) * sold - b.holding_cost * left
        t_next = t + 1
        last = t_next >= b.horizon_days
        profit = profit + np.where(last, b.salvage_value * left, 0.0)

        # Memory: the reference price follows ours, rivals react, deliveries arrive.
        if b.has_reference:
            self.reference = b.ref_memory * self.reference + plan.ref_weight * x
        if b.has_rivals:
            # Kept as a (N, R) view of the (R, N) array, so the next step reads it
            # without a copy.
            self.rival_price = plan.rivals.next_prices(price, rival_t, walk_u).T
        if b.has_inventory:
            due = plan.restocks & (t_next % plan.restock_every == 0)
            self.stock = np.where(due, np.maximum(self.stock, b.restock_to), self.stock)
        self.last_price = price
        self.t = t_next
        return StepOutcome(
            price=price,
            rival_price=rival_now,
            stock_before=stock_before,
            units_demanded=demanded,
            expected_units=expected,
            units_sold=sold,
            profit=profit,
            done=t_next >= b.horizon_days,
        )


class _StepPlan:
    """What a batch's step needs that stays fixed between resets, computed once.

    Arrays put the markets on the last axis, (K, N) and (R, N), so that sums and
    maxima over the few segments and rivals run a whole row at a time.
    """

    def __init__(self, batch: MarketBatch, seeds: np.ndarray) -> None:
        self.batch = batch
        self.intercept = np.ascontiguousarray(batch.seg_intercept.T)
        self.slope = np.ascontiguousarray(batch.seg_slope.T)
        self.weight = batch.seg_weight.T
        self.rival_quality = np.ascontiguousarray(batch.rival_quality.T)
        self.mnl_rivals = batch.model == "mnl" and batch.has_rivals
        self.binomial = is_binomial(batch)
        self.ref_weight = 1 - batch.ref_memory
        self.restocks = batch.restock_every > 0
        self.restock_every = np.maximum(batch.restock_every, 1)
        self.rivals = RivalRules(batch)
        # Without seasonality every period has the same customers.
        self.fixed_customers = None
        if not batch.has_seasonality:
            self.fixed_customers = self._customers_of(batch.market_size)

        # One draw for the whole period: the demand uniforms, (K, N), then the
        # random walkers' (at rivals.walk_at), each at its stream, width and lane.
        n, k, r = batch.n, batch.n_segments, batch.n_rivals
        walk_rival, walk_market = np.divmod(self.rivals.walk_at, n)
        self._market = np.concatenate([np.tile(np.arange(n), k), walk_market])
        self._keys = np.concatenate(
            [
                np.tile(rnd.stream_keys(seeds, rnd.DEMAND), k),
                rnd.stream_keys(seeds, rnd.RIVALS)[walk_market],
            ]
        )
        self._width = np.concatenate(
            [np.full(k * n, k, np.uint64), np.full(len(walk_market), r, np.uint64)]
        )
        self._lane = np.concatenate(
            [np.repeat(np.arange(k, dtype=np.uint64), n), walk_rival.astype(np.uint64)]
        )

    def rates(
        self,
        price: np.ndarray,
        x: np.ndarray,
        rival_price: np.ndarray,
        rival_t: np.ndarray,
        reference: np.ndarray,
    ) -> np.ndarray:
        """Per-segment rates as :func:`segment_rates` gives them, but (K, N)."""
        b = self.batch
        if not self.mnl_rivals:
            return segment_rates(b, price, rival_price, reference).T
        return kernels.mnl_share(
            self.intercept,
            self.slope,
            x,
            reference_term(b, x, reference),
            self.rival_quality,
            rival_t,
            b.list_price,
        )

    def customers(self, t: np.ndarray) -> np.ndarray:
        """Customers per segment in period ``t``, as :func:`customers` but (K, N)."""
        if self.fixed_customers is not None:
            return self.fixed_customers
        return self._customers_of(self.batch.market_size * season_factor(self.batch, t))

    def _customers_of(self, size: np.ndarray) -> np.ndarray:
        per_segment = size * self.weight
        return np.floor(per_segment + 0.5) if self.binomial else per_segment

    def uniforms(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """This period's demand uniforms (K, N) and random-walk uniforms."""
        counter = t.astype(np.uint64)[self._market]
        u = rnd.uniforms_at(self._keys, counter, self._width, self._lane)
        k, n = self.weight.shape
        return u[: k * n].reshape(k, n), u[k * n :]
