"""Load on the pricing service: Ray Serve against the same app under bare uvicorn.

How to run::

    python benchmarks/serve_load.py                 # rates 25 50 100 150 200 300 req/s
    python benchmarks/serve_load.py --rates 50 100 --seconds 5 --json out.json

It starts the pricing service on Ray Serve (a local Ray; the FastAPI ingress
and the batched policy deployment, on a temporary SQLite database, with an API
key), creates markets, then drives it on loopback with an open-loop client
(asyncio + aiohttp): requests are sent on a fixed schedule at each rate, half
quotes for a random market and half sales reports for an earlier quote, and
each latency runs from the request's scheduled time, so a server that falls
behind is charged for the queue. Then it does the same against the peer: the
same app, storage and policy in one bare uvicorn process
(``python -m rayprice.serve.standalone``). Figures go to the terminal and to
``benchmarks/results/serve_load.json``.

Serve runs on its fast request path, as ``rayprice serve`` runs it
(``rayprice.serve.settings.FAST_REQUEST_PATH``: the throughput-optimized mode
and HAProxy in front of the ingress replicas); ``RAY_SERVE_ENABLE_HA_PROXY=0``
measures Serve's Python proxy instead, ``RAY_SERVE_THROUGHPUT_OPTIMIZED=0`` the
standard request path.

What to expect: on 2 cores shared with the client, Serve holds 100 req/s with
p99 near 25 ms and 150 req/s with p99 between 40 and 100 ms; the bare process
holds 200 req/s (p99 near 75 ms). Serve's request path (HAProxy, the ingress
replica, the hop to the policy replica) costs about three times the app's own
latency, which the printed ratio shows. Every quote and every sale commits to
SQLite with ``synchronous=FULL`` before it is answered, so disk fsync latency
is part of every figure. On a shared, busy machine the figures move from run
to run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from rayprice.serve.settings import FAST_REQUEST_PATH, use_fast_request_path

RESULTS = Path(__file__).parent / "results" / "serve_load.json"
MARKETS = 50
TARGET_P99_S = 0.1


def market_body(i: int) -> dict[str, Any]:
    list_price = 5.0 * 1.1 ** (i % 40)
    return {
        "unit_cost": round(list_price * 0.5, 2),
        "list_price": round(list_price, 2),
        "currency": "EUR",
        "market_size": 100.0 + 5 * i,
        "stock": 10_000.0,
        "rival_prices": [round(list_price * 0.95, 2), round(list_price * 1.05, 2)],
        "guardrails": {"max_change": 0.2, "price_ending": 0.99},
    }


async def setup_markets(base: str, headers: dict[str, str]) -> list[str]:
    async with aiohttp.ClientSession(headers=headers) as session:
        ids = [f"bench-{i}" for i in range(MARKETS)]
        for i, market_id in enumerate(ids):
            async with session.put(
                f"{base}/v1/markets/{market_id}", json=market_body(i)
            ) as r:
                if r.status not in (200, 201):
                    raise RuntimeError(f"setup: {r.status} {await r.text()}")
        return ids


async def run_phase(
    base: str,
    headers: dict[str, str],
    markets: list[str],
    rate: float,
    seconds: float,
    seed: int,
) -> dict[str, Any]:
    """Send ``rate * seconds`` requests on a fixed schedule; latencies from schedule."""
    rng = random.Random(seed)
    n = int(rate * seconds)
    pending: list[tuple[str, str]] = []
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {"quote": [], "sale": []}
    errors: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=1024)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        headers=headers, connector=connector, timeout=timeout
    ) as session:
        start = time.perf_counter() + 0.2

        async def one(k: int) -> None:
            scheduled = start + k / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            if pending and rng.random() < 0.5:
                market_id, quote_id = pending.pop(rng.randrange(len(pending)))
                kind = "sale"
                url = f"{base}/v1/markets/{market_id}/quotes/{quote_id}/sales"
                body: dict[str, Any] = {"units_sold": float(rng.randint(0, 20))}
            else:
                market_id = rng.choice(markets)
                kind = "quote"
                url = f"{base}/v1/markets/{market_id}/quotes"
                body = {}
            try:
                async with session.post(url, json=body) as r:
                    payload = await r.json(content_type=None)
                    status = r.status
            except (TimeoutError, aiohttp.ClientError) as err:
                errors[type(err).__name__] = errors.get(type(err).__name__, 0) + 1
                return
            done = time.perf_counter() - scheduled
            if status not in (200, 201):
                errors[str(status)] = errors.get(str(status), 0) + 1
                return
            latencies.append(done)
            by_kind[kind].append(done)
            if kind == "quote":
                pending.append((market_id, payload["quote_id"]))

        await asyncio.gather(*(one(k) for k in range(n)))
        elapsed = time.perf_counter() - start

    def pct(values: list[float], q: float) -> float | None:
        return float(np.percentile(values, q) * 1000) if values else None

    return {
        "rate": rate,
        "requests": n,
        "ok": len(latencies),
        "errors": errors,
        "throughput": len(latencies) / elapsed,
        "p50_ms": pct(latencies, 50),
        "p99_ms": pct(latencies, 99),
        "quote_p50_ms": pct(by_kind["quote"], 50),
        "quote_p99_ms": pct(by_kind["quote"], 99),
        "sale_p50_ms": pct(by_kind["sale"], 50),
        "sale_p99_ms": pct(by_kind["sale"], 99),
    }


def held(phase: dict[str, Any]) -> bool:
    """Whether a phase kept up with its rate with p99 under the target."""
    return (
        not phase["errors"]
        and phase["throughput"] >= 0.95 * phase["rate"]
        and phase["p99_ms"] is not None
        and phase["p99_ms"] < TARGET_P99_S * 1000
    )


async def drive(
    name: str, base: str, headers: dict[str, str], rates: list[float], seconds: float
) -> list[dict[str, Any]]:
    markets = await setup_markets(base, headers)
    # Warm up: the first requests load code paths and the policy.
    await run_phase(base, headers, markets, 20.0, 2.0, seed=0)
    phases = []
    for i, rate in enumerate(rates):
        phase = await run_phase(base, headers, markets, rate, seconds, seed=i + 1)
        phase["target"] = name
        phases.append(phase)
        print(
            f"{name:6s} {rate:6.0f} req/s -> {phase['throughput']:7.1f} req/s  "
            f"p50 {phase['p50_ms'] or float('nan'):7.1f} ms  "
            f"p99 {phase['p99_ms'] or float('nan'):7.1f} ms  "
            f"errors {phase['errors'] or 0}",
            flush=True,
        )
        if phase["throughput"] < 0.8 * rate:
            # Saturated: higher rates would only queue for minutes.
            print(f"{name:6s} saturated; higher rates skipped", flush=True)
            break
    return phases


def wait_ready(base: str, seconds: float = 180) -> None:
    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/v1/ready", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{base} not ready after {seconds} s")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_serve(
    folder: Path,
    key: str,
    rates: list[float],
    seconds: float,
    num_cpus: int,
    max_replicas: int,
) -> list[dict[str, Any]]:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # As `rayprice serve` runs it (see the module docstring for the other paths).
    use_fast_request_path()
    import ray
    from ray import serve

    from rayprice.serve.app import build_app
    from rayprice.serve.settings import ServeSettings

    os.environ["RAYPRICE_API_KEYS"] = f"bench:{key}"
    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=128 * 1024 * 1024,
        _temp_dir=str(folder / "ray"),
    )
    try:
        port = free_port()
        serve.start(
            http_options={"host": "127.0.0.1", "port": port},
            logging_config={"enable_access_log": False},
        )
        settings = ServeSettings(
            db_path=folder / "serve.db", replica_cpus=0.5, max_replicas=max_replicas
        )
        serve.run(build_app(settings), name="rayprice", route_prefix="/")
        base = f"http://127.0.0.1:{port}"
        wait_ready(base)
        return asyncio.run(drive("serve", base, {"X-API-Key": key}, rates, seconds))
    finally:
        serve.shutdown()
        ray.shutdown()


def bench_peer(
    folder: Path, key: str, rates: list[float], seconds: float
) -> list[dict[str, Any]]:
    port = free_port()
    env = {**os.environ, "RAYPRICE_API_KEYS": f"bench:{key}"}
    log = (folder / "peer.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rayprice.serve.standalone",
            "--port",
            str(port),
            "--db",
            str(folder / "peer.db"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base)
        return asyncio.run(drive("peer", base, {"X-API-Key": key}, rates, seconds))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rates", type=float, nargs="+", default=[25, 50, 100, 150, 200, 300]
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument(
        "--max-replicas",
        type=int,
        default=2,
        help="Autoscaling limit per deployment (the service's default, 2).",
    )
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument(
        "--skip-serve", action="store_true", help="Measure only the bare peer."
    )
    parser.add_argument(
        "--skip-peer", action="store_true", help="Measure only Ray Serve."
    )
    args = parser.parse_args()

    key = secrets.token_hex(24)
    with tempfile.TemporaryDirectory(prefix="rayprice-load-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        serve_phases = (
            []
            if args.skip_serve
            else bench_serve(
                folder,
                key,
                args.rates,
                args.seconds,
                args.num_cpus,
                args.max_replicas,
            )
        )
        peer_phases = (
            [] if args.skip_peer else bench_peer(folder, key, args.rates, args.seconds)
        )

    def best(phases: list[dict[str, Any]]) -> float | None:
        ok = [p["rate"] for p in phases if held(p)]
        return max(ok) if ok else None

    summary: dict[str, Any] = {
        "serve_max_rate_p99_under_100ms": best(serve_phases),
        "peer_max_rate_p99_under_100ms": best(peer_phases),
    }
    at_100 = {p["target"]: p for p in serve_phases + peer_phases if p["rate"] == 100}
    if "serve" in at_100 and "peer" in at_100:
        serve_100, peer_100 = at_100["serve"], at_100["peer"]
        summary["serve_p99_ms_at_100"] = serve_100["p99_ms"]
        summary["peer_p99_ms_at_100"] = peer_100["p99_ms"]
        summary["p50_ratio_serve_over_peer_at_100"] = (
            serve_100["p50_ms"] / peer_100["p50_ms"]
        )
        summary["p99_ratio_serve_over_peer_at_100"] = (
            serve_100["p99_ms"] / peer_100["p99_ms"]
        )
    payload = {
        "settings": {
            "rates": args.rates,
            "seconds": args.seconds,
            "markets": MARKETS,
            "num_cpus": args.num_cpus,
            "max_replicas": args.max_replicas,
            "serve_request_path": {
                name: os.environ.get(name, value)
                for name, value in FAST_REQUEST_PATH.items()
            },
            "mix": "half quotes, half sales reports of earlier quotes",
            "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg(),
            "python": platform.python_version(),
        },
        "serve": serve_phases,
        "peer": peer_phases,
        "summary": summary,
        "seconds": time.perf_counter() - started,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
