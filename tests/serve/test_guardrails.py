"""Guardrails on the policy's price: floor, ceiling, largest change, price endings."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from rayprice.serve.guardrails import apply_guardrails
from rayprice.serve.schemas import Guardrails


def test_no_guardrail_keeps_the_policy_price_above_cost() -> None:
    price, actions = apply_guardrails(23.4, 10.0, Guardrails(), None)
    assert price == 23.4
    assert actions == []


def test_price_below_unit_cost_is_raised_to_cost_unless_allowed() -> None:
    price, actions = apply_guardrails(8.0, 10.0, Guardrails(), None)
    assert price == 10.0
    assert [a.name for a in actions] == ["floor"]
    assert actions[0].before == 8.0

    allowed, actions = apply_guardrails(
        8.0, 10.0, Guardrails(allow_below_cost=True), None
    )
    assert allowed == 8.0 and actions == []
    floored, _ = apply_guardrails(
        8.0, 10.0, Guardrails(allow_below_cost=True, floor=9.0), None
    )
    assert floored == 9.0


def test_ceiling_and_floor_bind() -> None:
    rails = Guardrails(floor=15.0, ceiling=30.0)
    assert apply_guardrails(40.0, 10.0, rails, None)[0] == 30.0
    assert apply_guardrails(12.0, 10.0, rails, None)[0] == 15.0
    assert apply_guardrails(20.0, 10.0, rails, None)[0] == 20.0


def test_max_change_holds_the_step_from_the_previous_quote() -> None:
    rails = Guardrails(max_change=0.1)
    up, actions = apply_guardrails(30.0, 10.0, rails, previous_price=20.0)
    assert up == pytest.approx(22.0)
    assert actions[0].name == "max_change"
    down, _ = apply_guardrails(12.0, 10.0, rails, previous_price=20.0)
    assert down == pytest.approx(18.0)
    first, actions = apply_guardrails(30.0, 10.0, rails, previous_price=None)
    assert first == 30.0 and actions == []


def test_hard_limits_win_over_max_change() -> None:
    # The seller raised the floor far above the last quote: the floor holds.
    rails = Guardrails(floor=30.0, max_change=0.05)
    price, _ = apply_guardrails(25.0, 10.0, rails, previous_price=20.0)
    assert price == 30.0


def test_price_ending_rounds_to_the_nearest_allowed_ending() -> None:
    rails = Guardrails(price_ending=0.99)
    assert apply_guardrails(23.4, 10.0, rails, None)[0] == pytest.approx(22.99)
    assert apply_guardrails(23.6, 10.0, rails, None)[0] == pytest.approx(23.99)
    # 10.99 would be the nearest from 10.2, 9.99 is below cost.
    assert apply_guardrails(10.2, 10.0, rails, None)[0] == pytest.approx(10.99)
    whole = Guardrails(price_ending=0.0)
    assert apply_guardrails(23.4, 10.0, whole, None)[0] == pytest.approx(23.0)


def test_floor_above_ceiling_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="guardrails.floor"):
        Guardrails(floor=30.0, ceiling=20.0)


@settings(max_examples=300, deadline=None)
@given(
    raw=st.floats(0.01, 1000.0),
    cost=st.floats(0.01, 100.0),
    floor=st.none() | st.floats(0.01, 500.0),
    width=st.none() | st.floats(0.0, 500.0),
    step=st.none() | st.floats(0.01, 1.0),
    previous=st.none() | st.floats(0.01, 1000.0),
    ending=st.none() | st.sampled_from([0.0, 0.49, 0.95, 0.99]),
)
def test_guarded_price_keeps_every_hard_limit(
    raw: float,
    cost: float,
    floor: float | None,
    width: float | None,
    step: float | None,
    previous: float | None,
    ending: float | None,
) -> None:
    ceiling = None if width is None else (floor or cost) + width
    rails = Guardrails(
        floor=floor, ceiling=ceiling, max_change=step, price_ending=ending
    )
    price, actions = apply_guardrails(raw, cost, rails, previous)
    low = max(cost, floor or 0.0)
    high = ceiling if ceiling is not None else float("inf")
    if high >= low:
        assert low - 1e-6 <= price <= high + 1e-6
    # Each recorded step starts where the last one ended.
    at = raw
    for action in actions:
        assert action.before == pytest.approx(at)
        at = action.after
    assert at == pytest.approx(price)
