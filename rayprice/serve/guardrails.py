"""Guardrails: the limits a seller puts on the policy's price.

Applied in a fixed order to the policy's raw price:

1. ``floor`` and ``ceiling``, hard limits; the floor is at least the unit cost
   unless the market allows selling below cost.
2. ``max_change``: within the hard limits, at most this fraction away from the
   previous quote (the hard limits win when both cannot hold, for example after
   the seller raised the floor).
3. ``price_ending``: the nearest price ending in the given cents that still
   keeps every limit above; when none does, the price is left as it is.

Each step that moved the price is recorded, so the raw and the guarded price and
the reason for the difference can both be shown.
"""

from __future__ import annotations

import math

from rayprice.serve.schemas import GuardrailAction, Guardrails

# Prices closer than this (in currency) count as unchanged by a guardrail.
_TOLERANCE = 1e-9


def effective_floor(guardrails: Guardrails, unit_cost: float) -> float:
    """The lowest price allowed: the floor, raised to unit cost unless allowed below."""
    floor = guardrails.floor if guardrails.floor is not None else 0.0
    if not guardrails.allow_below_cost:
        floor = max(floor, unit_cost)
    return floor


def apply_guardrails(
    raw_price: float,
    unit_cost: float,
    guardrails: Guardrails,
    previous_price: float | None,
) -> tuple[float, list[GuardrailAction]]:
    """The guarded price and the guardrails that moved it, in order.

    Args:
        raw_price: the policy's price, currency.
        unit_cost: the market's unit cost, currency.
        guardrails: the market's limits.
        previous_price: the market's previous quote (``None`` before the first).
    """
    actions: list[GuardrailAction] = []
    price = raw_price

    def move(name: str, to: float, reason: str) -> None:
        nonlocal price
        if abs(to - price) > _TOLERANCE:
            actions.append(
                GuardrailAction(name=name, before=price, after=to, reason=reason)  # type: ignore[arg-type]
            )
            price = to

    # Hard limits.
    low = effective_floor(guardrails, unit_cost)
    high = guardrails.ceiling if guardrails.ceiling is not None else math.inf
    if high < low:
        # A ceiling below unit cost: the ceiling is the seller's explicit word.
        low = high
    if price < low:
        why = (
            "the floor"
            if guardrails.floor is not None and guardrails.floor >= unit_cost
            else "unit cost"
        )
        move("floor", low, f"raised to {why} ({low:.2f})")
    if price > high:
        move("ceiling", high, f"lowered to the ceiling ({high:.2f})")

    # Largest change from the previous quote, inside the hard limits.
    if guardrails.max_change is not None and previous_price is not None:
        step = guardrails.max_change
        band_low = max(low, previous_price * (1.0 - step))
        band_high = min(high, previous_price * (1.0 + step))
        if band_low <= band_high:
            low, high = band_low, band_high
            if price < low:
                move(
                    "max_change",
                    low,
                    f"held to -{step:.0%} of the previous quote ({previous_price:.2f})",
                )
            elif price > high:
                move(
                    "max_change",
                    high,
                    f"held to +{step:.0%} of the previous quote ({previous_price:.2f})",
                )

    # Price ending, only where it keeps every limit above.
    if guardrails.price_ending is not None:
        ended = _nearest_ending(price, guardrails.price_ending, low, high)
        if ended is not None:
            move(
                "price_ending",
                ended,
                f"rounded to end in {guardrails.price_ending:.2f}",
            )
    return price, actions


def _nearest_ending(
    price: float, ending: float, low: float, high: float
) -> float | None:
    """The price nearest ``price`` whose fractional part is ``ending``, in [low, high]."""
    base = math.floor(price)
    candidates = [
        round(base + k + ending, 6)
        for k in (-1, 0, 1)
        if base + k + ending > 0 and low - 1e-9 <= base + k + ending <= high + 1e-9
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda c: abs(c - price))
