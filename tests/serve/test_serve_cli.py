"""`rayprice serve` as a user starts it: its own Ray, Serve's fast request path.

The other Ray Serve tests share the test session's Ray, which runs Serve's
standard request path. This one runs the command in a process of its own, with
HAProxy in front of the ingress replicas, and walks a market through a quote, a
sale and the next quote over HTTP.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests

from tests.serve.conftest import HEADERS_A, KEY_A, MARKET, free_port, wait_ready


@pytest.mark.slow
def test_rayprice_serve_answers_through_haproxy(tmp_path: Path) -> None:
    port = free_port()
    # HAProxy's sockets live in a hashed subfolder of this one and their paths
    # may not exceed 97 bytes, more than a pytest folder leaves.
    haproxy = Path(tempfile.mkdtemp(prefix="rp-haproxy-", dir="/tmp"))
    env = {
        **os.environ,
        "RAYPRICE_API_KEYS": f"shop-a:{KEY_A}",
        # HAProxy's files, which default to /tmp/haproxy-serve.
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(haproxy / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(haproxy / "admin.sock"),
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(haproxy / "metrics.sock"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(haproxy),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(haproxy / "server-state"),
    }
    for name in ("RAY_SERVE_THROUGHPUT_OPTIMIZED", "RAY_SERVE_ENABLE_HA_PROXY"):
        env.pop(name, None)
    log = tmp_path / "serve.log"
    # The console script pip installed beside this Python.
    rayprice = Path(sys.executable).parent / "rayprice"
    command = [str(rayprice), "serve", "--port", str(port)]
    command += ["--db", str(tmp_path / "serve.db"), "--num-cpus", "2"]
    process = subprocess.Popen(
        command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:

        def still_alive() -> None:
            assert process.poll() is None, log.read_text()[-3000:]

        wait_ready(f"http://127.0.0.1:{port}", seconds=180, still_alive=still_alive)

        market = f"{base}/markets/mug-1"
        put = requests.put(market, json=MARKET, headers=HEADERS_A, timeout=30)
        assert put.status_code == 201, put.text
        first = requests.post(f"{market}/quotes", headers=HEADERS_A, timeout=30)
        assert first.status_code == 201, first.text
        sale = requests.post(
            f"{market}/quotes/{first.json()['quote_id']}/sales",
            json={"units_sold": 7},
            headers=HEADERS_A,
            timeout=30,
        )
        assert sale.status_code == 201, sale.text
        second = requests.post(f"{market}/quotes", headers=HEADERS_A, timeout=30)
        assert second.json()["period"] == 1
        assert requests.get(market, timeout=30).status_code == 401

        # HAProxy, not Serve's Python proxy, took the requests on the port.
        configs = list(haproxy.rglob("haproxy.cfg"))
        assert configs, f"no HAProxy config under {haproxy}"
        assert f":{port}" in configs[0].read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        finally:
            shutil.rmtree(haproxy, ignore_errors=True)
    assert code == 0, log.read_text()[-3000:]
