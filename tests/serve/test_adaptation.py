"""Adaptation through the API: sales that reveal price sensitivity move the quotes.

Markets of ``retail-v1`` (the shipped policy's family) answer each quote with
simulated sales, which are reported back through the API. The same markets with
price-sensitive customers (segment sensitivities x 1.5) and with insensitive
ones (x 0.6) start from the same first quote; after a few reported periods the
sensitive markets must be quoted lower.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rayprice.market import random as rnd
from rayprice.market.batch import MarketBatch
from rayprice.market.families import load_family
from rayprice.market.simulator import MarketSimulator
from tests.serve.conftest import HEADERS_A

MARKETS = 6
PERIODS = 12


def run_markets(
    client: Any, batch: MarketBatch, seeds: np.ndarray, tag: str
) -> np.ndarray:
    """Quote, sell in the simulator, report, for PERIODS periods; prices / list price."""
    sim = MarketSimulator(batch, seeds)
    for i in range(batch.n):
        body = {
            "unit_cost": float(batch.unit_cost[i]),
            "list_price": float(batch.list_price[i]),
            "market_size": float(batch.market_size[i]),
            "horizon_days": int(batch.horizon_days[i]),
            "stock": float(batch.initial_stock[i]),
            "rival_prices": [float(r) for r in sim.rival_price[i]],
        }
        response = client.put(f"/v1/markets/{tag}-{i}", json=body, headers=HEADERS_A)
        assert response.status_code == 201, response.text
    paths = np.zeros((PERIODS, batch.n))
    for t in range(PERIODS):
        quotes = []
        for i in range(batch.n):
            response = client.post(
                f"/v1/markets/{tag}-{i}/quotes",
                json={
                    "rival_prices": [float(r) for r in sim.rival_price[i]],
                    "stock": float(sim.stock[i]),
                },
                headers=HEADERS_A,
            )
            assert response.status_code == 201, response.text
            quotes.append(response.json())
        prices = np.array([q["price"] for q in quotes])
        paths[t] = prices / batch.list_price
        out = sim.step(prices)
        for i, q in enumerate(quotes):
            response = client.post(
                f"/v1/markets/{tag}-{i}/quotes/{q['quote_id']}/sales",
                json={
                    "units_sold": float(out.units_sold[i]),
                    "rival_prices": [float(r) for r in out.rival_price[i]],
                    "stock_after": float(sim.stock[i]),
                },
                headers=HEADERS_A,
            )
            assert response.status_code == 201, response.text
    return paths


def test_price_sensitive_markets_get_lower_quotes(client: Any) -> None:
    family = load_family("retail-v1")
    seeds = rnd.seeds_from(7, MARKETS)
    base = family.sample(seeds)
    sensitive = base.take(np.arange(MARKETS))
    sensitive.seg_slope = base.seg_slope * 1.5
    insensitive = base.take(np.arange(MARKETS))
    insensitive.seg_slope = base.seg_slope * 0.6

    high = run_markets(client, sensitive, seeds, "sensitive")
    low = run_markets(client, insensitive, seeds, "insensitive")

    # Before any sales the two versions of a market look alike to the policy.
    np.testing.assert_allclose(high[0], low[0], rtol=1e-9)
    late_high = high[-4:].mean(axis=0)
    late_low = low[-4:].mean(axis=0)
    print("quote / list price, last 4 periods, sensitive:", np.round(late_high, 3))
    print("quote / list price, last 4 periods, insensitive:", np.round(late_low, 3))
    assert late_high.mean() < late_low.mean() - 0.05
    assert (late_high < late_low).sum() >= MARKETS - 1
