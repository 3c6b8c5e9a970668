from __future__ import annotations

import json

import pytest

from rayprice.market.families import load_family
from rayprice.market.spec import MarketSpec, SpecError


def test_spec_round_trips_through_json() -> None:
    base = load_family("retail-v1").spec.base
    assert base is not None
    again = MarketSpec.from_json(base.to_json())
    assert again == base
    assert json.loads(again.to_json()) == base.to_dict()


def test_every_drawn_market_round_trips() -> None:
    suite = load_family("duopoly-v1").draw_suite(5, seed=3)
    for i in range(suite.size):
        spec = suite.batch.spec(i)
        assert MarketSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"unit_cost": -1}, "market.unit_cost"),
        ({"list_price": 0}, "market.list_price"),
        ({"demand": {"model": "probit"}}, "market.demand.model"),
        (
            {"demand": {"segments": [{"price_sensitivity": -2}]}},
            "market.demand.segments.0.price_sensitivity",
        ),
        ({"colour": "red"}, "market.colour"),
        ({"rivals": [{"rule": "fixed"}]}, "rivals"),
        (
            {
                "demand": {
                    "model": "mnl",
                    "segments": [{"weight": 0.5}, {"weight": 0.2}],
                }
            },
            "weights must sum to 1",
        ),
        (
            {
                "demand": {
                    "model": "table",
                    "price_grid": [2, 1],
                    "purchase_prob": [0.5, 0.4],
                }
            },
            "price_grid",
        ),
        ({"inventory": {"initial_stock": 5, "restock_every_days": 7}}, "restock_to"),
        ({"list_price": float("nan")}, "market.list_price"),
    ],
)
def test_invalid_spec_names_the_field(data: dict, field: str) -> None:
    with pytest.raises(SpecError) as err:
        MarketSpec.from_dict(data)
    assert field in str(err.value)


def test_malformed_json_names_the_place() -> None:
    with pytest.raises(SpecError, match="not valid JSON"):
        MarketSpec.from_json("{unit_cost: 1")
