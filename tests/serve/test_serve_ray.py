"""The pricing service on a real local Ray Serve: HTTP end to end, batching, a replica kill."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.serve.conftest import HEADERS_A, KEY_A, MARKET, free_port, wait_ready

APP_NAME = "rayprice"


@pytest.fixture(scope="module")
def service_url(
    tmp_path_factory: pytest.TempPathFactory, ray_session_module: None
) -> Iterator[str]:
    from ray import serve

    from rayprice.serve.app import build_app
    from rayprice.serve.settings import ServeSettings

    folder = tmp_path_factory.mktemp("serve")
    keys = folder / "keys.txt"
    keys.write_text(f"# tenant:key\nshop-a:{KEY_A}\n")
    settings = ServeSettings(
        db_path=folder / "serve.db",
        api_keys_file=keys,
        replica_cpus=0.1,
        batch_wait_s=0.01,
    )
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app(settings), name=APP_NAME, route_prefix="/")
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()


@pytest.fixture(scope="module")
def ray_session_module() -> Iterator[None]:
    """The shared local Ray (as tests/conftest.py's ray_session), for a module fixture."""
    import ray

    from tests.conftest import start_local_ray

    if not ray.is_initialized():
        start_local_ray()
    yield


@pytest.mark.slow
def test_walk_through_over_http(service_url: str) -> None:
    base = f"{service_url}/v1/markets/shoe-1"
    assert requests.get(f"{service_url}/v1/health", timeout=30).json() == {
        "status": "ok"
    }
    assert requests.get(base, timeout=30).status_code == 401
    spec = requests.get(f"{service_url}/openapi.json", timeout=30).json()
    assert "/v1/markets/{market_id}/quotes/{quote_id}/sales" in spec["paths"]
    assert requests.get(f"{service_url}/docs", timeout=30).status_code == 200

    assert (
        requests.put(base, json=MARKET, headers=HEADERS_A, timeout=30).status_code
        == 201
    )
    first = requests.post(f"{base}/quotes", headers=HEADERS_A, timeout=30).json()
    ack = requests.post(
        f"{base}/quotes/{first['quote_id']}/sales",
        json={"units_sold": 35, "rival_prices": [18.0, 19.0]},
        headers=HEADERS_A,
        timeout=30,
    )
    assert ack.status_code == 201 and ack.json()["periods"] == 1
    second = requests.post(f"{base}/quotes", headers=HEADERS_A, timeout=30).json()
    assert second["period"] == 1
    assert second["raw_price"] != pytest.approx(first["raw_price"], abs=1e-6)
    bad = requests.post(
        f"{base}/quotes/{second['quote_id']}/sales",
        data=b'{"units_sold": -3}',
        headers={**HEADERS_A, "content-type": "application/json"},
        timeout=30,
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "units_sold"]


@pytest.mark.slow
def test_concurrent_quotes_are_batched(service_url: str) -> None:
    from ray import serve

    base = f"{service_url}/v1/markets/batch-1"
    requests.put(base, json=MARKET, headers=HEADERS_A, timeout=30)

    def ask(_: int) -> int:
        return requests.post(
            f"{base}/quotes", headers=HEADERS_A, timeout=60
        ).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(ask, range(48)))
    assert codes == [201] * 48
    policy = serve.get_deployment_handle("PricingPolicy", app_name=APP_NAME)
    stats = policy.stats.remote().result()
    assert stats["largest_batch"] > 1, stats


@pytest.mark.slow
def test_acknowledged_sales_survive_killing_the_ingress_replica(
    service_url: str,
) -> None:
    import ray

    base = f"{service_url}/v1/markets/kill-1"
    requests.put(base, json=MARKET, headers=HEADERS_A, timeout=30)
    quotes = [
        requests.post(f"{base}/quotes", headers=HEADERS_A, timeout=30).json()[
            "quote_id"
        ]
        for _ in range(8)
    ]
    acked: dict[str, Any] = {}
    for quote_id in quotes:
        response = requests.post(
            f"{base}/quotes/{quote_id}/sales",
            json={"units_sold": 2.0},
            headers=HEADERS_A,
            timeout=30,
        )
        assert response.status_code == 201
        acked[quote_id] = response.json()

    # Kill every ingress replica right after the acknowledgements.
    names = [
        a
        for a in ray.util.list_named_actors(all_namespaces=True)
        if "PricingAPI" in a["name"]
    ]
    assert names, ray.util.list_named_actors(all_namespaces=True)
    for actor in names:
        ray.kill(
            ray.get_actor(actor["name"], namespace=actor["namespace"]), no_restart=True
        )

    # Serve starts a new replica; it rebuilds the market from the database.
    wait_ready(service_url)
    deadline = time.monotonic() + 120
    while True:
        response = requests.get(f"{base}/history", headers=HEADERS_A, timeout=30)
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    stored = {p["quote_id"] for p in response.json()["periods"]}
    assert set(acked) <= stored
    state = requests.get(base, headers=HEADERS_A, timeout=30).json()
    assert state["periods"] == len(acked)
    assert state["stock"] == MARKET["stock"] - 2.0 * len(acked)


def test_serve_config_file_names_the_app(tmp_path: Path) -> None:
    import yaml

    from rayprice.serve import app as app_module

    config_file = Path(app_module.__file__).with_name("serve_config.yaml")
    config = yaml.safe_load(config_file.read_text())
    application = config["applications"][0]
    assert application["import_path"] == "rayprice.serve.app:app"
    names = {d["name"] for d in application["deployments"]}
    assert names == {"PricingAPI", "PricingPolicy"}
    policy = next(d for d in application["deployments"] if d["name"] == "PricingPolicy")
    # Room for a full batch: max_ongoing_requests >= max_batch_size (16).
    assert policy["max_ongoing_requests"] >= 16
    assert (
        policy["autoscaling_config"]["max_replicas"]
        >= policy["autoscaling_config"]["min_replicas"]
    )


def test_app_for_serve_run_needs_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from rayprice.serve import app as app_module
    from rayprice.serve.auth import AuthConfigError

    monkeypatch.delenv("RAYPRICE_API_KEYS", raising=False)
    monkeypatch.delenv("RAYPRICE_INSECURE_NO_AUTH", raising=False)
    with pytest.raises(AuthConfigError, match="RAYPRICE_API_KEYS"):
        app_module.app  # noqa: B018 - building the app is the test
    monkeypatch.setenv("RAYPRICE_API_KEYS", f"shop-a:{KEY_A}")
    assert type(app_module.app).__name__ == "Application"


def test_cli_serve_refuses_to_run_without_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from rayprice.cli import app as cli

    monkeypatch.delenv("RAYPRICE_API_KEYS", raising=False)
    monkeypatch.delenv("RAYPRICE_INSECURE_NO_AUTH", raising=False)
    result = CliRunner().invoke(cli, ["serve", "--port", "8999"])
    assert result.exit_code == 2
    assert "--insecure-no-auth" in result.output
    short = CliRunner().invoke(
        cli, ["serve"], env={"RAYPRICE_API_KEYS": "shop-a:short"}
    )
    assert short.exit_code == 2 and "at least 16" in short.output


def test_cli_exports_the_audit_log(tmp_path: Path, make_client: Any) -> None:
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from rayprice.cli import app as cli

    client = make_client()
    client.put("/v1/markets/m1", json=MARKET, headers=HEADERS_A)
    client.post("/v1/markets/m1/quotes", headers=HEADERS_A)
    out = tmp_path / "audit.parquet"
    db = client.app.state.service.storage.path
    result = CliRunner().invoke(
        cli, ["serve", "--db", str(db), "--export-audit", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).column("kind").to_pylist() == ["market", "quote"]
