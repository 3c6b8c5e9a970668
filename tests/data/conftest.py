"""Synthetic transaction logs simulated from known markets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from rayprice.data.logs import Logs
from rayprice.market import MarketBatch, MarketSimulator, MarketSpec
from rayprice.market.random import seeds_from


@dataclass
class SimulatedLogs:
    """Logs and the markets that made them."""

    logs: Logs
    specs: list[MarketSpec]
    product_id: list[str]


def simulate_logs(
    intercept: np.ndarray,
    sensitivity: np.ndarray,
    list_price: np.ndarray,
    market_size: np.ndarray,
    unit_cost: np.ndarray,
    days: int,
    price_range: np.ndarray,
    seed: int,
    model: str = "exponential",
) -> SimulatedLogs:
    """One log row per product and day, prices drawn uniformly around the list price.

    ``price_range[i]`` is the half-width of product ``i``'s prices, as a share of
    its list price (0: the price never moves).
    """
    n = len(intercept)
    specs = [
        MarketSpec.from_dict(
            {
                "name": f"p{i:03d}",
                "list_price": float(list_price[i]),
                "unit_cost": float(unit_cost[i]),
                "horizon_days": days,
                "demand": {
                    "model": model,
                    "market_size": float(market_size[i]),
                    "segments": [
                        {
                            "intercept": float(intercept[i]),
                            "price_sensitivity": float(sensitivity[i]),
                        }
                    ],
                },
            }
        )
        for i in range(n)
    ]
    sim = MarketSimulator(MarketBatch.from_specs(specs), seeds_from(seed, n))
    rng = np.random.default_rng(seed)
    prices, units = [], []
    for _ in range(days):
        price = list_price * (1 + price_range * rng.uniform(-1, 1, n))
        prices.append(price)
        units.append(sim.step(price).units_sold)
    price_arr, unit_arr = np.array(prices).T, np.array(units).T
    ids = [spec.name for spec in specs]
    logs = Logs(
        source="simulated",
        columns={},
        rows_read=n * days,
        product_id=np.repeat(np.array(ids, dtype=object), days),
        day=np.tile(np.arange(11_000, 11_000 + days), n),
        units=unit_arr.ravel(),
        unit_price=price_arr.ravel(),
        unit_cost=np.repeat(unit_cost, days),
    )
    return SimulatedLogs(logs, specs, ids)


@pytest.fixture
def simulate():
    """:func:`simulate_logs`, for tests."""
    return simulate_logs


@pytest.fixture(scope="module")
def simulate_module():
    """:func:`simulate_logs`, for module-scoped fixtures."""
    return simulate_logs
