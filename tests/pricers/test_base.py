from __future__ import annotations

import numpy as np

from rayprice.market.batch import MarketBatch
from rayprice.market.spec import MarketSpec
from rayprice.pricers.base import myopic_best_price


def _market(intercept: float, unit_cost: float) -> MarketBatch:
    return MarketBatch.from_specs(
        [
            MarketSpec.from_dict(
                {
                    "unit_cost": unit_cost,
                    "list_price": 10.0,
                    "demand": {
                        "model": "exponential",
                        "market_size": 5,
                        "segments": [
                            {"intercept": intercept, "price_sensitivity": 8.0}
                        ],
                    },
                }
            )
        ]
    )


def test_a_market_without_demand_is_not_priced_below_cost() -> None:
    # exp(-800) underflows: every price earns exactly nothing.
    price, value = myopic_best_price(_market(-800.0, 8.0), 0)
    assert price[0] >= 8.0
    assert value[0] == 0.0


def test_when_no_allowed_price_covers_cost_the_highest_is_posted() -> None:
    price, _ = myopic_best_price(_market(1.0, 50.0), 0)
    assert price[0] == np.float64(10.0 * 3.0)


def test_an_ordinary_market_gets_its_interior_optimum() -> None:
    # Profit (p - c) exp(a - b p / L) peaks at p = c + L / b.
    price, _ = myopic_best_price(_market(1.0, 6.0), 0)
    assert abs(price[0] - (6.0 + 10.0 / 8.0)) < 0.05
