"""What a market is: a typed, validated description that round-trips through JSON.

A :class:`MarketSpec` describes one product sold by us over a finite season: what a
unit costs, its list price, how customers choose (the demand model), which rivals
sell beside us and how they set their prices, how a reference price shapes
demand, seasonality, and stock.

Prices enter demand *scaled by the list price*: a segment's utility of buying at
price ``p`` is ``intercept - price_sensitivity * p / list_price``. One set of demand
parameters therefore describes a 5-unit and a 700-unit product alike.

Demand models (``demand.model``), with ``x = p / list_price`` and ``u`` the utility
index ``intercept - price_sensitivity * x`` plus the reference-price term:

- ``linear``: Poisson units with mean ``market_size * max(u, 0)``.
- ``logit``: each of ``market_size`` customers buys with probability
  ``exp(u) / (1 + exp(u))`` (an outside option of utility 0): Binomial units.
- ``exponential``: Poisson units with mean ``market_size * exp(u)``.
- ``constant_elasticity``: Poisson units with mean
  ``market_size * exp(intercept) * x ** -price_sensitivity`` (the elasticity is
  ``price_sensitivity``; reference effects shift the intercept).
- ``mnl``: segmented multinomial logit; customers of segment ``k`` choose among
  our offer, every rival ``j`` (utility ``rival.quality - slope_k * p_j /
  list_price``) and not buying. Binomial units per segment.
- ``table``: a purchase probability per price on a grid (``price_grid``,
  ``purchase_prob``), linear in between, zero above the grid; Binomial units.

Only ``mnl`` uses several segments and rivals; every other model has one segment.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DemandModel = Literal[
    "linear", "logit", "exponential", "constant_elasticity", "mnl", "table"
]
DEMAND_MODELS: tuple[str, ...] = get_args(DemandModel)
RivalRule = Literal[
    "fixed", "undercut", "match", "random_walk", "cost_plus", "best_response"
]
# Rival rules are stored as indices into this tuple (see batch.py): append only.
RIVAL_RULES: tuple[str, ...] = get_args(RivalRule)


class SpecError(ValueError):
    """A market, family or suite description is invalid.

    The message names every offending field by its dotted path and says how to
    fix it.
    """


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Segment(_Strict):
    """A group of customers who value the product alike."""

    name: str = "all"
    weight: float = Field(1.0, gt=0, le=1, description="Share of the customers.")
    intercept: float = Field(
        1.0, description="Utility of our offer at price zero (before scaling)."
    )
    price_sensitivity: float = Field(
        2.0, gt=0, description="Utility lost per list price of price."
    )


class DemandSpec(_Strict):
    """How customers turn our price (and the rivals') into units sold."""

    model: DemandModel = "logit"
    market_size: float = Field(
        100.0,
        gt=0,
        description="Customers per period (Binomial models) or the scale of the "
        "Poisson mean (linear, exponential, constant_elasticity).",
    )
    segments: tuple[Segment, ...] = (Segment(),)
    price_grid: tuple[float, ...] | None = Field(
        None, description="Prices of the `table` model, increasing."
    )
    purchase_prob: tuple[float, ...] | None = Field(
        None, description="Purchase probability at each price of `price_grid`."
    )

    @model_validator(mode="after")
    def _check(self) -> DemandSpec:
        if self.model != "mnl" and len(self.segments) != 1:
            raise ValueError(
                f"segments: the {self.model!r} model takes exactly one segment, "
                f"got {len(self.segments)}; use model 'mnl' for several"
            )
        if self.model == "mnl":
            total = sum(s.weight for s in self.segments)
            if abs(total - 1.0) > 1e-6:
                raise ValueError(
                    f"segments: weights must sum to 1, they sum to {total:.6g}"
                )
        if self.model == "table":
            if self.price_grid is None or self.purchase_prob is None:
                raise ValueError(
                    "price_grid: the 'table' model needs price_grid and "
                    "purchase_prob of equal length"
                )
            if len(self.price_grid) != len(self.purchase_prob):
                raise ValueError(
                    f"purchase_prob: {len(self.purchase_prob)} values for "
                    f"{len(self.price_grid)} prices in price_grid; give one each"
                )
            if len(self.price_grid) < 2 or any(
                b <= a for a, b in zip(self.price_grid, self.price_grid[1:])
            ):
                raise ValueError(
                    "price_grid: give at least two strictly increasing prices"
                )
            if any(p <= 0 for p in self.price_grid):
                raise ValueError("price_grid: prices must be positive")
            if any(not 0 <= q <= 1 for q in self.purchase_prob):
                raise ValueError("purchase_prob: probabilities must lie in [0, 1]")
        elif self.price_grid is not None or self.purchase_prob is not None:
            raise ValueError(
                "price_grid: only the 'table' model takes price_grid/purchase_prob"
            )
        return self


class RivalSpec(_Strict):
    """A rival seller and the rule it prices by.

    Rules, applied at the start of each period from our previous price ``p``:
    ``fixed`` keeps ``initial_price``; ``undercut`` prices at ``p * (1 -
    undercut)``; ``match`` prices at ``p``; ``random_walk`` multiplies its own
    price by ``exp(volatility * z)``; ``cost_plus`` prices at ``unit_cost * (1 +
    markup)``; ``best_response`` maximises its own expected profit against ``p``.
    Every rule except ``fixed`` and ``random_walk`` never prices below its unit
    cost.
    """

    name: str = "rival"
    rule: RivalRule = "fixed"
    unit_cost: float = Field(0.5, ge=0)
    quality: float = Field(
        1.0, description="Utility of the rival's offer at price zero."
    )
    initial_price: float = Field(1.0, gt=0)
    undercut: float = Field(0.05, ge=0, lt=1)
    markup: float = Field(0.3, ge=0)
    volatility: float = Field(0.05, ge=0, le=1)


class ReferenceSpec(_Strict):
    """Reference-price (promotion) effects.

    Customers remember a reference price ``r`` (scaled by the list price, starting
    at 1) that follows our prices: ``r <- memory * r + (1 - memory) * x``. Buying
    below it feels like a gain, above it like a loss: the utility index gains
    ``gain * max(r - x, 0) - loss * max(x - r, 0)``.
    """

    memory: float = Field(0.8, ge=0, lt=1)
    gain: float = Field(0.5, ge=0)
    loss: float = Field(1.0, ge=0)


class SeasonalitySpec(_Strict):
    """Customers per period follow ``1 + amplitude * sin(2 pi (t / period_days) + phase)``."""

    amplitude: float = Field(0.2, ge=0, lt=1)
    period_days: float = Field(7.0, gt=0)
    phase: float = 0.0


class InventorySpec(_Strict):
    """Finite stock: sales beyond it are lost."""

    initial_stock: int = Field(100, ge=0)
    restock_every_days: int = Field(
        0, ge=0, description="Days between deliveries; 0 means no restocking."
    )
    restock_to: int = Field(0, ge=0, description="Order-up-to level at a delivery.")
    holding_cost: float = Field(0.0, ge=0, description="Per unit left, per period.")
    salvage_value: float = Field(0.0, ge=0, description="Per unit left at the end.")

    @model_validator(mode="after")
    def _check(self) -> InventorySpec:
        if self.restock_every_days > 0 and self.restock_to <= 0:
            raise ValueError(
                "restock_to: restocking every "
                f"{self.restock_every_days} days needs a positive restock_to"
            )
        return self


class MarketSpec(_Strict):
    """One product in one market over one season."""

    name: str = "market"
    currency: str = "USD"
    unit_cost: float = Field(0.5, ge=0, description="What a unit costs us.")
    list_price: float = Field(
        1.0, gt=0, description="Our regular price; the scale of every price."
    )
    horizon_days: int = Field(100, ge=1, le=100_000)
    demand: DemandSpec = DemandSpec()
    rivals: tuple[RivalSpec, ...] = ()
    reference: ReferenceSpec | None = None
    seasonality: SeasonalitySpec | None = None
    inventory: InventorySpec | None = None

    @model_validator(mode="after")
    def _check(self) -> MarketSpec:
        if self.rivals and self.demand.model != "mnl":
            raise ValueError(
                f"rivals: only the 'mnl' demand model has rivals; this market uses "
                f"{self.demand.model!r}: set demand.model to 'mnl' or drop rivals"
            )
        if not math.isfinite(self.unit_cost) or not math.isfinite(self.list_price):
            raise ValueError("unit_cost: prices and costs must be finite numbers")
        return self

    # JSON round trip.

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_dict(cls, data: Any, where: str = "market") -> MarketSpec:
        return parse_model(cls, data, where)

    @classmethod
    def from_json(cls, text: str, where: str = "market") -> MarketSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SpecError(f"{where}: not valid JSON ({err})") from err
        return cls.from_dict(data, where)


def parse_model(cls: type[_Strict], data: Any, where: str) -> Any:
    """Validate ``data`` as ``cls``, turning pydantic's errors into a :class:`SpecError`."""
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise SpecError(format_validation_error(err, where)) from None


def format_validation_error(err: ValidationError, where: str) -> str:
    lines = [f"{where}: invalid description ({err.error_count()} problem(s))"]
    for item in err.errors():
        path = ".".join(str(part) for part in item["loc"])
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown field; remove it or check its spelling"
        elif item["type"] == "missing":
            msg = "required field is missing; add it"
        field = f"{where}.{path}" if path else where
        lines.append(f"  {field}: {msg}")
    return "\n".join(lines)


def load_structured_file(path: str | Path) -> Any:
    """Read a JSON or YAML file, with an error that names the file on failure."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such file; give the path of a JSON or YAML file")
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise SpecError(f"{path}: not valid YAML ({err})") from err
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise SpecError(
            f"{path}: not valid JSON at line {err.lineno}, column {err.colno}: "
            f"{err.msg}"
        ) from err
