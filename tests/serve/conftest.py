"""Fixtures of the pricing service tests: a service on a temporary database."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

KEY_A = "a" * 8 + "-key-of-shop-a-0001"
KEY_B = "b" * 8 + "-key-of-shop-b-0002"
HEADERS_A = {"X-API-Key": KEY_A}
HEADERS_B = {"X-API-Key": KEY_B}

#: A market like retail-v1's: unit cost 10, list price 20, 100 customers a day.
MARKET: dict[str, Any] = {
    "unit_cost": 10.0,
    "list_price": 20.0,
    "currency": "EUR",
    "market_size": 100.0,
    "stock": 200.0,
    "rival_prices": [19.5, 21.0],
}


def wait_ready(
    url: str, seconds: float = 120, still_alive: Callable[[], None] | None = None
) -> None:
    """Polls ``{url}/v1/ready`` until it answers OK; ``still_alive`` may raise."""
    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if still_alive is not None:
            still_alive()
        try:
            if requests.get(f"{url}/v1/ready", timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} not ready after {seconds} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def policy() -> Any:
    """The shipped default policy, loaded once per module."""
    from rayprice.serve.policy import ServedPolicy

    return ServedPolicy()


@pytest.fixture
def make_client(tmp_path: Path, policy: Any) -> Iterator[Any]:
    """Builds in-process API clients over one database (a restart is a new client)."""
    from fastapi.testclient import TestClient

    from rayprice.serve.api import create_app
    from rayprice.serve.auth import KeyRing
    from rayprice.serve.service import PricingService
    from rayprice.serve.settings import ServeSettings

    clients: list[Any] = []

    def make(**settings: Any) -> Any:
        config = ServeSettings(db_path=tmp_path / "serve.db", **settings)
        keys = KeyRing(keys=(("shop-a", KEY_A.encode()), ("shop-b", KEY_B.encode())))
        service = PricingService(config, policy=policy)
        client = TestClient(create_app(service, keys))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Any) -> Any:
    return make_client()
