"""The batch protocol every pricer follows, and what a pricer may see.

A pricer sets prices for N markets at once. The evaluation harness (and later the
Serve app) drives it through three calls:

1. :meth:`Pricer.reset` with a :class:`PricingContext`: the family the markets come
   from (the prior), the public facts of each market (:class:`MarketView`) and one
   seed per market for the pricer's own randomness.
2. :meth:`Pricer.quote` with a :class:`MarketState` (period, stock, the rivals'
   posted prices): returns one price per market, in currency, shape (N,).
3. :meth:`Pricer.observe` with the period's :class:`Sales` (units sold, not the
   demand behind them).

What a seller knows about its own market is public: list price, unit cost, traffic
(customers per period), the season's length, the stock policy and, for table
demand, the menu of prices. Demand parameters, customers' reference prices,
seasonality and the rivals' rules are hidden. Only pricers that declare
``full_information = True`` (the oracle, and a pricer told the true market for
tests) receive the true markets.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from rayprice.market.batch import MarketBatch
from rayprice.market.demand import expected_units
from rayprice.market.simulator import MarketSimulator, StepOutcome

if TYPE_CHECKING:
    from rayprice.market.families import Family

# Prices a pricer may post run from list / span to list * span; this matches the
# continuous action range of the gym env, so classical pricers and learned
# policies choose from the same prices.
PRICE_SPAN = 3.0
# Candidate prices per market when a price is optimised on a grid, and the finer
# grid that refines around the best one (log steps of ~4.7% then ~1%).
COARSE_GRID = 48
FINE_GRID = 9

# Spec paths a seller knows about its own market; everything else is hidden.
KNOWN_PATHS: tuple[str, ...] = (
    "list_price",
    "unit_cost",
    "horizon_days",
    "demand.market_size",
    "inventory.initial_stock",
    "inventory.restock_every_days",
    "inventory.restock_to",
    "inventory.holding_cost",
    "inventory.salvage_value",
)
_KNOWN_ARRAYS: tuple[str, ...] = (
    "list_price",
    "unit_cost",
    "horizon_days",
    "market_size",
    "initial_stock",
    "restock_every",
    "restock_to",
    "holding_cost",
    "salvage_value",
    "grid_price",
)


@dataclass(frozen=True)
class MarketView:
    """The public facts of N markets: what a seller knows about its own products.

    Attributes:
        model: the family's demand model (its name, not its parameters).
        names: market names.
        list_price: regular price per market, currency.
        unit_cost: what a unit costs, currency.
        horizon_days: season length, periods.
        market_size: customers (traffic) per period before seasonality.
        initial_stock: units on hand at the start (inf if unlimited).
        restock_every: days between deliveries (0: none).
        restock_to: order-up-to level at a delivery, units.
        holding_cost: per unit left per period, currency.
        salvage_value: per unit left at the season's end, currency.
        grid_price: the menu of prices for table demand, (N, G); G = 0 otherwise.
        n_rivals: rivals per market.
    """

    model: str
    names: list[str]
    list_price: np.ndarray
    unit_cost: np.ndarray
    horizon_days: np.ndarray
    market_size: np.ndarray
    initial_stock: np.ndarray
    restock_every: np.ndarray
    restock_to: np.ndarray
    holding_cost: np.ndarray
    salvage_value: np.ndarray
    grid_price: np.ndarray
    n_rivals: int

    @classmethod
    def from_batch(cls, batch: MarketBatch) -> MarketView:
        public = {name: getattr(batch, name).copy() for name in _KNOWN_ARRAYS}
        return cls(
            model=batch.model,
            names=list(batch.names),
            n_rivals=batch.n_rivals,
            **public,
        )

    @property
    def n(self) -> int:
        return int(self.list_price.shape[0])

    @property
    def has_menu(self) -> bool:
        """True when prices come from a fixed menu (table demand)."""
        return self.grid_price.shape[1] > 0

    @property
    def has_stock_limit(self) -> np.ndarray:
        return np.isfinite(self.initial_stock)

    def impose_on(self, batch: MarketBatch, rows: np.ndarray) -> None:
        """Write these markets' public facts into ``batch`` (row ``j`` <- market ``rows[j]``).

        Particle markets drawn from a prior are made to agree with what the
        seller knows, so that only the hidden parameters differ between them.
        """
        for name in _KNOWN_ARRAYS:
            getattr(batch, name)[:] = getattr(self, name)[rows]

    def take(self, index: np.ndarray | slice) -> MarketView:
        changes = {name: getattr(self, name)[index] for name in _KNOWN_ARRAYS}
        names = [self.names[i] for i in np.arange(self.n)[index]]
        return MarketView(
            model=self.model, names=names, n_rivals=self.n_rivals, **changes
        )


@dataclass(frozen=True)
class PricingContext:
    """Everything a pricer gets when it is reset for a batch of markets.

    Attributes:
        view: the public facts of each market.
        seeds: one uint64 seed per market; a pricer draws its own random numbers
            from them on stream :data:`rayprice.market.random.PRICER`.
        family: the family the markets were drawn from (the prior), if known.
        truth: the true markets; set only for pricers with ``full_information``.
        oracle: a ready :class:`rayprice.market.oracle.Oracle` over ``truth`` and
            ``seeds`` when the caller has one; set only with ``full_information``.
    """

    view: MarketView
    seeds: np.ndarray
    family: Family | None = None
    truth: MarketBatch | None = None
    oracle: object | None = None

    @property
    def n(self) -> int:
        return self.view.n


@dataclass(frozen=True)
class MarketState:
    """What every seller sees at the start of a period.

    Attributes:
        t: periods elapsed, (N,).
        stock: units on hand, (N,) (inf if unlimited).
        rival_price: the prices the rivals post this period, (N, R).
        last_price: our price of the period before (the list price at first), (N,).
        simulator: the simulator itself, only for full-information pricers.
    """

    t: np.ndarray
    stock: np.ndarray
    rival_price: np.ndarray
    last_price: np.ndarray
    simulator: MarketSimulator | None = None

    @classmethod
    def from_simulator(
        cls, sim: MarketSimulator, full_information: bool = False
    ) -> MarketState:
        return cls(
            t=sim.t.copy(),
            stock=sim.stock.copy(),
            rival_price=sim.rival_price.copy(),
            last_price=sim.last_price.copy(),
            simulator=sim if full_information else None,
        )


@dataclass(frozen=True)
class Sales:
    """What a seller learns after a period: its sales, never the demand behind them.

    Attributes:
        t: the period these sales happened in, (N,).
        price: our price, (N,).
        rival_price: the rivals' prices during the period, (N, R).
        stock_before: units on hand before the period, (N,).
        units_sold: units sold (demand capped by stock), (N,).
        profit: profit of the period, currency, (N,).
    """

    t: np.ndarray
    price: np.ndarray
    rival_price: np.ndarray
    stock_before: np.ndarray
    units_sold: np.ndarray
    profit: np.ndarray

    @classmethod
    def from_outcome(cls, t: np.ndarray, out: StepOutcome) -> Sales:
        return cls(
            t=t,
            price=out.price,
            rival_price=out.rival_price,
            stock_before=out.stock_before,
            units_sold=out.units_sold,
            profit=out.profit,
        )

    @property
    def sold_out(self) -> np.ndarray:
        """True where the stock ran out, so sales understate demand."""
        return np.isfinite(self.stock_before) & (self.units_sold >= self.stock_before)


class Pricer(ABC):
    """Sets prices for a batch of markets; see the module docstring for the protocol.

    Subclasses implement :meth:`reset` and :meth:`quote`; :meth:`observe` is a
    no-op for pricers that do not learn.
    """

    #: The pricer's registry name, shown in evaluation output.
    name: str = "pricer"
    #: True for pricers that read the true markets (the oracle, test helpers).
    full_information: ClassVar[bool] = False

    @abstractmethod
    def reset(self, context: PricingContext) -> None:
        """Forget everything and prepare for the markets of ``context``."""

    @abstractmethod
    def quote(self, state: MarketState) -> np.ndarray:
        """Prices for the coming period, currency, shape (N,)."""

    def observe(self, sales: Sales) -> None:  # noqa: B027 - optional hook
        """Learn from the period's sales (default: nothing)."""

    def describe(self) -> dict[str, object]:
        """Settings that identify this pricer in evaluation output."""
        return {"name": self.name}


def price_bounds(view: MarketView) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest price each market may post, currency."""
    if view.has_menu:
        return view.grid_price[:, 0], view.grid_price[:, -1]
    return view.list_price / PRICE_SPAN, view.list_price * PRICE_SPAN


def feasible(view: MarketView, price: np.ndarray) -> np.ndarray:
    """Clip prices to the allowed range, or snap them to the menu (table demand)."""
    price = np.asarray(price, dtype=np.float64)
    if view.has_menu:
        gap = np.abs(view.grid_price - price[:, None])
        return view.grid_price[np.arange(view.n), gap.argmin(axis=1)]
    low, high = price_bounds(view)
    return np.clip(price, low, high)


def candidate_prices(
    list_price: np.ndarray, grid_price: np.ndarray, n_grid: int = COARSE_GRID
) -> np.ndarray:
    """Candidate prices per market, (N, G): the menu, or a log-spaced grid."""
    if grid_price.shape[1] > 0:
        return grid_price
    steps = np.linspace(-1.0, 1.0, n_grid) * math.log(PRICE_SPAN)
    return list_price[:, None] * np.exp(steps)[None, :]


def myopic_best_price(
    batch: MarketBatch,
    t: np.ndarray | int,
    rival_price: np.ndarray | None = None,
    reference: np.ndarray | None = None,
    stock_rate: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The price that maximises this period's expected profit in each market.

    Searches a coarse log grid over the allowed prices (or the menu for table
    demand), then a fine grid around the best point.

    Args:
        batch: the markets whose demand is assumed (true or sampled).
        t: the period (seasonality).
        rival_price: the rivals' prices this period, (N, R).
        reference: the customers' reference price (scaled by list price), (N,).
        stock_rate: units that may be sold this period; demand above it earns
            nothing (a fluid stock limit). ``None``: unlimited.

    Returns:
        The best price (currency) and its expected profit (currency), each (N,).
    """

    def profit(prices: np.ndarray) -> np.ndarray:
        units = expected_units(batch, prices, t, rival_price, reference)
        if stock_rate is not None:
            units = np.minimum(units, stock_rate[:, None])
        value = (prices - batch.unit_cost[:, None]) * units
        # A price below unit cost never wins, even where every price earns nothing
        # (a sampled market with no demand), or argmax would pick the lowest price
        # and sell at a loss. Where no allowed price covers cost, the highest does.
        below = prices < batch.unit_cost[:, None]
        below[below.all(axis=1), -1] = False
        return np.where(below, -np.inf, value)

    rows = np.arange(batch.n)
    prices = candidate_prices(batch.list_price, batch.grid_price)
    value = profit(prices)
    best = value.argmax(axis=1)
    if batch.grid_price.shape[1] > 0:
        return prices[rows, best], value[rows, best]

    # Refine between the neighbours of the best coarse price.
    step = math.log(PRICE_SPAN) * 2.0 / (COARSE_GRID - 1)
    offsets = np.linspace(-step, step, FINE_GRID)
    fine = prices[rows, best][:, None] * np.exp(offsets)[None, :]
    low, high = batch.list_price / PRICE_SPAN, batch.list_price * PRICE_SPAN
    fine = np.clip(fine, low[:, None], high[:, None])
    fine_value = profit(fine)
    pick = fine_value.argmax(axis=1)
    return fine[rows, pick], fine_value[rows, pick]


def shutoff_price(view: MarketView) -> np.ndarray:
    """A price at which (next to) nobody buys: above the menu, or the highest allowed.

    Inventory-aware pricers post it for the share of periods in which their plan
    sells nothing.
    """
    if view.has_menu:
        return view.grid_price[:, -1] * 2.0
    return view.list_price * PRICE_SPAN


def long_run_rate(view: MarketView) -> np.ndarray:
    """Units per period that stock supports over the season (inf if unlimited)."""
    per_delivery = view.restock_to / np.maximum(view.restock_every, 1)
    seasonal = view.initial_stock / np.maximum(view.horizon_days, 1)
    rate = np.where(
        view.restock_every > 0, np.maximum(per_delivery, seasonal), seasonal
    )
    return np.where(view.has_stock_limit, rate, np.inf)


def inventory_rate(view: MarketView, t: np.ndarray, stock: np.ndarray) -> np.ndarray:
    """Units per period that spread ``stock`` over the days until the next delivery.

    Without a stock limit the rate is infinite. Deliveries come every
    ``restock_every`` days (after periods ``k * restock_every - 1``); with none,
    the stock must last the season.
    """
    every = view.restock_every
    horizon = view.horizon_days
    until_delivery = np.where(
        every > 0, every - (t % np.maximum(every, 1)), horizon - t
    )
    days = np.maximum(np.minimum(until_delivery, horizon - t), 1)
    return np.where(np.isfinite(stock), stock / days, np.inf)
