"""Property-based fuzzing of the pricing API against its own OpenAPI spec (schemathesis).

Every operation gets generated requests, valid and invalid, sent in-process to
the FastAPI app with a valid key; no response may be a server error, and every
response must match the spec (status codes, content types, bodies). Half the
generated market and quote ids are swapped for real ones so that quotes and
sales reach the code behind the 404.
"""

from __future__ import annotations

import atexit
import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.serve.conftest import HEADERS_A, MARKET

EXAMPLES = 25
_turn = itertools.count()


def _build_app() -> tuple[Any, list[str]]:
    """The app over a fresh database with one market and three open quotes."""
    from fastapi.testclient import TestClient

    from rayprice.serve.api import create_app
    from rayprice.serve.auth import KeyRing
    from rayprice.serve.service import PricingService
    from rayprice.serve.settings import ServeSettings
    from tests.serve.conftest import KEY_A

    folder = tempfile.mkdtemp(prefix="rayprice-fuzz-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    db = Path(folder) / "fuzz.db"
    service = PricingService(ServeSettings(db_path=db))
    app = create_app(service, KeyRing(keys=(("shop-a", KEY_A.encode()),)))
    with TestClient(app) as client:
        client.put("/v1/markets/fuzz-market", json=MARKET, headers=HEADERS_A)
        quotes = [
            client.post("/v1/markets/fuzz-market/quotes", headers=HEADERS_A).json()[
                "quote_id"
            ]
            for _ in range(3)
        ]
    return app, quotes


# The schema is loaded when the module is collected: schemathesis's pytest
# integration parametrizes one test per API operation from it.
APP, QUOTES = _build_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_responses_match_the_spec(case: Any) -> None:
    params = case.path_parameters or {}
    if "market_id" in params and next(_turn) % 2 == 0:
        params["market_id"] = "fuzz-market"
        if "quote_id" in params:
            params["quote_id"] = QUOTES[next(_turn) % 3]
    case.call_and_validate(
        headers=HEADERS_A,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
