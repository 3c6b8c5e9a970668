"""The full-information oracle: the best a seller who knows the market can earn.

The oracle knows every parameter of the market (not the customers' random draws)
and plans for it. Which method it uses depends on what the market's state holds:

``exact-static``
    Demand has no memory (no reference effect, rivals that do not react) and stock
    is unlimited: each period's optimum is the price that maximises
    ``(p - c) * E[units(p)]``, found on a fine price grid refined by a parabola.

``exact-dp``
    Demand has no memory and stock is finite: dynamic programming over (stock,
    period) on a price grid, with exact demand distributions (segments convolved)
    and deliveries. Exact up to the price grid.

``approx-lookahead``
    Anything else (rivals that react to our price, reference prices, random-walk
    rivals, or too much stock for the DP). A *documented approximation*: per
    market, the best of two policy classes on the expected (fluid) path -- a
    constant price, and the myopic price with an inventory shadow price -- is
    chosen; its expected profit is then measured on simulated customers. Constant
    prices are optimal or near-optimal under loss-averse reference effects
    (Nasiry and Popescu, 2011), and the myopic class tracks seasonality and
    rivals. It is a lower bound on the true optimum, and every output labels it.

Also here: the fluid LP upper bound (:func:`fluid_bound`) and the Bertrand-Nash
and joint-monopoly prices of a logit oligopoly (:func:`bertrand_nash`,
:func:`joint_monopoly`), checked against the published values of Ferreira,
Simchi-Levi and Wang (2018) and Calvano et al. (2020) in the tests.
"""

from __future__ import annotations

import logging

import numpy as np

from rayprice.market import random as rnd
from rayprice.market.batch import MarketBatch
from rayprice.market.demand import count_pmf, customers, expected_units, segment_rates
from rayprice.market.rivals import COST_PLUS, FIXED
from rayprice.market.simulator import MarketSimulator

logger = logging.getLogger(__name__)

EXACT_STATIC = "exact-static"
EXACT_DP = "exact-dp"
APPROX = "approx-lookahead"

# Prices searched, relative to the list price, for models without a price grid.
_SEARCH_LOW, _SEARCH_HIGH, _SEARCH_POINTS = 0.2, 5.0, 241
_DP_PRICES = 64
_DP_MAX_STOCK = 150
_MYOPIC_PRICES = 48
_SHADOW_PRICES = np.array(
    [0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0, 1.5]
)
_CONSTANT_PRICES = np.exp(np.linspace(np.log(0.4), np.log(3.0), 29))
_RESOLVE_BUDGETS = np.array([1.0])
_RESOLVE_STEPS = 7
_MC_REPLICATIONS = 4


def candidate_prices(batch: MarketBatch, points: int = _SEARCH_POINTS) -> np.ndarray:
    """Prices the oracle searches, per market, shape (N, P)."""
    if batch.model == "table":
        return batch.grid_price.copy()
    ratio = np.exp(np.linspace(np.log(_SEARCH_LOW), np.log(_SEARCH_HIGH), points))
    return batch.list_price[:, None] * ratio


def static_optimum(
    batch: MarketBatch,
    t: int | np.ndarray = 0,
    rival_price: np.ndarray | None = None,
    reference: np.ndarray | None = None,
    shadow_price: np.ndarray | float = 0.0,
    points: int = _SEARCH_POINTS,
) -> np.ndarray:
    """The price maximising ``(p - c - shadow) * E[units(p)]`` in one period, (N,)."""
    grid = candidate_prices(batch, points)
    units = expected_units(batch, grid, t, rival_price, reference)
    margin = grid - (batch.unit_cost + shadow_price)[:, None]
    value = margin * units
    best = value.argmax(axis=1)
    if batch.model == "table" or points < 3:
        return grid[np.arange(batch.n), best]
    return _refine(grid, value, best)


def _refine(grid: np.ndarray, value: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Vertex of the parabola through the best grid point and its neighbours."""
    rows = np.arange(grid.shape[0])
    i = np.clip(best, 1, grid.shape[1] - 2)
    x0, x1, x2 = (
        np.log(grid[rows, i - 1]),
        np.log(grid[rows, i]),
        np.log(grid[rows, i + 1]),
    )
    y0, y1, y2 = value[rows, i - 1], value[rows, i], value[rows, i + 1]
    denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
        b = (x2**2 * (y0 - y1) + x1**2 * (y2 - y0) + x0**2 * (y1 - y2)) / denom
        vertex = -b / (2 * a)
    ok = (a < 0) & (best == i) & (vertex > x0) & (vertex < x2)
    return np.where(ok, np.exp(np.where(ok, vertex, 0.0)), grid[rows, best])


def classify(batch: MarketBatch) -> list[str]:
    """Which oracle method each market gets."""
    reacting = ~np.isin(batch.rival_rule, (FIXED, COST_PLUS))
    memory = reacting.any(axis=1) if batch.has_rivals else np.zeros(batch.n, bool)
    if batch.has_reference:
        memory |= (batch.ref_gain > 0) | (batch.ref_loss > 0)
    limited = np.isfinite(batch.initial_stock)
    biggest = np.maximum(np.where(limited, batch.initial_stock, 0), batch.restock_to)
    methods = np.where(
        memory | (limited & (biggest > _DP_MAX_STOCK)),
        APPROX,
        np.where(limited, EXACT_DP, EXACT_STATIC),
    )
    return [str(m) for m in methods]


class Oracle:
    """Plans the best pricing for each market of a batch, knowing the market.

    Args:
        batch: the markets.
        seeds: their seeds (used only to measure the approximation's expected
            profit on simulated customers; the plan itself never sees draws).
        force_method: plan every market with this method where it applies (for
            testing the approximation against the exact DP).
    """

    def __init__(
        self, batch: MarketBatch, seeds: np.ndarray, force_method: str | None = None
    ) -> None:
        self.batch = batch
        self.seeds = np.asarray(seeds, dtype=np.uint64)
        self.methods = classify(batch)
        if force_method is not None:
            self.methods = [force_method] * batch.n
        self.horizon = int(batch.horizon_days.max())
        self._static_price = np.full(batch.n, np.nan)
        self._dp_policy: dict[int, np.ndarray] = {}
        self._dp_profit: dict[int, np.ndarray] = {}
        self._approx: dict[str, np.ndarray] = {}
        self._expected: np.ndarray | None = None
        self._plan()

    @property
    def label(self) -> str:
        """``exact`` or ``approx-lookahead`` (when any market is approximated)."""
        return APPROX if APPROX in self.methods else "exact"

    def _idx(self, method: str) -> np.ndarray:
        return np.flatnonzero(np.asarray(self.methods) == method)

    def _plan(self) -> None:
        static = self._idx(EXACT_STATIC)
        if len(static):
            sub = self.batch.take(static)
            self._static_price[static] = static_optimum(
                sub, 0, sub.rival_initial_price, np.ones(sub.n)
            )
        for i in self._idx(EXACT_DP):
            policy, profit = _dynamic_program(self.batch.take([i]), self.horizon)
            self._dp_policy[int(i)] = policy
            self._dp_profit[int(i)] = profit
        approx = self._idx(APPROX)
        if len(approx):
            kind, value = _choose_approx_policy(self.batch.take(approx))
            self._approx = {"index": approx, "kind": kind, "value": value}

    def price(self, sim: MarketSimulator) -> np.ndarray:
        """The oracle's price for the simulator's current state, (N,)."""
        b = self.batch
        price = self._static_price.copy()
        for i, policy in self._dp_policy.items():
            t = min(int(sim.t[i]), policy.shape[0] - 1)
            stock = int(min(sim.stock[i], policy.shape[1] - 1))
            price[i] = policy[t, stock]
        if self._approx:
            idx = self._approx["index"]
            sub = b.take(idx)
            price[idx] = _approx_price(
                sub,
                self._approx["kind"],
                self._approx["value"],
                sim.t[idx],
                sim.rival_price[idx],
                sim.reference[idx],
                sim.stock[idx],
            )
        return price

    def expected_profit(self) -> np.ndarray:
        """Expected profit per period of the oracle's plan, shape (N, T)."""
        if self._expected is not None:
            return self._expected
        b = self.batch
        out = np.zeros((b.n, self.horizon))
        static = self._idx(EXACT_STATIC)
        if len(static):
            sub = b.take(static)
            p = self._static_price[static]
            for t in range(self.horizon):
                units = expected_units(
                    sub, p, t, sub.rival_initial_price, np.ones(sub.n)
                )
                out[static, t] = (p - sub.unit_cost) * units
        for i, profit in self._dp_profit.items():
            out[i, : len(profit)] = profit
        approx = self._idx(APPROX)
        if len(approx):
            out[approx] = self._monte_carlo(approx)
        live = np.arange(self.horizon)[None, :] < b.horizon_days[:, None]
        self._expected = np.where(live, out, 0.0)
        return self._expected

    def _monte_carlo(self, idx: np.ndarray) -> np.ndarray:
        reps = _MC_REPLICATIONS
        sub = self.batch.take(np.repeat(idx, reps))
        seeds = rnd.derive_seeds(
            np.repeat(self.seeds[idx], reps),
            rnd.PRICER,
            np.tile(np.arange(reps), len(idx)),
        )
        sim = MarketSimulator(sub, seeds)
        kind = np.repeat(self._approx["kind"], reps)
        value = np.repeat(self._approx["value"], reps)
        profit = np.zeros((sub.n, self.horizon))
        for t in range(self.horizon):
            price = _approx_price(
                sub, kind, value, sim.t, sim.rival_price, sim.reference, sim.stock
            )
            profit[:, t] = sim.step(price).profit
        return profit.reshape(len(idx), reps, self.horizon).mean(axis=1)


# Dynamic programming over (stock, period).


def _dynamic_program(
    market: MarketBatch, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal price per (period, stock) and the expected profit per period.

    ``market`` holds one market. Returns the policy (T, X+1) in currency and the
    expected profit of each period (T,) from the initial stock.
    """
    c = float(market.unit_cost[0])
    h = float(market.holding_cost[0])
    salvage = float(market.salvage_value[0])
    x_max = int(max(market.initial_stock[0], market.restock_to[0]))
    every, level = int(market.restock_every[0]), int(market.restock_to[0])
    horizon = min(horizon, int(market.horizon_days[0]))
    prices = candidate_prices(market, _DP_PRICES)[0]
    g = len(prices)
    rates = segment_rates(
        market, prices[None, :], market.rival_initial_price, np.ones(1)
    )[0]
    size = x_max + 1
    d = np.arange(size)[:, None]
    x = np.arange(size)[None, :]
    sold = np.minimum(d, x)  # (D, X) units sold from stock x at demand d
    left = x - sold

    pmf_cache: dict[float, np.ndarray] = {}

    def pmf_at(t: int) -> np.ndarray:
        n = customers(market, t)[0]
        key = float(n.sum()) if n.size == 1 else hash(n.tobytes())
        if key not in pmf_cache:
            pmf_cache[key] = count_pmf(market, rates, n[None, :], size)
        return pmf_cache[key]

    after = np.arange(size)
    if every > 0:
        after_delivery = np.maximum(after, level)
    value_next = np.zeros(size)
    policy = np.zeros((horizon, size), dtype=np.int64)
    immediate = np.zeros((horizon, g, size))
    for t in range(horizon - 1, -1, -1):
        pmf = pmf_at(t)  # (G, D)
        last = t == horizon - 1
        # Profit this period: margin on units sold, holding cost (or, at the end,
        # salvage value) on units left.
        per_left = (salvage if last else 0.0) - h
        immediate[t] = (prices - c)[:, None] * (pmf @ sold) + per_left * (pmf @ left)
        q = immediate[t]
        if not last:
            start_next = after_delivery[left] if _delivery(every, t) else left
            q = q + pmf @ value_next[start_next]
        best = q.argmax(axis=0)
        policy[t] = best
        value_next = q[best, np.arange(size)]

    # Forward: the distribution of stock under the optimal policy, period by period.
    dist = np.zeros(size)
    dist[int(market.initial_stock[0])] = 1.0
    profit = np.zeros(horizon)
    for t in range(horizon):
        best = policy[t]
        profit[t] = float(dist @ immediate[t][best, np.arange(size)])
        p_demand = pmf_at(t)[best]  # (X, D): demand pmf at each stock's chosen price
        start_next = left.T
        if _delivery(every, t):
            start_next = after_delivery[start_next]
        dist_next = np.zeros(size)
        np.add.at(
            dist_next, start_next.reshape(-1), (dist[:, None] * p_demand).reshape(-1)
        )
        dist = dist_next
    return prices[policy], profit


def _delivery(every: int, t: int) -> bool:
    """Whether stock is delivered at the end of period ``t``."""
    return every > 0 and (t + 1) % every == 0


# The approximation for markets with memory.


def _approx_price(
    batch: MarketBatch,
    kind: np.ndarray,
    value: np.ndarray,
    t: np.ndarray,
    rival_price: np.ndarray,
    reference: np.ndarray,
    stock: np.ndarray,
) -> np.ndarray:
    """Prices of the approximate policies.

    Kind 0: a constant price (``value`` x list price). Kind 1: the myopic price
    with a fixed shadow price (``value`` x list price) on each unit. Kind 2: the
    myopic price with the shadow price re-solved every period so that expected
    sales until the next delivery (or the season's end) fit ``value`` x the stock
    on hand (fluid re-solving).
    """
    constant = batch.list_price * value
    price = constant.copy()
    myopic = kind == 1
    if np.any(myopic):
        sub = batch.take(myopic)
        shadow = value[myopic] * sub.list_price
        price[myopic] = static_optimum(
            sub,
            t[myopic],
            rival_price[myopic],
            reference[myopic],
            shadow,
            _MYOPIC_PRICES,
        )
    resolve = kind == 2
    if np.any(resolve):
        price[resolve] = _resolved_price(
            batch.take(resolve),
            value[resolve],
            t[resolve],
            rival_price[resolve],
            reference[resolve],
            stock[resolve],
        )
    # With nothing left to sell, price does not matter; keep the list price.
    return np.where(stock <= 0, batch.list_price, price)


def _resolved_price(
    batch: MarketBatch,
    budget: np.ndarray,
    t: np.ndarray,
    rival_price: np.ndarray,
    reference: np.ndarray,
    stock: np.ndarray,
) -> np.ndarray:
    """Myopic price under the smallest shadow price whose expected sales fit the stock.

    Expected units fall as the shadow price rises, so the shadow price is found by
    bisection on [0, 2] list prices.
    """
    every = batch.restock_every
    days = np.where(every > 0, every - t % np.maximum(every, 1), batch.horizon_days - t)
    days = np.minimum(days, batch.horizon_days - t)
    allowed = budget * stock / np.maximum(days, 1)

    def price_and_units(shadow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = static_optimum(
            batch, t, rival_price, reference, shadow * batch.list_price, _MYOPIC_PRICES
        )
        return p, expected_units(batch, p, t, rival_price, reference)

    price, units = price_and_units(np.zeros(batch.n))
    binding = units > allowed
    if np.any(binding):
        lo, hi = np.zeros(batch.n), np.full(batch.n, 2.0)
        hi_price = price_and_units(hi)[0]
        for _ in range(_RESOLVE_STEPS):
            mid = (lo + hi) / 2
            p_mid, u_mid = price_and_units(mid)
            fits = u_mid <= allowed
            hi = np.where(fits, mid, hi)
            hi_price = np.where(fits, p_mid, hi_price)
            lo = np.where(fits, lo, mid)
        price = np.where(binding, hi_price, price)
    return price


def _choose_approx_policy(batch: MarketBatch) -> tuple[np.ndarray, np.ndarray]:
    """Per market, the best constant price or shadow price on the expected path."""
    limited = bool(np.isfinite(batch.initial_stock).any())
    budgets = _RESOLVE_BUDGETS if limited else np.zeros(0)
    kinds = np.concatenate(
        [
            np.zeros(len(_CONSTANT_PRICES)),
            np.ones(len(_SHADOW_PRICES)),
            np.full(len(budgets), 2),
        ]
    )
    values = np.concatenate([_CONSTANT_PRICES, _SHADOW_PRICES, budgets])
    c = len(values)
    rep = batch.take(np.repeat(np.arange(batch.n), c))
    kind = np.tile(kinds, batch.n).astype(np.int64)
    value = np.tile(values, batch.n)
    sim = MarketSimulator(rep, np.zeros(rep.n, dtype=np.uint64), expected=True)
    total = np.zeros(rep.n)
    for _ in range(int(batch.horizon_days.max())):
        live = ~sim.done
        price = _approx_price(
            rep, kind, value, sim.t, sim.rival_price, sim.reference, sim.stock
        )
        total += np.where(live, sim.step(price).profit, 0.0)
    best = total.reshape(batch.n, c).argmax(axis=1)
    return kinds[best].astype(np.int64), values[best]


# Upper bound and equilibria.


def fluid_bound(market: MarketBatch, points: int = _DP_PRICES) -> np.ndarray:
    """The fluid (LP) upper bound on expected profit over the season, per market.

    Maximises ``sum_t sum_p x[t, p] (p - c) d_t(p)`` subject to ``sum_p x[t, p] = 1``
    and total expected sales within the stock, over a price grid (the table's own
    grid for table demand). Markets with restocking or memory are not supported.
    """
    from scipy.optimize import linprog

    if not market.is_memoryless:
        raise NotImplementedError(
            "fluid_bound: markets with reference effects or reacting rivals have no "
            "LP bound here; use Oracle(...).expected_profit()"
        )
    if np.any(market.restock_every > 0):
        raise NotImplementedError("fluid_bound: restocking is not supported")
    out = np.zeros(market.n)
    for i in range(market.n):
        m = market.take([i])
        horizon = int(m.horizon_days[0])
        prices = candidate_prices(m, points)[0]
        demand = np.stack(
            [
                expected_units(
                    m, prices[None, :], t, m.rival_initial_price, np.ones(1)
                )[0]
                for t in range(horizon)
            ]
        )  # (T, P)
        margin = (prices - m.unit_cost[0])[None, :] * demand
        n_var = demand.size
        a_eq = np.kron(np.eye(horizon), np.ones(len(prices)))
        stock = float(m.initial_stock[0])
        a_ub = demand.reshape(1, -1) if np.isfinite(stock) else None
        b_ub = [stock] if np.isfinite(stock) else None
        # Prices may also be "off" (no sale): sum_p x <= 1 allows that.
        res = linprog(
            -margin.reshape(-1),
            A_ub=np.vstack([a_ub, a_eq]) if a_ub is not None else a_eq,
            b_ub=np.concatenate([b_ub, np.ones(horizon)])
            if b_ub is not None
            else np.ones(horizon),
            bounds=[(0, None)] * n_var,
            method="highs",
        )
        if not res.success:
            raise RuntimeError(
                f"fluid_bound: the LP failed for market {i}: {res.message}"
            )
        out[i] = -res.fun
    return out


def _logit_shares(
    price: np.ndarray, quality: np.ndarray, mu: float, a0: float
) -> np.ndarray:
    u = (quality - price) / mu
    e = np.exp(u - u.max())
    return e / (e.sum() + np.exp(a0 / mu - u.max()))


def bertrand_nash(
    quality: np.ndarray, cost: np.ndarray, mu: float, a0: float = 0.0, steps: int = 500
) -> np.ndarray:
    """Bertrand-Nash prices of a logit oligopoly (Calvano et al.'s demand)."""
    quality, cost = np.asarray(quality, float), np.asarray(cost, float)
    p = cost + mu
    for _ in range(steps):
        s = _logit_shares(p, quality, mu, a0)
        p_new = cost + mu / (1.0 - s)
        if np.max(np.abs(p_new - p)) < 1e-12:
            break
        p = p_new
    return p


def joint_monopoly(
    quality: np.ndarray, cost: np.ndarray, mu: float, a0: float = 0.0
) -> np.ndarray:
    """Prices maximising the firms' joint profit under logit demand."""
    from scipy.optimize import minimize

    quality, cost = np.asarray(quality, float), np.asarray(cost, float)

    def loss(p: np.ndarray) -> float:
        return -float(((p - cost) * _logit_shares(p, quality, mu, a0)).sum())

    res = minimize(
        loss,
        cost + 2 * mu,
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000},
    )
    return np.asarray(res.x)


def logit_profits(
    price: np.ndarray, quality: np.ndarray, cost: np.ndarray, mu: float, a0: float = 0.0
) -> np.ndarray:
    """Each firm's profit per customer."""
    price = np.asarray(price, float)
    return (price - np.asarray(cost, float)) * _logit_shares(
        price, np.asarray(quality, float), mu, a0
    )
