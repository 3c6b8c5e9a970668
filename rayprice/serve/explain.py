"""Explanations of a quote a pricing manager can read.

What the market's history suggests about demand comes from a log-log least
squares fit of units sold on price over the stored periods: the slope is the
implied price elasticity, and the fit gives the units to expect at the quoted
price. It is a plain description of the data, not the policy's reasoning (the
policy reads the same history through its encoder); with fewer than
:data:`MIN_PERIODS` periods or too little price variation it says so instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rayprice.serve.schemas import Explanation, GuardrailAction

#: Periods needed before an elasticity is estimated.
MIN_PERIODS = 3
# Below this spread of log prices the slope is not identified.
_MIN_LOG_PRICE_SPREAD = 0.01
#: Periods fitted: the most recent ones, where demand is most like today's.
FIT_WINDOW = 60


@dataclass(frozen=True)
class DemandFit:
    """``log(units + 0.5) = intercept - elasticity * log(price)`` over the history."""

    elasticity: float
    intercept: float
    periods: int

    def units_at(self, price: float) -> float:
        log_units = self.intercept - self.elasticity * math.log(price)
        # Beyond e^700 a float overflows: such a fit says nothing useful anyway.
        if not log_units < 700.0:
            return math.inf
        return max(math.exp(log_units) - 0.5, 0.0)


def fit_demand(prices: Sequence[float], units: Sequence[float]) -> DemandFit | None:
    """The log-log fit of the last periods, or ``None`` when it is not identified."""
    p = np.asarray(prices, dtype=np.float64)[-FIT_WINDOW:]
    q = np.asarray(units, dtype=np.float64)[-FIT_WINDOW:]
    if p.size < MIN_PERIODS:
        return None
    x = np.log(p)
    if float(x.std()) < _MIN_LOG_PRICE_SPREAD:
        return None
    y = np.log(q + 0.5)
    slope, intercept = np.polyfit(x, y, 1)
    return DemandFit(
        elasticity=float(-slope), intercept=float(intercept), periods=int(p.size)
    )


def explain_quote(
    price: float,
    raw_price: float,
    unit_cost: float,
    currency: str,
    prices: Sequence[float],
    units: Sequence[float],
    actions: list[GuardrailAction],
) -> Explanation:
    """The explanation of a quote at ``price`` given the market's history.

    Args:
        price: the guarded price, currency.
        raw_price: the policy's price before guardrails.
        unit_cost: the market's unit cost.
        currency: the market's currency code.
        prices, units: the market's history, oldest first.
        actions: the guardrails that moved the price.
    """
    margin = price - unit_cost
    margin_share = margin / price
    periods = len(prices)
    fit = fit_demand(prices, units)
    parts: list[str] = []
    expected_units: float | None = None
    expected_profit: float | None = None

    # What the history says about demand.
    if fit is None:
        if periods < MIN_PERIODS:
            parts.append(
                f"{periods} period(s) of sales so far: too few to read price "
                "sensitivity; the policy prices from what markets like this "
                "usually do and learns from the sales reported."
            )
        else:
            parts.append(
                f"{periods} periods of sales at nearly one price: price "
                "sensitivity cannot be read yet."
            )
    else:
        expected_units = fit.units_at(price)
        expected_profit = margin * expected_units
        kind = (
            "price-sensitive (elastic)"
            if fit.elasticity > 1.0
            else "not very price-sensitive (inelastic)"
        )
        parts.append(
            f"The last {fit.periods} periods suggest demand is {kind}: elasticity "
            f"about {fit.elasticity:.1f}, so about {expected_units:.1f} units a "
            f"period at {price:.2f} {currency}."
        )

    # Margin.
    margin_text = (
        f"Margin {margin:.2f} {currency} a unit ({margin_share:.0%} of the price)"
    )
    if expected_profit is not None:
        margin_text += f", about {expected_profit:.2f} {currency} a period"
    parts.append(margin_text + ".")

    # Guardrails.
    if actions:
        steps = "; ".join(f"{a.name}: {a.reason}" for a in actions)
        parts.append(
            f"The policy proposed {raw_price:.2f}; guardrails acted ({steps})."
        )
    else:
        parts.append("No guardrail acted; this is the policy's price.")

    return Explanation(
        summary=" ".join(parts),
        periods_observed=periods,
        implied_elasticity=_finite(None if fit is None else fit.elasticity, 4),
        expected_units=_finite(expected_units, 4),
        margin_per_unit=round(margin, 6),
        expected_margin=round(margin_share, 6),
        expected_profit=_finite(expected_profit, 4),
    )


def _finite(value: float | None, digits: int) -> float | None:
    """``value`` rounded, or ``None`` where a fit on odd data overflowed."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)
