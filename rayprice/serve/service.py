"""The pricing service's core: storage, policy, guardrails and explanations, no Ray.

:class:`PricingService` does everything the API promises in plain Python, so it
is tested and fuzzed without Ray; the FastAPI app (:mod:`rayprice.serve.api`)
calls it, and the Serve app runs that FastAPI app with the policy in a batched
deployment.

A quote comes in two halves so the policy can run elsewhere:
:meth:`PricingService.prepare_quote` reads the market and builds the policy's
observation with :func:`rayprice.market.window.encode_observation`, the function
training uses; :meth:`PricingService.finish_quote` turns the policy's action
into a price, applies the guardrails, explains it and stores it.

What the observation needs from a live market, and where it comes from:

==================  =========================================================
``t``               periods of history stored (capped at the season's last)
``horizon``         ``horizon_days``, default the policy family's season
``stock``           the tracked stock, or the quote's ``stock``; inf if none
``initial_stock``   ``initial_stock``, default the stock at creation
``rival_now``       mean of the quote's rival prices, else the last reported
``unit_cost``       the market's
``list_price``      the market's
``market_size``     customers per period, given or estimated from history
==================  =========================================================
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rayprice.market.window import History, encode_observation
from rayprice.policy.bundle import Manifest
from rayprice.serve.explain import FIT_WINDOW, explain_quote
from rayprice.serve.guardrails import apply_guardrails
from rayprice.serve.policy import ServedPolicy, action_to_price, check_servable
from rayprice.serve.schemas import (
    MAX_PAGE,
    Guardrails,
    HistoryOut,
    MarketIn,
    MarketOut,
    PastPeriod,
    PeriodOut,
    QuoteIn,
    QuoteOut,
    SaleIn,
    SaleOut,
    StatelessQuoteIn,
)
from rayprice.serve.settings import ServeSettings
from rayprice.serve.storage import (
    MarketRow,
    PeriodRow,
    QuoteRow,
    Storage,
    now_iso,
)

logger = logging.getLogger(__name__)

#: Share of a market's traffic that buys at list price, the median over
#: ``retail-heldout-v1`` (0.145); used only to estimate a missing market size.
TYPICAL_BUYING_SHARE = 0.15
#: Season length when the bundle's family cannot be loaded.
FALLBACK_HORIZON = 100


class ServiceError(Exception):
    """A request the service refuses; the API maps it to an HTTP status."""

    status = 400

    def __init__(
        self, message: str, field: tuple[str | int, ...] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Invalid(ServiceError):
    """A value that passed the schema but not the market's rules (422)."""

    status = 422


@dataclass(frozen=True)
class _Market:
    """A market's settings, decoded from storage."""

    currency: str
    unit_cost: float
    list_price: float
    market_size: float
    market_size_source: str
    horizon_days: int
    initial_stock: float | None
    guardrails: Guardrails

    def to_config(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "unit_cost": self.unit_cost,
            "list_price": self.list_price,
            "market_size": self.market_size,
            "market_size_source": self.market_size_source,
            "horizon_days": self.horizon_days,
            "initial_stock": self.initial_stock,
            "guardrails": self.guardrails.model_dump(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _Market:
        return cls(
            currency=config["currency"],
            unit_cost=float(config["unit_cost"]),
            list_price=float(config["list_price"]),
            market_size=float(config["market_size"]),
            market_size_source=config["market_size_source"],
            horizon_days=int(config["horizon_days"]),
            initial_stock=config["initial_stock"],
            guardrails=Guardrails(**config["guardrails"]),
        )


@dataclass(frozen=True)
class QuoteDraft:
    """Half a quote: the observation for the policy and what finishing needs."""

    observation: np.ndarray
    tenant: str
    market_id: str | None
    market: _Market
    period: int
    stock: float | None
    rival_prices: list[float]
    previous_price: float | None
    prices: list[float]
    units: list[float]
    stock_given: bool = False


def _mean_or_nan(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def new_quote_id() -> str:
    return "q_" + secrets.token_hex(16)


class PricingService:
    """Markets, quotes and sales over a database and a policy bundle.

    Args:
        settings: the service's settings (database, bundle).
        policy: a loaded policy for :meth:`quote`; ``None`` where the policy runs
            elsewhere (a Serve deployment) and only prepare/finish are used.
        storage: an open database; default the one at ``settings.db_path``.
    """

    def __init__(
        self,
        settings: ServeSettings,
        policy: ServedPolicy | None = None,
        storage: Storage | None = None,
    ) -> None:
        self.settings = settings
        self.manifest: Manifest = (
            policy.manifest if policy is not None else check_servable(settings.bundle)
        )
        self.policy = policy
        self.storage = storage if storage is not None else Storage(settings.db_path)
        self.window = self.manifest.window
        self.default_horizon = _family_horizon(self.manifest.family)

    # Markets.

    def put_market(
        self, tenant: str, market_id: str, body: MarketIn
    ) -> tuple[MarketOut, bool]:
        """Create a market, or update an existing one's settings.

        Returns:
            The market and whether it was created.

        Raises:
            Conflict: ``history`` given for a market that exists.
            Invalid: no ``market_size`` and no history to estimate it from.
        """
        at = now_iso()
        with self.storage.transaction() as db:
            old = self.storage.market(tenant, market_id)
            created = old is None
            if not created and body.history:
                raise Conflict(
                    "history: a market's history is given only when it is created; "
                    "report sales through quotes, or use a new market id",
                    ("body", "history"),
                )
            market = self._market_settings(body, old)
            stock = body.stock
            if old is not None and body.stock is None:
                stock = old.stock if market.initial_stock is not None else None
            row = MarketRow(
                tenant=tenant,
                market_id=market_id,
                config=market.to_config(),
                stock=stock,
                rival_prices=list(body.rival_prices)
                if body.rival_prices or old is None
                else old.rival_prices,
                periods=len(body.history) if old is None else old.periods,
                last_price=(body.history[-1].price if body.history else None)
                if old is None
                else old.last_price,
                last_quote_id=None if old is None else old.last_quote_id,
                created_at=at if old is None else old.created_at,
                updated_at=at,
            )
            self.storage.write_market(db, row, created)
            for i, past in enumerate(body.history):
                self.storage.append_period(
                    db,
                    tenant,
                    market_id,
                    PeriodRow(
                        period=i,
                        price=past.price,
                        units_sold=past.units_sold,
                        rival_prices=list(past.rival_prices),
                        stock_before=past.stock_before,
                        quote_id=None,
                        recorded_at=at,
                    ),
                )
            self.storage.audit(
                db,
                tenant,
                market_id,
                "market",
                None,
                {
                    "created": created,
                    "settings": market.to_config(),
                    "stock": stock,
                    "rival_prices": row.rival_prices,
                    "history_periods": len(body.history),
                },
                at,
            )
        return _market_out(row, market), created

    def _market_settings(self, body: MarketIn, old: MarketRow | None) -> _Market:
        if body.market_size is not None:
            size, source = body.market_size, "given"
        elif old is not None:
            previous = _Market.from_config(old.config)
            size, source = previous.market_size, previous.market_size_source
        elif body.history:
            mean_units = float(np.mean([p.units_sold for p in body.history]))
            size, source = max(mean_units / TYPICAL_BUYING_SHARE, 1.0), "estimated"
        else:
            raise Invalid(
                "market_size: give the customers (visitors) per period, or a history "
                "of sales to estimate it from",
                ("body", "market_size"),
            )
        initial = body.initial_stock if body.initial_stock is not None else body.stock
        if initial is None and body.stock is None and old is not None:
            initial = _Market.from_config(old.config).initial_stock
        if initial is not None and initial <= 0:
            raise Invalid(
                "stock: a market with stock needs a positive initial_stock",
                ("body", "initial_stock"),
            )
        return _Market(
            currency=body.currency,
            unit_cost=body.unit_cost,
            list_price=body.list_price,
            market_size=size,
            market_size_source=source,
            horizon_days=body.horizon_days or self.default_horizon,
            initial_stock=initial,
            guardrails=body.guardrails,
        )

    def _require_market(self, tenant: str, market_id: str) -> MarketRow:
        row = self.storage.market(tenant, market_id)
        if row is None:
            # The same answer whether the market is missing or another tenant's.
            raise NotFound(f"market_id: no market {market_id!r}", ("path", "market_id"))
        return row

    def get_market(self, tenant: str, market_id: str) -> MarketOut:
        row = self._require_market(tenant, market_id)
        return _market_out(row, _Market.from_config(row.config))

    def history(
        self, tenant: str, market_id: str, offset: int = 0, limit: int = 100
    ) -> HistoryOut:
        row = self._require_market(tenant, market_id)
        limit = max(1, min(limit, MAX_PAGE))
        periods = self.storage.periods(tenant, market_id, offset, limit)
        return HistoryOut(
            market_id=market_id,
            total=row.periods,
            offset=offset,
            periods=[
                PeriodOut(
                    period=p.period,
                    price=p.price,
                    units_sold=p.units_sold,
                    rival_prices=p.rival_prices,
                    stock_before=p.stock_before,
                    quote_id=p.quote_id,
                    recorded_at=p.recorded_at,
                )
                for p in periods
            ],
        )

    # Quotes.

    def prepare_quote(self, tenant: str, market_id: str, body: QuoteIn) -> QuoteDraft:
        """Read the market and build the policy's observation."""
        row = self._require_market(tenant, market_id)
        market = _Market.from_config(row.config)
        periods = self.storage.recent_periods(
            tenant, market_id, max(self.window, FIT_WINDOW)
        )
        stock = body.stock if body.stock is not None else row.stock
        if stock is not None and market.initial_stock is None:
            raise Invalid(
                "stock: this market was created without stock (unlimited); set "
                "stock on the market first",
                ("body", "stock"),
            )
        rivals = (
            list(body.rival_prices)
            if body.rival_prices is not None
            else row.rival_prices
        )
        draft = self._draft(
            tenant,
            market_id,
            market,
            row.periods,
            periods,
            stock,
            rivals,
            row.last_price,
        )
        return replace(draft, stock_given=body.stock is not None)

    def _draft(
        self,
        tenant: str,
        market_id: str | None,
        market: _Market,
        n_periods: int,
        periods: list[PeriodRow],
        stock: float | None,
        rivals: list[float],
        previous_price: float | None,
    ) -> QuoteDraft:
        inf = math.inf
        recent = periods[-self.window :]
        initial = market.initial_stock if market.initial_stock is not None else inf
        history = History.from_records(
            [p.price for p in recent],
            [p.units_sold for p in recent],
            [_mean_or_nan(p.rival_prices) for p in recent],
            [p.stock_before if p.stock_before is not None else inf for p in recent],
            window=self.window,
            list_price=market.list_price,
            market_size=market.market_size,
            initial_stock=initial,
        )
        # Past the season's end the policy sees its last day: it was never
        # trained beyond it.
        t = min(n_periods, market.horizon_days - 1)
        obs = encode_observation(
            history,
            np.array([t], dtype=np.float64),
            np.array([market.horizon_days], dtype=np.float64),
            np.array([stock if stock is not None else inf]),
            np.array([initial]),
            np.array([_mean_or_nan(rivals)]),
            np.array([market.unit_cost]),
            np.array([market.list_price]),
            np.array([market.market_size]),
        )
        return QuoteDraft(
            observation=obs[0],
            tenant=tenant,
            market_id=market_id,
            market=market,
            period=n_periods,
            stock=stock,
            rival_prices=rivals,
            previous_price=previous_price,
            prices=[p.price for p in periods],
            units=[p.units_sold for p in periods],
        )

    def finish_quote(
        self, draft: QuoteDraft, action: float, store: bool = True
    ) -> QuoteOut:
        """Price, guard, explain and (for a stored market) record a quote."""
        m = draft.market
        raw = float(action_to_price(action, m.list_price, self.manifest.price_span))
        price, actions = apply_guardrails(
            raw, m.unit_cost, m.guardrails, draft.previous_price
        )
        explanation = explain_quote(
            price, raw, m.unit_cost, m.currency, draft.prices, draft.units, actions
        )
        at = now_iso()
        quote = QuoteOut(
            quote_id=new_quote_id(),
            market_id=draft.market_id,
            price=round(price, 6),
            raw_price=round(raw, 6),
            currency=m.currency,
            period=draft.period,
            guardrail=_binding(actions),
            guardrails_applied=actions,
            explanation=explanation,
            created_at=at,
            stored=store,
        )
        if not store:
            return quote
        assert draft.market_id is not None
        payload = quote.model_dump()
        with self.storage.transaction() as db:
            self.storage.insert_quote(
                db,
                QuoteRow(
                    quote_id=quote.quote_id,
                    tenant=draft.tenant,
                    market_id=draft.market_id,
                    period=draft.period,
                    price=quote.price,
                    raw_price=quote.raw_price,
                    stock=draft.stock,
                    rival_prices=draft.rival_prices,
                    response=payload,
                    created_at=at,
                    sale_request=None,
                    sale_response=None,
                ),
            )
            # A stock the seller gave with the quote becomes the tracked stock.
            self.storage.note_quote(
                db,
                draft.tenant,
                draft.market_id,
                quote.price,
                quote.quote_id,
                at,
                stock=draft.stock if draft.stock_given else None,
            )
            self.storage.audit(
                db, draft.tenant, draft.market_id, "quote", quote.quote_id, payload, at
            )
        return quote

    def _local_policy(self) -> ServedPolicy:
        if self.policy is None:
            self.policy = ServedPolicy(self.settings.bundle)
        return self.policy

    def quote(self, tenant: str, market_id: str, body: QuoteIn) -> QuoteOut:
        """A stored quote for a market, with the policy run in this process."""
        draft = self.prepare_quote(tenant, market_id, body)
        action = float(self._local_policy().act(draft.observation[None, :])[0])
        return self.finish_quote(draft, action)

    def prepare_stateless(self, body: StatelessQuoteIn) -> QuoteDraft:
        """A draft for a market given whole in the request; nothing is read or stored."""
        market = self._market_settings(body, None)
        rows = [_past_row(i, p) for i, p in enumerate(body.history)]
        draft = self._draft(
            "",
            None,
            market,
            len(rows),
            rows[-self.window :],
            body.stock,
            list(body.rival_prices),
            rows[-1].price if rows else None,
        )
        # The explanation reads the whole history, not only the policy's window.
        return replace(
            draft, prices=[p.price for p in rows], units=[p.units_sold for p in rows]
        )

    def stateless_quote(self, body: StatelessQuoteIn) -> QuoteOut:
        draft = self.prepare_stateless(body)
        action = float(self._local_policy().act(draft.observation[None, :])[0])
        return self.finish_quote(draft, action, store=False)

    # Sales.

    def report_sale(
        self, tenant: str, market_id: str, quote_id: str, body: SaleIn
    ) -> tuple[SaleOut, bool]:
        """Store the sales of the period a quote priced; durable when this returns.

        Returns:
            The acknowledgement and whether it was new (``False``: a replay of the
            same report, answered with the stored acknowledgement).

        Raises:
            NotFound: no such market or quote for this tenant.
            Conflict: the quote already has a different sale report.
            Invalid: more units sold than were in stock.
        """
        request = body.model_dump()
        with self.storage.transaction() as db:
            market_row = self._require_market(tenant, market_id)
            quote = self.storage.quote(tenant, quote_id)
            if quote is None or quote.market_id != market_id:
                raise NotFound(
                    f"quote_id: no quote {quote_id!r} for market {market_id!r}",
                    ("path", "quote_id"),
                )
            if quote.sale_request is not None:
                assert quote.sale_response is not None
                if quote.sale_request == request:
                    return SaleOut(**quote.sale_response), False
                raise Conflict(
                    f"quote_id: sales for quote {quote_id!r} were already reported "
                    "with different figures; a quote's sales are reported once",
                    ("path", "quote_id"),
                )
            # The stock tracked now: earlier sales of other quotes have left it.
            stock_before = market_row.stock
            if stock_before is not None and body.units_sold > stock_before + 1e-9:
                raise Invalid(
                    f"units_sold: {body.units_sold:g} is more than the "
                    f"{stock_before:g} units in stock",
                    ("body", "units_sold"),
                )
            if stock_before is None and body.stock_after is not None:
                raise Invalid(
                    "stock_after: this market has unlimited stock; set stock on the "
                    "market first",
                    ("body", "stock_after"),
                )
            stock_after = body.stock_after
            if stock_after is None and stock_before is not None:
                stock_after = max(stock_before - body.units_sold, 0.0)
            rivals = (
                list(body.rival_prices)
                if body.rival_prices is not None
                else quote.rival_prices
            )
            at = now_iso()
            period = market_row.periods
            self.storage.append_period(
                db,
                tenant,
                market_id,
                PeriodRow(
                    period=period,
                    price=quote.price,
                    units_sold=body.units_sold,
                    rival_prices=rivals,
                    stock_before=stock_before,
                    quote_id=quote_id,
                    recorded_at=at,
                ),
            )
            self.storage.advance_market(
                db, tenant, market_id, period + 1, stock_after, rivals, at
            )
            ack = SaleOut(
                quote_id=quote_id,
                market_id=market_id,
                period=period,
                price=quote.price,
                units_sold=body.units_sold,
                stock_after=stock_after,
                periods=period + 1,
                recorded_at=at,
            )
            response = ack.model_dump()
            self.storage.settle_quote(db, quote_id, request, response)
            self.storage.audit(
                db,
                tenant,
                market_id,
                "sale",
                quote_id,
                {
                    **request,
                    "price": quote.price,
                    "period": period,
                    "stock_before": stock_before,
                },
                at,
            )
        return ack, True

    def ready(self) -> dict[str, Any]:
        self.storage.ping()
        return {
            "status": "ready",
            "policy": str(self.settings.bundle or "default"),
            "family": self.manifest.family,
            "window": self.window,
        }


def _past_row(i: int, p: PastPeriod) -> PeriodRow:
    return PeriodRow(
        period=i,
        price=p.price,
        units_sold=p.units_sold,
        rival_prices=list(p.rival_prices),
        stock_before=p.stock_before,
        quote_id=None,
        recorded_at="",
    )


def _binding(actions: list[Any]) -> str | None:
    """The guardrail that bound: the last hard limit that acted, else the ending."""
    names = [a.name for a in actions]
    for name in reversed(names):
        if name != "price_ending":
            return str(name)
    return "price_ending" if names else None


def _market_out(row: MarketRow, market: _Market) -> MarketOut:
    return MarketOut(
        market_id=row.market_id,
        currency=market.currency,
        unit_cost=market.unit_cost,
        list_price=market.list_price,
        market_size=market.market_size,
        market_size_source=market.market_size_source,  # type: ignore[arg-type]
        horizon_days=market.horizon_days,
        stock=row.stock,
        initial_stock=market.initial_stock,
        rival_prices=row.rival_prices,
        guardrails=market.guardrails,
        periods=row.periods,
        last_price=row.last_price,
        last_quote_id=row.last_quote_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _family_horizon(family: str) -> int:
    """The season length of the family a bundle was trained on."""
    from rayprice.market.families import load_family
    from rayprice.market.spec import SpecError

    try:
        base = load_family(family).spec.base
    except (SpecError, OSError, ValueError):
        logger.warning(
            "family %r of the bundle cannot be loaded; seasons default to %d days",
            family,
            FALLBACK_HORIZON,
        )
        return FALLBACK_HORIZON
    return int(base.horizon_days) if base is not None else FALLBACK_HORIZON
