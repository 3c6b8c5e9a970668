"""The pricing API end to end in-process: markets, quotes, sales, auth, limits, storage."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.serve.conftest import HEADERS_A, HEADERS_B, KEY_A, MARKET


def create(client: Any, market_id: str = "shoe-1", **changes: Any) -> Any:
    response = client.put(
        f"/v1/markets/{market_id}", json={**MARKET, **changes}, headers=HEADERS_A
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def quote(client: Any, market_id: str = "shoe-1", **body: Any) -> dict[str, Any]:
    response = client.post(
        f"/v1/markets/{market_id}/quotes", json=body or None, headers=HEADERS_A
    )
    assert response.status_code == 201, response.text
    return response.json()


def sell(client: Any, quote_id: str, market_id: str = "shoe-1", **body: Any) -> Any:
    return client.post(
        f"/v1/markets/{market_id}/quotes/{quote_id}/sales", json=body, headers=HEADERS_A
    )


def test_create_quote_report_quote_again(client: Any) -> None:
    created = client.put("/v1/markets/shoe-1", json=MARKET, headers=HEADERS_A)
    assert created.status_code == 201
    assert created.json()["horizon_days"] == 100  # retail-v1's season
    assert created.json()["initial_stock"] == 200.0

    first = quote(client)
    assert first["period"] == 0 and first["stored"]
    assert 20.0 / 3 <= first["raw_price"] <= 20.0 * 3
    assert first["price"] >= MARKET["unit_cost"]
    assert first["explanation"]["summary"]

    ack = sell(client, first["quote_id"], units_sold=30, rival_prices=[19.0, 20.0])
    assert ack.status_code == 201
    assert ack.json()["periods"] == 1
    assert ack.json()["stock_after"] == 170.0

    state = client.get("/v1/markets/shoe-1", headers=HEADERS_A).json()
    assert state["periods"] == 1 and state["stock"] == 170.0
    assert state["rival_prices"] == [19.0, 20.0]
    history = client.get("/v1/markets/shoe-1/history", headers=HEADERS_A).json()
    assert history["total"] == 1
    period = history["periods"][0]
    assert period["price"] == first["price"]
    assert period["units_sold"] == 30 and period["stock_before"] == 200.0
    assert period["quote_id"] == first["quote_id"]

    second = quote(client)
    assert second["period"] == 1
    # The reported period is in the policy's window: the quote moved.
    assert second["raw_price"] != pytest.approx(first["raw_price"], abs=1e-6)


def test_a_sale_reported_twice_is_counted_once(client: Any) -> None:
    create(client)
    q = quote(client)
    first = sell(client, q["quote_id"], units_sold=12)
    again = sell(client, q["quote_id"], units_sold=12)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    different = sell(client, q["quote_id"], units_sold=13)
    assert different.status_code == 409
    assert "quote_id" in different.json()["detail"]
    state = client.get("/v1/markets/shoe-1", headers=HEADERS_A).json()
    assert state["periods"] == 1 and state["stock"] == 188.0


def test_unknown_markets_and_quotes_are_404_naming_the_field(client: Any) -> None:
    missing = client.post("/v1/markets/nope/quotes", headers=HEADERS_A)
    assert missing.status_code == 404 and "market_id" in missing.json()["detail"]
    create(client)
    unknown = sell(client, "q_" + "0" * 32, units_sold=1)
    assert unknown.status_code == 404 and "quote_id" in unknown.json()["detail"]
    malformed = sell(client, "not-a-quote", units_sold=1)
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["loc"] == ["path", "quote_id"]
    # A quote of one market cannot settle another's period.
    create(client, "shoe-2")
    q = quote(client)
    assert (
        sell(client, q["quote_id"], market_id="shoe-2", units_sold=1).status_code == 404
    )


@pytest.mark.parametrize(
    ("raw_body", "field"),
    [
        ('{"unit_cost": NaN, "list_price": 20, "market_size": 100}', "unit_cost"),
        ('{"unit_cost": 10, "list_price": Infinity, "market_size": 100}', "list_price"),
        ('{"unit_cost": 10, "list_price": 1e999, "market_size": 100}', "list_price"),
        ('{"unit_cost": -1, "list_price": 20, "market_size": 100}', "unit_cost"),
        ('{"list_price": 20, "market_size": 100}', "unit_cost"),
        ('{"unit_cost": 10, "list_price": 20, "market_size": 0}', "market_size"),
        ('{"unit_cost": 10, "list_price": 20, "market_size": 100, "stok": 5}', "stok"),
        (
            '{"unit_cost": 10, "list_price": 20, "market_size": 100, "currency": "euro"}',
            "currency",
        ),
        (
            '{"unit_cost": 10, "list_price": 20, "market_size": 100, "rival_prices": [-3]}',
            "rival_prices",
        ),
        (
            '{"unit_cost": 10, "list_price": 20, "history": [{"price": 20, "units_sold": -1}]}',
            "units_sold",
        ),
        (
            '{"unit_cost": 10, "list_price": 20, "guardrails": {"max_change": "lots"}}',
            "max_change",
        ),
        ('{"unit_cost": 10, "list_price": 20}', "market_size"),
        ('{"unit_cost": 10, "list_price": ', "body"),
        ("[1, 2, 3]", "body"),
    ],
)
def test_bad_market_bodies_get_422_naming_the_field(
    client: Any, raw_body: str, field: str
) -> None:
    response = client.put(
        "/v1/markets/m1",
        content=raw_body.encode(),
        headers={**HEADERS_A, "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(field in [str(x) for x in d["loc"]] for d in detail), detail


def test_bad_sales_get_422_and_change_nothing(client: Any) -> None:
    create(client)
    q = quote(client)
    for body, field in [
        ({"units_sold": -1}, "units_sold"),
        ({}, "units_sold"),
        ({"units_sold": 250}, "units_sold"),  # more than the 200 in stock
        ({"units_sold": 1, "rival_prices": [0]}, "rival_prices"),
    ]:
        response = sell(client, q["quote_id"], **body)
        assert response.status_code == 422, (body, response.text)
        assert field in [str(x) for x in response.json()["detail"][0]["loc"]]
    nan = client.post(
        f"/v1/markets/shoe-1/quotes/{q['quote_id']}/sales",
        content=b'{"units_sold": NaN}',
        headers={**HEADERS_A, "content-type": "application/json"},
    )
    assert nan.status_code == 422
    assert client.get("/v1/markets/shoe-1", headers=HEADERS_A).json()["periods"] == 0


def test_history_length_and_body_size_are_bounded(make_client: Any) -> None:
    client = make_client(max_body_bytes=16 * 1024)
    long = {
        **MARKET,
        "history": [{"price": 20, "units_sold": 5, "stock_before": 100}] * 1001,
    }
    response = client.put("/v1/markets/m1", json=long, headers=HEADERS_A)
    # 1001 periods are over a 16 KiB limit: the size check acts first.
    assert response.status_code == 413
    client = make_client()
    response = client.put("/v1/markets/m1", json=long, headers=HEADERS_A)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "history"]
    huge = client.put(
        "/v1/markets/m1",
        content=b" " * (300 * 1024),
        headers={**HEADERS_A, "content-type": "application/json"},
    )
    assert huge.status_code == 413


def test_every_route_but_health_needs_a_key(client: Any) -> None:
    create(client)
    assert client.get("/v1/health").status_code == 200
    assert client.get("/v1/ready").status_code == 200
    for method, path in [
        ("put", "/v1/markets/m9"),
        ("get", "/v1/markets/shoe-1"),
        ("get", "/v1/markets/shoe-1/history"),
        ("post", "/v1/markets/shoe-1/quotes"),
        ("post", f"/v1/markets/shoe-1/quotes/q_{'0' * 32}/sales"),
        ("post", "/v1/quote"),
        ("get", "/v1/metrics"),
    ]:
        for headers in ({}, {"X-API-Key": KEY_A[:-1] + "X"}, {"X-API-Key": ""}):
            response = getattr(client, method)(path, headers=headers)
            assert response.status_code == 401, (method, path, headers)
    bearer = client.get(
        "/v1/markets/shoe-1", headers={"Authorization": f"Bearer {KEY_A}"}
    )
    assert bearer.status_code == 200


def test_a_market_is_reachable_only_with_its_tenants_key(client: Any) -> None:
    create(client)
    q = quote(client)
    # Another tenant sees no market (404, as if it did not exist) and no quote.
    assert client.get("/v1/markets/shoe-1", headers=HEADERS_B).status_code == 404
    assert (
        client.post("/v1/markets/shoe-1/quotes", headers=HEADERS_B).status_code == 404
    )
    stolen = client.post(
        f"/v1/markets/shoe-1/quotes/{q['quote_id']}/sales",
        json={"units_sold": 1},
        headers=HEADERS_B,
    )
    assert stolen.status_code == 404
    # The same market id is a different market for tenant B.
    other = client.put(
        "/v1/markets/shoe-1", json={**MARKET, "list_price": 50.0}, headers=HEADERS_B
    )
    assert other.status_code == 201
    mine = client.get("/v1/markets/shoe-1", headers=HEADERS_A).json()
    assert mine["list_price"] == 20.0 and mine["last_quote_id"] == q["quote_id"]


def test_guardrails_bind_and_both_prices_are_recorded(client: Any) -> None:
    create(client, guardrails={"ceiling": 12.0, "price_ending": 0.99})
    q = quote(client)
    assert q["raw_price"] > 12.0  # the default policy prices well above cost here
    assert q["price"] == pytest.approx(11.99)
    assert q["guardrail"] == "ceiling"
    assert [a["name"] for a in q["guardrails_applied"]] == ["ceiling", "price_ending"]
    assert "ceiling" in q["explanation"]["summary"]
    margin = q["explanation"]["expected_margin"]
    assert margin == pytest.approx((11.99 - 10) / 11.99, abs=1e-5)
    history = client.get("/v1/markets/shoe-1", headers=HEADERS_A).json()
    assert history["last_price"] == pytest.approx(11.99)

    # The largest change is measured from the previous quote.
    create(client, guardrails={"max_change": 0.02})
    nxt = quote(client)
    assert abs(nxt["price"] / 11.99 - 1) <= 0.02 + 1e-9
    assert nxt["guardrail"] == "max_change"


def test_explanation_reads_elasticity_from_the_history(client: Any) -> None:
    rng = np.random.default_rng(0)
    prices = rng.uniform(15, 30, size=30)
    units = 40_000 * prices**-2.0  # constant elasticity 2
    history = [
        {"price": float(p), "units_sold": float(u)} for p, u in zip(prices, units)
    ]
    create(client, stock=None, rival_prices=[], history=history)
    q = quote(client)
    assert q["explanation"]["periods_observed"] == 30
    assert q["explanation"]["implied_elasticity"] == pytest.approx(2.0, abs=0.02)
    expected = 40_000 * q["price"] ** -2.0
    assert q["explanation"]["expected_units"] == pytest.approx(expected, rel=0.02)
    assert "elastic" in q["explanation"]["summary"]


def test_market_size_is_estimated_from_history_or_refused(client: Any) -> None:
    history = [{"price": 20.0, "units_sold": 15.0}] * 4
    body = {"unit_cost": 10.0, "list_price": 20.0, "history": history}
    out = client.put("/v1/markets/m1", json=body, headers=HEADERS_A).json()
    assert out["market_size_source"] == "estimated"
    assert out["market_size"] == pytest.approx(15.0 / 0.15)
    assert out["periods"] == 4
    # History is given once: later updates keep it and refuse a new one.
    again = client.put("/v1/markets/m1", json=body, headers=HEADERS_A)
    assert again.status_code == 409


def test_a_restarted_service_rebuilds_every_market(make_client: Any) -> None:
    client = make_client()
    create(client)
    q = quote(client)
    sell(client, q["quote_id"], units_sold=25, rival_prices=[18.0])
    before = quote(client)

    restarted = make_client()
    state = restarted.get("/v1/markets/shoe-1", headers=HEADERS_A).json()
    assert state["periods"] == 1 and state["stock"] == 175.0
    assert state["last_quote_id"] == before["quote_id"]
    after = quote(restarted)
    # Same stored history, same observation, same policy price.
    assert after["raw_price"] == pytest.approx(before["raw_price"], rel=1e-9)
    # The quote made before the restart can still be settled after it.
    assert sell(restarted, before["quote_id"], units_sold=5).status_code == 201


def test_stateless_quote_matches_a_stored_market_with_that_history(client: Any) -> None:
    history = [
        {
            "price": 20.0 + i,
            "units_sold": 30.0 - i,
            "rival_prices": [19.0],
            "stock_before": 200.0 - 30 * i,
        }
        for i in range(5)
    ]
    market = {**MARKET, "stock": 60.0, "initial_stock": 200.0, "history": history}
    stored = create(client, **{k: v for k, v in market.items() if k in market})
    assert stored["periods"] == 5
    q = quote(client)
    response = client.post("/v1/quote", json=market, headers=HEADERS_A)
    assert response.status_code == 200
    stateless = response.json()
    assert not stateless["stored"] and stateless["market_id"] is None
    assert stateless["raw_price"] == pytest.approx(q["raw_price"], rel=1e-9)
    assert stateless["period"] == 5
    # Nothing was stored for it.
    assert (
        client.get("/v1/markets/shoe-1", headers=HEADERS_A).json()["last_quote_id"]
        == q["quote_id"]
    )


def test_serving_builds_the_observation_the_pricer_builds(
    make_client: Any, policy: Any
) -> None:
    """The same history gives the same observation as rayprice.pricers.policy."""
    from rayprice.market.families import load_family
    from rayprice.market.simulator import MarketSimulator
    from rayprice.pricers.base import MarketState, MarketView, PricingContext, Sales
    from rayprice.pricers.policy import PolicyPricer
    from rayprice.serve.schemas import QuoteIn

    client = make_client()
    service = client.app.state.service
    family = load_family("retail-v1")
    seeds = np.array([11], dtype=np.uint64)
    batch = family.sample(seeds)
    sim = MarketSimulator(batch, seeds)
    pricer = PolicyPricer()
    pricer.reset(PricingContext(view=MarketView.from_batch(batch), seeds=seeds))
    history = []
    for t in range(7):
        state = MarketState.from_simulator(sim)
        price = batch.list_price * (0.8 + 0.07 * t)
        out = sim.step(price)
        pricer.observe(Sales.from_outcome(state.t, out))
        history.append(
            {
                "price": float(out.price[0]),
                "units_sold": float(out.units_sold[0]),
                "rival_prices": [float(r) for r in out.rival_price[0]],
                "stock_before": float(out.stock_before[0]),
            }
        )
    state = MarketState.from_simulator(sim)
    body = {
        "unit_cost": float(batch.unit_cost[0]),
        "list_price": float(batch.list_price[0]),
        "market_size": float(batch.market_size[0]),
        "horizon_days": int(batch.horizon_days[0]),
        "stock": float(state.stock[0]),
        "initial_stock": float(batch.initial_stock[0]),
        "rival_prices": [float(r) for r in state.rival_price[0]],
        "history": history,
    }
    assert (
        client.put("/v1/markets/sim", json=body, headers=HEADERS_A).status_code == 201
    )
    draft = service.prepare_quote("shop-a", "sim", QuoteIn())
    expected = pricer.observation(state)[0]
    np.testing.assert_allclose(draft.observation, expected, rtol=1e-6, atol=1e-6)
    assert math.isfinite(float(policy.act(draft.observation[None, :])[0]))


def test_audit_log_is_append_only_and_exports_to_parquet(
    client: Any, tmp_path: Path
) -> None:
    from rayprice.serve.storage import export_audit_parquet

    create(client)
    q = quote(client)
    sell(client, q["quote_id"], units_sold=3)
    sell(client, q["quote_id"], units_sold=3)  # a replay adds no event
    storage = client.app.state.service.storage
    out = export_audit_parquet(storage, tmp_path / "audit.parquet")
    table = pq.read_table(out).to_pylist()
    assert [row["kind"] for row in table] == ["market", "quote", "sale"]
    assert table[1]["price"] == q["price"] and table[1]["raw_price"] == q["raw_price"]
    assert table[2]["units_sold"] == 3 and table[2]["quote_id"] == q["quote_id"]
    db = sqlite3.connect(storage.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE periods SET units_sold = 0")
    db.close()


def test_metrics_count_requests_by_route(client: Any) -> None:
    create(client)
    quote(client)
    text = client.get("/v1/metrics", headers=HEADERS_A).text
    assert 'route="/v1/markets/{market_id}/quotes",status="201"} 1' in text
    assert "rayprice_request_seconds_count" in text
