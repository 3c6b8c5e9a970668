"""Transaction logs -> fitted demand -> a market family.

:func:`calibrate` reads and validates a log file, builds the product x day panel,
fits each product's demand with a pooled prior (:mod:`rayprice.data.fit`), scores
the fit on each product's last days, and writes the products as a market family
that :func:`rayprice.market.load_family` reads:

- ``markets``: one market per fitted product: the fitted demand model with
  ``market_size`` = the product's average daily units, ``list_price`` = its median
  daily price, ``unit_cost`` = its average unit cost from the logs, or, where the
  logs give no cost, ``cost_ratio`` (default 0.7) times its list price;
- ``priors``: the pooled prior (``mvnormal`` over the intercept and the log price
  sensitivity, moment-matched to the fitted prior over the demand index at the
  list price and the log price sensitivity), log-normal fits of list prices and
  market sizes and a normal fit of cost ratios, so the family can also draw new
  products;
- ``heldout_markets``: products split off by a seeded hash of their id
  (``heldout_products``), fitted under the family's prior, which never saw them;
  without such a split the held-out suite is drawn from the priors.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rayprice.data.fit import (
    DemandFit,
    HoldoutScore,
    fit_demand,
    score_holdout,
)
from rayprice.data.logs import Logs, load_logs
from rayprice.data.panel import Panel, build_panel
from rayprice.market.families import family_from_dict

logger = logging.getLogger(__name__)

_INTERCEPT = "demand.segments.0.intercept"
_SENSITIVITY = "demand.segments.0.price_sensitivity"


class CalibrationSettings(BaseModel):
    """How logs become a family."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(
        None, description="Family name, e.g. 'shop-v1'; from the file name by default."
    )
    model: str = Field("exponential", description="exponential or constant_elasticity.")
    min_sale_days: int = Field(
        10, ge=2, description="Fit products with at least this many days of sales."
    )
    holdout_fraction: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="Share of each product's last days scored out of time.",
    )
    cost_ratio: float = Field(
        0.7,
        gt=0,
        lt=1,
        description="Unit cost / list price where the logs give no cost.",
    )
    horizon_days: int = Field(100, ge=1, description="Season length of each market.")
    heldout_products: float = Field(
        0.0, ge=0, lt=1, description="Share of products kept out of the family's fit."
    )
    split_seed: int = Field(0, ge=0, description="Seed of the product split.")
    heldout_seed: int = Field(
        20261203,
        ge=0,
        description="Seed of the drawn held-out suite (no product split).",
    )
    heldout_size: int = Field(
        200, ge=1, description="Size of the drawn held-out suite."
    )
    date_format: str | None = Field(None, description="strptime format of text dates.")
    columns: dict[str, str] = Field(
        default_factory=dict, description="Explicit field -> column choices."
    )


@dataclass
class CalibrationResult:
    """Everything a calibration produced.

    Attributes:
        settings: what was asked.
        logs: the validated rows and the rejects.
        panel: the product x day panel of every product.
        fitted: indices into ``panel`` of the family's products.
        heldout: indices into ``panel`` of the held-out products.
        skipped: indices into ``panel`` of products with too few days of sales.
        fit: the family's products' fit (all their days).
        heldout_fit: the held-out products' fit under the family's prior.
        holdout: the out-of-time score of the family's products.
        unit_cost: the family's products' unit costs (currency).
        cost_from_logs: whether each unit cost came from the logs.
        family: the family as a dict (the JSON written out).
    """

    settings: CalibrationSettings
    logs: Logs
    panel: Panel
    fitted: np.ndarray
    heldout: np.ndarray
    skipped: np.ndarray
    fit: DemandFit
    heldout_fit: DemandFit | None
    holdout: HoldoutScore
    unit_cost: np.ndarray
    cost_from_logs: np.ndarray
    family: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """The figures of :func:`format_summary`, for ``--json``."""
        logs, panel = self.logs, self.panel
        elasticity = self.fit.elasticity()
        first, last = panel.dates()[0], panel.dates()[-1]
        quantiles = np.quantile(elasticity, [0.1, 0.25, 0.5, 0.75, 0.9])
        return {
            "source": logs.source,
            "family": self.family["name"],
            "model": self.fit.model,
            "columns": logs.columns,
            "rows": {
                "read": logs.rows_read,
                "used": logs.rows_used,
                "rejected": logs.rows_rejected,
                "rejected_by_reason": logs.reject_counts(),
                "in_skipped_products": int(panel.rows[self.skipped].sum()),
            },
            "days": {
                "count": panel.n_days,
                "first": first.isoformat(),
                "last": last.isoformat(),
            },
            "products": {
                "seen": panel.n_products,
                "fitted": len(self.fitted),
                "heldout": len(self.heldout),
                "skipped_few_sale_days": len(self.skipped),
                "min_sale_days": self.settings.min_sale_days,
                "cost_from_logs": int(self.cost_from_logs.sum()),
                "cost_assumed": int((~self.cost_from_logs).sum()),
                "cost_ratio_assumed": self.settings.cost_ratio,
            },
            "pooled_prior": {
                "over": ["demand index at list price", "log price_sensitivity"],
                **self.fit.prior.to_dict(),
                "em_iterations": self.fit.em_iterations,
            },
            "elasticity": {
                "at": "list price (median daily price)",
                "p10": float(quantiles[0]),
                "p25": float(quantiles[1]),
                "median": float(quantiles[2]),
                "p75": float(quantiles[3]),
                "p90": float(quantiles[4]),
                "mean": float(elasticity.mean()),
                "share_elastic": float(np.mean(elasticity > 1.0)),
            },
            "holdout": self.holdout.to_dict(),
        }

    def products(self) -> list[dict[str, Any]]:
        """One record per family product: the fit with its uncertainty."""
        fit = self.fit
        elasticity, elasticity_sd = fit.elasticity(), fit.elasticity_sd()
        optimal = fit.optimal_price(self.unit_cost)
        rows = self.panel.rows[self.fitted]
        sale_days = self.panel.sale_days()[self.fitted]
        out = []
        for i in range(fit.n_products):
            out.append(
                {
                    "product_id": str(fit.product_id[i]),
                    "rows": int(rows[i]),
                    "sale_days": int(sale_days[i]),
                    "fitted_days": int(fit.fitted_days[i]),
                    "price_variation": _num(fit.price_variation[i]),
                    "list_price": _num(fit.list_price[i]),
                    "unit_cost": _num(self.unit_cost[i]),
                    "cost_from_logs": bool(self.cost_from_logs[i]),
                    "market_size": _num(fit.market_size[i]),
                    "intercept": _num(fit.intercept[i]),
                    "index_at_list_price_sd": _num(fit.index_sd[i]),
                    "price_sensitivity": _num(fit.price_sensitivity[i]),
                    "log_price_sensitivity_sd": _num(fit.log_sensitivity_sd[i]),
                    "elasticity": _num(elasticity[i]),
                    "elasticity_sd": _num(elasticity_sd[i]),
                    "optimal_price": _num(optimal[i]),
                }
            )
        return out


def _num(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def calibrate(
    logs: str | Path | Logs, settings: CalibrationSettings | None = None
) -> CalibrationResult:
    """Calibrate a market family from transaction logs.

    Args:
        logs: a log file (see :mod:`rayprice.data.logs`) or validated logs.
        settings: how; defaults otherwise.

    Returns:
        The fit, its scores and the family (validated by the family loader).

    Raises:
        ValueError: too few products have enough days of sales to fit.
    """
    settings = settings or CalibrationSettings()
    if isinstance(logs, (str, Path)):
        logs = load_logs(logs, settings.columns, settings.date_format)
    panel = build_panel(logs)

    # Products with enough days of sales; the rest are counted, not fitted.
    enough = panel.sale_days() >= settings.min_sale_days
    skipped = np.flatnonzero(~enough)
    held = _heldout_mask(
        panel.product_id, settings.heldout_products, settings.split_seed
    )
    fitted = np.flatnonzero(enough & ~held)
    heldout = np.flatnonzero(enough & held)
    if len(fitted) < 2:
        raise ValueError(
            f"logs: only {len(fitted)} product(s) sold on at least "
            f"{settings.min_sale_days} days; a pooled fit needs two or more: lower "
            "min_sale_days or give longer logs"
        )
    if len(skipped):
        logger.info(
            "calibrate: %d products sold on fewer than %d days and are not fitted",
            len(skipped),
            settings.min_sale_days,
        )

    # Fit the family's products; score the fit out of time.
    family_panel = panel.take(fitted)
    fit = fit_demand(family_panel, settings.model)
    holdout, _ = score_holdout(
        family_panel, settings.model, settings.holdout_fraction, initial_prior=fit.prior
    )
    _warn_inelastic(fit, family_panel.product_id)
    heldout_fit = None
    if len(heldout):
        heldout_fit = fit_demand(panel.take(heldout), settings.model, prior=fit.prior)

    unit_cost, from_logs = _unit_costs(family_panel.unit_cost, fit.list_price, settings)
    name = settings.name or _family_name(logs.source)
    family = _family_dict(
        name, logs, panel, fit, unit_cost, heldout_fit, settings, holdout
    )
    family_from_dict(family, name)
    return CalibrationResult(
        settings=settings,
        logs=logs,
        panel=panel,
        fitted=fitted,
        heldout=heldout,
        skipped=skipped,
        fit=fit,
        heldout_fit=heldout_fit,
        holdout=holdout,
        unit_cost=unit_cost,
        cost_from_logs=from_logs,
        family=family,
    )


def _warn_inelastic(fit: DemandFit, product_id: np.ndarray) -> None:
    """Constant-elasticity demand with elasticity <= 1 has no finite optimal price:
    profit grows without bound as the price rises, so the simulator's oracle sits at
    the top of the price range. Say which products those are."""
    if fit.model != "constant_elasticity":
        return
    inelastic = np.flatnonzero(fit.elasticity() <= 1.0)
    if len(inelastic):
        logger.warning(
            "calibrate: %d of %d products fit an elasticity <= 1 (e.g. %s): "
            "constant-elasticity demand then has no finite optimal price and the "
            "oracle prices at the top of the range; consider model='exponential'",
            len(inelastic),
            len(product_id),
            ", ".join(str(p) for p in product_id[inelastic[:3]]),
        )


def _heldout_mask(product_id: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Products whose seeded hash falls below ``share`` (stable across runs)."""
    if share <= 0:
        return np.zeros(len(product_id), dtype=bool)
    draws = np.array(
        [
            int.from_bytes(
                hashlib.blake2b(f"{seed}:{pid}".encode(), digest_size=8).digest(), "big"
            )
            / 2.0**64
            for pid in product_id
        ]
    )
    return draws < share


def _unit_costs(
    logged: np.ndarray, list_price: np.ndarray, settings: CalibrationSettings
) -> tuple[np.ndarray, np.ndarray]:
    from_logs = np.isfinite(logged) & (logged >= 0)
    return np.where(from_logs, logged, settings.cost_ratio * list_price), from_logs


def _family_name(source: str) -> str:
    stem = Path(source).name.split(".")[0].lower()
    stem = re.sub(r"[^a-z0-9_.-]+", "-", stem).strip("-_.") or "calibrated"
    if not stem[0].isalnum():
        stem = f"c{stem}"
    return f"{stem}-v1"


def _market(
    name: str, fit: DemandFit, i: int, unit_cost: float, horizon_days: int
) -> dict[str, Any]:
    return {
        "name": name,
        "unit_cost": round(float(unit_cost), 6),
        "list_price": round(float(fit.list_price[i]), 6),
        "horizon_days": horizon_days,
        "demand": {
            "model": fit.model,
            "market_size": round(float(fit.market_size[i]), 6),
            "segments": [
                {
                    "intercept": round(float(fit.intercept[i]), 6),
                    "price_sensitivity": round(float(fit.price_sensitivity[i]), 6),
                }
            ],
        },
    }


def _family_dict(
    name: str,
    logs: Logs,
    panel: Panel,
    fit: DemandFit,
    unit_cost: np.ndarray,
    heldout_fit: DemandFit | None,
    settings: CalibrationSettings,
    holdout: HoldoutScore,
) -> dict[str, Any]:
    markets = [
        _market(str(fit.product_id[i]), fit, i, unit_cost[i], settings.horizon_days)
        for i in range(fit.n_products)
    ]
    log_price, log_size = np.log(fit.list_price), np.log(fit.market_size)
    ratio = unit_cost / fit.list_price
    ratio_sd = float(ratio.std())
    cost_prior: dict[str, Any] = (
        {"dist": "normal", "mean": float(ratio.mean()), "std": ratio_sd}
        if ratio_sd > 1e-9
        else {"dist": "fixed", "value": float(ratio.mean())}
    )
    cost_prior.update(
        {"scale": "list_price", "clip": [0.0, float(max(ratio.max(), 0.0))]}
    )
    first, last = panel.dates()[0], panel.dates()[-1]
    prior_mean, prior_cov = fit.prior.intercept_moments(fit.model)
    family: dict[str, Any] = {
        "name": name,
        "description": (
            f"Calibrated from {Path(logs.source).name}: {fit.n_products} products, "
            f"{fit.model} demand fitted with a pooled prior, {first} to {last}."
        ),
        "base": {
            "name": name,
            "unit_cost": round(float(np.median(unit_cost)), 6),
            "list_price": round(float(np.median(fit.list_price)), 6),
            "horizon_days": settings.horizon_days,
            "demand": {
                "model": fit.model,
                "market_size": round(float(np.median(fit.market_size)), 6),
                "segments": [
                    {
                        "intercept": float(prior_mean[0]),
                        "price_sensitivity": float(np.exp(fit.prior.mean[1])),
                    }
                ],
            },
        },
        "priors": {
            f"{_INTERCEPT},{_SENSITIVITY}": {
                "dist": "mvnormal",
                "mean": prior_mean.tolist(),
                "cov": prior_cov.tolist(),
                "log": [False, True],
            },
            "list_price": {
                "dist": "lognormal",
                "mu": float(log_price.mean()),
                "sigma": float(max(log_price.std(), 1e-6)),
            },
            "demand.market_size": {
                "dist": "lognormal",
                "mu": float(log_size.mean()),
                "sigma": float(max(log_size.std(), 1e-6)),
            },
            "unit_cost": cost_prior,
        },
        "markets": markets,
    }
    if heldout_fit is not None:
        held_cost, _ = _unit_costs(
            panel.unit_cost[np.isin(panel.product_id, heldout_fit.product_id)],
            heldout_fit.list_price,
            settings,
        )
        family["heldout_markets"] = [
            _market(
                str(heldout_fit.product_id[i]),
                heldout_fit,
                i,
                held_cost[i],
                settings.horizon_days,
            )
            for i in range(heldout_fit.n_products)
        ]
    else:
        family["heldout"] = {
            "seed": settings.heldout_seed,
            "size": settings.heldout_size,
        }
    family["source"] = {
        "logs": Path(logs.source).name,
        "rows_read": logs.rows_read,
        "rows_used": logs.rows_used,
        "rows_rejected": logs.reject_counts(),
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "model": fit.model,
        "min_sale_days": settings.min_sale_days,
        "cost_ratio_assumed": settings.cost_ratio,
        "heldout_products": settings.heldout_products,
        "split_seed": settings.split_seed,
        "pooled_prior": fit.prior.to_dict(),
        "holdout": holdout.to_dict(),
    }
    return family


def format_summary(result: CalibrationResult) -> str:
    """The calibration as a plain-text table."""
    s = result.summary()
    rows, products, el, ho = s["rows"], s["products"], s["elasticity"], s["holdout"]
    days = s["days"]
    cov = result.fit.prior.cov
    index_mean, log_b_mean = result.fit.prior.mean
    index_sd, log_b_sd = math.sqrt(cov[0, 0]), math.sqrt(cov[1, 1])
    correlation = cov[0, 1] / (index_sd * log_b_sd)

    def row(label: str, value: int, note: str = "") -> str:
        return f"{label:<34}{value:>12,}{'   ' + note if note else ''}"

    lines = [
        f"Calibration of {Path(s['source']).name} -> {s['family']} "
        f"({s['model']} demand)",
        "",
        row("rows read", rows["read"]),
        row("rows used", rows["used"]),
        row("rows rejected", rows["rejected"]),
    ]
    for reason, count in rows["rejected_by_reason"].items():
        if count:
            lines.append(row("  " + reason, count))
    lines += [
        row("days", days["count"], f"{days['first']} .. {days['last']}"),
        row("products seen", products["seen"]),
        row("products fitted (family)", products["fitted"]),
        row("products held out (suite)", products["heldout"]),
        row(
            f"products skipped (< {products['min_sale_days']} sale days)",
            products["skipped_few_sale_days"],
            f"({rows['in_skipped_products']:,} rows)",
        ),
        row(
            "unit cost from logs",
            products["cost_from_logs"],
            f"assumed {products['cost_ratio_assumed']:.0%} of list price for "
            f"{products['cost_assumed']:,}",
        ),
        "",
        f"pooled prior   demand index at list price {index_mean:.3f} "
        f"(sd {index_sd:.3f}); price_sensitivity median {math.exp(log_b_mean):.3f} "
        f"(log sd {log_b_sd:.3f}); correlation {correlation:.2f}",
        f"elasticity at list price   p10 {el['p10']:.2f}  p25 {el['p25']:.2f}  "
        f"median {el['median']:.2f}  p75 {el['p75']:.2f}  p90 {el['p90']:.2f}  "
        f"(elastic > 1: {el['share_elastic']:.0%})",
        f"held-out fit (last {ho['fraction']:.0%} of each product's days, "
        f"{ho['days']:,} product-days)",
        f"  Poisson deviance  {ho['poisson_deviance']:,.0f} vs "
        f"{ho['baseline_poisson_deviance']:,.0f} without a price effect "
        f"(skill {ho['deviance_skill']:.1%})",
        f"  WAPE              {ho['wape']:.1%} vs {ho['baseline_wape']:.1%}",
        f"  per product       {ho['share_products_better']:.0%} predicted better; "
        f"median skill {ho['median_product_skill']:.1%}",
    ]
    return "\n".join(lines)


def write_family(result: CalibrationResult, path: str | Path) -> Path:
    """Write the family as JSON (loadable by ``load_family(path)``)."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.family, indent=1) + "\n")
    return path
