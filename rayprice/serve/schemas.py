"""The pricing API's request and response bodies (version 1, routes under ``/v1``).

Every number a seller sends is checked here, before any code that prices: prices
and costs must be finite and positive, units and stock finite and not negative,
lists and histories bounded. A failed check is a 422 whose ``loc`` names the
field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

API_VERSION = "v1"
#: Most past periods a request may carry (market creation, stateless quotes).
MAX_HISTORY = 1000
#: Most rival prices in one list.
MAX_RIVALS = 16
#: Most periods one history page returns.
MAX_PAGE = 1000
#: Most days in a season.
MAX_HORIZON = 3650

MARKET_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
QUOTE_ID_PATTERN = r"^q_[0-9a-f]{32}$"

MarketId = Annotated[str, StringConstraints(pattern=MARKET_ID_PATTERN)]
QuoteId = Annotated[str, StringConstraints(pattern=QUOTE_ID_PATTERN)]
#: Amounts of money and units are bounded so that every ratio the policy sees
#: (price / list price, units / market size) stays a finite float.
MIN_AMOUNT = 1e-6
MAX_AMOUNT = 1e9
Price = Annotated[float, Field(ge=MIN_AMOUNT, le=MAX_AMOUNT, allow_inf_nan=False)]
Units = Annotated[float, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
RivalPrices = Annotated[list[Price], Field(max_length=MAX_RIVALS)]


class _Body(BaseModel):
    # Unknown fields are refused, so a misspelt guardrail is an error, not ignored.
    model_config = ConfigDict(extra="forbid")


class Guardrails(_Body):
    """Limits on the price a market may be quoted.

    Attributes:
        floor: lowest price; at least the unit cost unless ``allow_below_cost``.
        ceiling: highest price.
        allow_below_cost: let the floor (or the policy) go below unit cost.
        max_change: largest change between consecutive quotes, as a fraction of
            the previous quote (0.1: at most 10% up or down).
        price_ending: the fractional part every price ends in (0.99: 19.99).
    """

    floor: Price | None = None
    ceiling: Price | None = None
    allow_below_cost: bool = False
    max_change: float | None = Field(None, gt=0, le=10, allow_inf_nan=False)
    price_ending: float | None = Field(None, ge=0, lt=1, allow_inf_nan=False)

    @model_validator(mode="after")
    def _check(self) -> Guardrails:
        if (
            self.floor is not None
            and self.ceiling is not None
            and self.floor > self.ceiling
        ):
            raise ValueError(
                "guardrails.floor: must not exceed guardrails.ceiling; lower the "
                "floor or raise the ceiling"
            )
        return self


class PastPeriod(_Body):
    """One period of history: our price and what it sold."""

    price: Price
    units_sold: Units
    rival_prices: RivalPrices = Field(default_factory=list)
    stock_before: Units | None = Field(
        None, description="Units on hand before the period; omit if unlimited."
    )


class MarketIn(_Body):
    """A market to create, or the new settings of an existing one.

    ``market_size`` is the market's traffic: customers (or visitors) per period.
    The policy sees units sold as a share of it. Without it, it is estimated from
    ``history`` as the mean units sold per period divided by the typical share
    of traffic that buys in the policy's training family; with neither, the
    request is refused.
    """

    unit_cost: Price
    list_price: Price
    currency: Currency = "USD"
    market_size: Price | None = Field(None, description="Customers per period.")
    horizon_days: int | None = Field(
        None,
        ge=1,
        le=MAX_HORIZON,
        description="Season length; default the policy family's.",
    )
    stock: Units | None = Field(None, description="Units on hand; omit if unlimited.")
    initial_stock: Price | None = Field(
        None, description="Stock at the season's start; default `stock`."
    )
    rival_prices: RivalPrices = Field(default_factory=list)
    guardrails: Guardrails = Field(default_factory=Guardrails)
    history: Annotated[list[PastPeriod], Field(max_length=MAX_HISTORY)] = Field(
        default_factory=list,
        description="Past periods, oldest first; only when the market is created.",
    )

    @model_validator(mode="after")
    def _check(self) -> MarketIn:
        if self.initial_stock is not None and self.stock is None:
            raise ValueError(
                "stock: give the units on hand now together with initial_stock"
            )
        limited = self.stock is not None
        for i, period in enumerate(self.history):
            if (period.stock_before is not None) != limited:
                raise ValueError(
                    f"history.{i}.stock_before: give it for every period when the "
                    "market has stock, and for none when stock is unlimited"
                )
        return self


class QuoteIn(_Body):
    """What has changed since the last report; all optional."""

    rival_prices: RivalPrices | None = Field(
        None, description="Rivals' prices now; default the last ones reported."
    )
    stock: Units | None = Field(
        None, description="Units on hand now; default the tracked stock."
    )


class SaleIn(_Body):
    """Sales of the period a quote priced."""

    units_sold: Units
    rival_prices: RivalPrices | None = Field(
        None, description="Rivals' prices seen during the period."
    )
    stock_after: Units | None = Field(
        None,
        description="Units on hand after the period (and any delivery); "
        "default stock before minus units sold.",
    )


class StatelessQuoteIn(MarketIn):
    """A whole market and its history in one request; nothing is stored."""


class GuardrailAction(BaseModel):
    """One guardrail that moved the price."""

    name: Literal["floor", "ceiling", "max_change", "price_ending"]
    before: float
    after: float
    reason: str


class Explanation(BaseModel):
    """Why this price, in a pricing manager's words and in numbers."""

    summary: str
    periods_observed: int
    implied_elasticity: float | None = Field(
        None, description="Price elasticity implied by the history (log-log fit)."
    )
    expected_units: float | None = Field(
        None, description="Units per period the history suggests at this price."
    )
    margin_per_unit: float
    expected_margin: float = Field(description="(price - unit cost) / price.")
    expected_profit: float | None = None


class QuoteOut(BaseModel):
    """A price for the coming period."""

    quote_id: str
    market_id: str | None
    price: float
    raw_price: float = Field(description="The policy's price before guardrails.")
    currency: str
    period: int = Field(description="Periods of history the quote saw.")
    guardrail: str | None = Field(
        None, description="The guardrail that bound the price, if any."
    )
    guardrails_applied: list[GuardrailAction]
    explanation: Explanation
    created_at: str
    stored: bool


class SaleOut(BaseModel):
    """An acknowledged sale report: durably stored when this is returned."""

    quote_id: str
    market_id: str
    period: int
    price: float
    units_sold: float
    stock_after: float | None
    periods: int = Field(description="Periods of history the market now has.")
    recorded_at: str


class MarketOut(BaseModel):
    """A market's settings and state."""

    market_id: str
    currency: str
    unit_cost: float
    list_price: float
    market_size: float
    market_size_source: Literal["given", "estimated"]
    horizon_days: int
    stock: float | None
    initial_stock: float | None
    rival_prices: list[float]
    guardrails: Guardrails
    periods: int
    last_price: float | None
    last_quote_id: str | None
    created_at: str
    updated_at: str


class PeriodOut(BaseModel):
    """One stored period of a market's history."""

    period: int
    price: float
    units_sold: float
    rival_prices: list[float]
    stock_before: float | None
    quote_id: str | None
    recorded_at: str


class HistoryOut(BaseModel):
    """A page of a market's history, oldest first."""

    market_id: str
    total: int
    offset: int
    periods: list[PeriodOut]


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    policy: str
    family: str
    window: int


class ErrorOut(BaseModel):
    """An error that is not about one field."""

    detail: str
