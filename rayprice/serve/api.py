"""The pricing API (FastAPI), version 1: routes under ``/v1``, OpenAPI at ``/docs``.

:func:`create_app` builds the app over a :class:`~rayprice.serve.service.PricingService`.
Where the policy runs is a parameter: in this process (tests, the standalone
uvicorn runner) or in a batched Ray Serve deployment (``act`` awaits its handle).

Every route but ``/v1/health`` and ``/v1/ready`` needs an API key
(``X-API-Key: KEY`` or ``Authorization: Bearer KEY``). A market belongs to the
tenant that created it; another tenant's key gets 404, as for a market that does
not exist. Bad input gets a 4xx that names the field: 422 with FastAPI's
``detail`` list (``loc``, ``msg``) for a bad value, 404 for an unknown market or
quote, 409 for a conflicting repeat, 413 for a body over the size limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, Path, Query, Request, Response, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import APIKeyHeader
from starlette.exceptions import HTTPException

from rayprice.serve.auth import KeyRing
from rayprice.serve.schemas import (
    MARKET_ID_PATTERN,
    MAX_PAGE,
    QUOTE_ID_PATTERN,
    ErrorOut,
    HealthOut,
    HistoryOut,
    MarketIn,
    MarketOut,
    QuoteIn,
    QuoteOut,
    ReadyOut,
    SaleIn,
    SaleOut,
    StatelessQuoteIn,
)
from rayprice.serve.service import PricingService, ServiceError

logger = logging.getLogger(__name__)

#: Runs the policy on one observation and returns its action in [-1, 1].
Act = Callable[[np.ndarray], Awaitable[float]]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, float("inf"))

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or unknown API key."},
    404: {"model": ErrorOut, "description": "No such market or quote for this key."},
    413: {"model": ErrorOut, "description": "Request body over the size limit."},
}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "Conflicts with what is stored."}
}

MarketIdPath = Annotated[
    str,
    Path(pattern=MARKET_ID_PATTERN, description="Your id for the market (SKU)."),
]
QuoteIdPath = Annotated[str, Path(pattern=QUOTE_ID_PATTERN)]


_API_KEY = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Your API key (or send `Authorization: Bearer KEY`).",
)


def _tenant(request: Request, key: str | None = Security(_API_KEY)) -> str:
    """The tenant of the request's API key; 401 without a known key."""
    presented = key
    if presented is None:
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            presented = auth[7:].strip()
    keys: KeyRing = request.app.state.keys
    found = keys.tenant_for(presented)
    if found is None:
        raise HTTPException(
            401,
            "X-API-Key: missing or unknown API key",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    return found


Tenant = Annotated[str, Depends(_tenant)]


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body: larger than {limit} bytes")


class Metrics:
    """Request counts and latencies of this process, in Prometheus text format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.buckets = [0] * len(_LATENCY_BUCKETS)
        self.latency_sum = 0.0
        self.latency_count = 0

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            self.latency_sum += seconds
            self.latency_count += 1
            for i, edge in enumerate(_LATENCY_BUCKETS):
                if seconds <= edge:
                    self.buckets[i] += 1

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP rayprice_requests_total HTTP requests by route and status.",
                "# TYPE rayprice_requests_total counter",
            ]
            for (method, route, status), n in sorted(self.requests.items()):
                lines.append(
                    f'rayprice_requests_total{{method="{method}",route="{route}",'
                    f'status="{status}"}} {n}'
                )
            lines += [
                "# HELP rayprice_request_seconds Request latency in this process.",
                "# TYPE rayprice_request_seconds histogram",
            ]
            for edge, n in zip(_LATENCY_BUCKETS, self.buckets):
                le = "+Inf" if edge == float("inf") else f"{edge:g}"
                lines.append(f'rayprice_request_seconds_bucket{{le="{le}"}} {n}')
            lines.append(f"rayprice_request_seconds_sum {self.latency_sum:.6f}")
            lines.append(f"rayprice_request_seconds_count {self.latency_count}")
        return "\n".join(lines) + "\n"


class _GuardMiddleware:
    """Refuses oversized bodies (413) and records every request's metrics."""

    def __init__(self, app: Any, max_body_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        limit = self.max_body_bytes

        async def reply(code: int, detail: str) -> None:
            await JSONResponse({"detail": detail}, status_code=code)(
                scope, receive, send
            )

        async def recording_send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            declared = dict(scope.get("headers") or []).get(b"content-length")
            if declared is not None and (
                not declared.isdigit() or int(declared) > limit
            ):
                # A length that is not a number cannot be checked: refused too.
                status = 413
                await reply(status, f"request body: larger than {limit} bytes")
                return
            await self.app(scope, limited_receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.record(
                scope.get("method", ""), route, status, time.perf_counter() - started
            )


def create_app(
    service: PricingService,
    keys: KeyRing,
    act: Act | None = None,
) -> FastAPI:
    """The pricing API over ``service``.

    Args:
        service: the core (storage, guardrails, explanations, policy manifest).
        keys: the API keys and their tenants.
        act: runs the policy on one observation; default the service's own policy
            in a worker thread.
    """
    if act is None:

        async def act(observation: np.ndarray) -> float:
            policy = service._local_policy()
            actions = await run_in_threadpool(policy.act, observation[None, :])
            return float(actions[0])

    run_policy: Act = act
    metrics = Metrics()
    app = FastAPI(
        title="rayprice pricing service",
        version="1",
        description=(
            "Quotes prices for your markets with a meta-learned policy that adapts "
            "to the sales you report. Create a market, ask for a quote, report the "
            "period's sales for that quote, ask again."
        ),
    )
    app.state.metrics = metrics
    app.state.service = service
    app.state.keys = keys
    app.add_middleware(
        _GuardMiddleware,
        max_body_bytes=service.settings.max_body_bytes,
        metrics=metrics,
    )

    # Errors.

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, err: ServiceError) -> JSONResponse:
        if err.status == 422:
            loc = list(err.field) if err.field else ["body"]
            body: Any = {
                "detail": [{"loc": loc, "msg": err.message, "type": "value_error"}]
            }
        else:
            body = {"detail": err.message}
        return JSONResponse(body, status_code=err.status)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, err: HTTPException) -> JSONResponse:
        if err.status_code == 400:
            # FastAPI's answer to a body it cannot decode: a bad value of `body`.
            detail: Any = [
                {"loc": ["body"], "msg": "not UTF-8 JSON", "type": "json_invalid"}
            ]
            return JSONResponse({"detail": detail}, status_code=422)
        return JSONResponse(
            {"detail": err.detail},
            status_code=err.status_code,
            headers=getattr(err, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(
        _: Request, err: RequestValidationError
    ) -> JSONResponse:
        # Only where and what: the offending input may be NaN or huge.
        detail = [
            {
                "loc": [
                    str(x) if not isinstance(x, int) else x for x in e.get("loc", ())
                ],
                "msg": str(e.get("msg", "invalid value")),
                "type": str(e.get("type", "value_error")),
            }
            for e in err.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    # Health, readiness, metrics.

    @app.get("/v1/health", response_model=HealthOut, tags=["operations"])
    async def health() -> HealthOut:
        """Liveness: the process answers. Needs no key."""
        return HealthOut(status="ok")

    @app.get(
        "/v1/ready",
        response_model=ReadyOut,
        tags=["operations"],
        responses={503: {"model": ErrorOut, "description": "Not ready."}},
    )
    def ready() -> Any:
        """Readiness: the database answers and the policy is known. Needs no key."""
        try:
            return ReadyOut(**service.ready())
        except Exception as err:  # noqa: BLE001 - any failure means not ready
            logger.warning("not ready: %s", err)
            return JSONResponse({"detail": f"not ready: {err}"}, status_code=503)

    @app.get(
        "/v1/metrics",
        response_class=PlainTextResponse,
        tags=["operations"],
        responses={
            401: {
                "description": _ERRORS[401]["description"],
                # Errors are JSON even where the answer is text.
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/ErrorOut"}
                    }
                },
            }
        },
    )
    async def get_metrics(_: Tenant) -> PlainTextResponse:
        """Request counts and latencies of the answering process (Prometheus text)."""
        return PlainTextResponse(metrics.render())

    # Markets.

    @app.put(
        "/v1/markets/{market_id}",
        response_model=MarketOut,
        tags=["markets"],
        responses={
            201: {"model": MarketOut, "description": "Created."},
            **_ERRORS,
            **_CONFLICT,
        },
    )
    def put_market(
        market_id: MarketIdPath, body: MarketIn, response: Response, who: Tenant
    ) -> MarketOut:
        """Create a market (201) or update its settings (200); history only on creation."""
        out, created = service.put_market(who, market_id, body)
        response.status_code = 201 if created else 200
        return out

    @app.get(
        "/v1/markets/{market_id}",
        response_model=MarketOut,
        tags=["markets"],
        responses=_ERRORS,
    )
    def get_market(market_id: MarketIdPath, who: Tenant) -> MarketOut:
        """A market's settings and state."""
        return service.get_market(who, market_id)

    @app.get(
        "/v1/markets/{market_id}/history",
        response_model=HistoryOut,
        tags=["markets"],
        responses=_ERRORS,
    )
    def get_history(
        market_id: MarketIdPath,
        who: Tenant,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> HistoryOut:
        """A page of a market's history, oldest first."""
        return service.history(who, market_id, offset, limit)

    # Quotes and sales.

    @app.post(
        "/v1/markets/{market_id}/quotes",
        response_model=QuoteOut,
        status_code=201,
        tags=["quotes"],
        responses=_ERRORS,
    )
    async def post_quote(
        market_id: MarketIdPath, who: Tenant, body: QuoteIn | None = None
    ) -> QuoteOut:
        """A price for the market's coming period, stored with its quote id."""
        draft = await run_in_threadpool(
            service.prepare_quote, who, market_id, body or QuoteIn()
        )
        action = await run_policy(draft.observation)
        return await run_in_threadpool(service.finish_quote, draft, action)

    @app.post(
        "/v1/markets/{market_id}/quotes/{quote_id}/sales",
        response_model=SaleOut,
        status_code=201,
        tags=["quotes"],
        responses={
            200: {"model": SaleOut, "description": "The same report again."},
            **_ERRORS,
            **_CONFLICT,
        },
    )
    def post_sale(
        market_id: MarketIdPath,
        quote_id: QuoteIdPath,
        body: SaleIn,
        response: Response,
        who: Tenant,
    ) -> SaleOut:
        """Report the sales of the period a quote priced; stored before the answer.

        Reporting the same figures again returns the stored acknowledgement (200);
        different figures for a reported quote get 409.
        """
        ack, new = service.report_sale(who, market_id, quote_id, body)
        response.status_code = 201 if new else 200
        return ack

    @app.post(
        "/v1/quote",
        response_model=QuoteOut,
        tags=["quotes"],
        responses=_ERRORS,
    )
    async def stateless_quote(body: StatelessQuoteIn, _: Tenant) -> QuoteOut:
        """A price for a market given whole, history included; nothing is stored."""
        draft = await run_in_threadpool(service.prepare_stateless, body)
        action = await run_policy(draft.observation)
        return service.finish_quote(draft, action, store=False)

    return app
