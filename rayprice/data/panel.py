"""From validated log rows to a product x day panel.

Each product's panel runs from its first to its last day with a log row, over the
days on which the logs hold any row at all (days the shop was closed are left
out). A day inside that span without a row for the product counts as a day
without sales at the product's last known price (carried forward): logs record
sales, not the prices that sold nothing.

Per product and day the panel holds units sold, the average unit price (revenue
over units, or the mean posted price on a day of zero units), and per product the
average unit cost (cost over units, over the rows that give a cost).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from rayprice.data.logs import Logs


@dataclass
class Panel:
    """Daily sales per product, as dense (products, days) arrays.

    Attributes:
        product_id: product ids, shape (P,).
        day: the calendar, days since 1970-01-01, shape (D,).
        units: units sold, shape (P, D); 0 on inactive days.
        price: average unit price (currency), shape (P, D); NaN on inactive days.
        observed: the logs hold a row for the product that day, shape (P, D).
        active: the day lies in the product's span, shape (P, D).
        unit_cost: average unit cost from the logs (currency), NaN where the logs
            give none, shape (P,).
        rows: log rows behind each product, shape (P,).
        extras: daily means of optional fields (rival_price, inventory,
            promotion), shape (P, D) each, NaN where not observed.
    """

    product_id: np.ndarray
    day: np.ndarray
    units: np.ndarray
    price: np.ndarray
    observed: np.ndarray
    active: np.ndarray
    unit_cost: np.ndarray
    rows: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_products(self) -> int:
        return int(self.product_id.shape[0])

    @property
    def n_days(self) -> int:
        return int(self.day.shape[0])

    def dates(self) -> list[date]:
        """The calendar as dates."""
        epoch = date(1970, 1, 1)
        return [epoch + timedelta(days=int(d)) for d in self.day]

    def sale_days(self) -> np.ndarray:
        """Days with at least one unit sold, per product, shape (P,)."""
        return ((self.units > 0) & self.active).sum(axis=1)

    def take(self, index: np.ndarray) -> Panel:
        """The panel of the products at ``index`` (same calendar)."""
        index = np.asarray(index)
        return Panel(
            product_id=self.product_id[index],
            day=self.day,
            units=self.units[index],
            price=self.price[index],
            observed=self.observed[index],
            active=self.active[index],
            unit_cost=self.unit_cost[index],
            rows=self.rows[index],
            extras={k: v[index] for k, v in self.extras.items()},
        )


def build_panel(logs: Logs) -> Panel:
    """Aggregate validated rows to a product x day panel (see the module docstring)."""
    products, product_index = np.unique(
        logs.product_id.astype(str), return_inverse=True
    )
    calendar, day_index = np.unique(logs.day, return_inverse=True)
    n_products, n_days = len(products), len(calendar)
    cell = product_index * n_days + day_index
    size = n_products * n_days

    def total(weights: np.ndarray) -> np.ndarray:
        return np.bincount(cell, weights=weights, minlength=size).reshape(
            n_products, n_days
        )

    # Units and revenue per cell; zero-unit rows contribute their posted price.
    rows_per_cell = np.bincount(cell, minlength=size).reshape(n_products, n_days)
    units = total(logs.units)
    revenue = total(logs.units * logs.unit_price)
    posted = total(logs.unit_price) / np.maximum(rows_per_cell, 1)
    observed = rows_per_cell > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        price = np.where(units > 0, revenue / units, posted)
    price = np.where(observed, price, np.nan)

    # Each product's span: first to last day with a row.
    day_pos = np.arange(n_days)
    first = np.where(observed, day_pos, n_days).min(axis=1)
    last = np.where(observed, day_pos, -1).max(axis=1)
    active = (day_pos >= first[:, None]) & (day_pos <= last[:, None])

    # Days without a row sell nothing at the last known price.
    last_seen = np.maximum.accumulate(np.where(observed, day_pos, 0), axis=1)
    price = np.take_along_axis(price, last_seen, axis=1)
    price = np.where(active, price, np.nan)
    units = np.where(active, units, 0.0)

    # Average unit cost per product, over the rows that give a cost.
    has_cost = np.isfinite(logs.unit_cost)
    cost_units = np.bincount(
        product_index, weights=np.where(has_cost, logs.units, 0.0), minlength=n_products
    )
    cost_total = np.bincount(
        product_index,
        weights=np.where(has_cost, logs.units * np.nan_to_num(logs.unit_cost), 0.0),
        minlength=n_products,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        unit_cost = np.where(cost_units > 0, cost_total / cost_units, np.nan)

    extras: dict[str, np.ndarray] = {}
    for key, values in logs.extras.items():
        if key == "segment":
            continue
        ok = np.isfinite(values)
        count = np.bincount(cell, weights=ok.astype(float), minlength=size)
        summed = np.bincount(cell, weights=np.where(ok, values, 0.0), minlength=size)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(count > 0, summed / count, np.nan)
        extras[key] = mean.reshape(n_products, n_days)

    return Panel(
        product_id=products,
        day=calendar,
        units=units,
        price=price,
        observed=observed,
        active=active,
        unit_cost=unit_cost,
        rows=np.bincount(product_index, minlength=n_products),
        extras=extras,
    )
