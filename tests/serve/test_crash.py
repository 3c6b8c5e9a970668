"""No acknowledged sale is lost when the serving process dies.

A standalone service process (the same app the Serve replicas run) takes sales
reports from concurrent clients and is killed with SIGKILL right after the
first acknowledgements arrive, with reports still in flight. A new process on
the same database must hold every acknowledged sale, and each once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.serve.conftest import HEADERS_A, KEY_A, MARKET, free_port

QUOTES = 60
KILL_AFTER_ACKS = 15


def start_service(db: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RAYPRICE_API_KEYS": f"shop-a:{KEY_A}"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rayprice.serve.standalone",
            "--port",
            str(port),
            "--db",
            str(db),
        ],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).ok:
                return process
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("service did not come up in 120 s")


@pytest.mark.slow
def test_every_acknowledged_sale_survives_a_kill(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    log = tmp_path / "service.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1/markets/shoe-1"
    process = start_service(db, port, log)
    acked: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()
    try:
        assert requests.put(base, json=MARKET, headers=HEADERS_A, timeout=30).ok
        quote_ids = [
            requests.post(f"{base}/quotes", headers=HEADERS_A, timeout=30).json()[
                "quote_id"
            ]
            for _ in range(QUOTES)
        ]
        killed = threading.Event()

        def report(quote_id: str) -> None:
            try:
                response = requests.post(
                    f"{base}/quotes/{quote_id}/sales",
                    json={"units_sold": 1.0},
                    headers=HEADERS_A,
                    timeout=30,
                )
            except requests.RequestException:
                return  # never acknowledged: may or may not be stored
            if response.status_code in (200, 201):
                with lock:
                    acked[quote_id] = response.json()
                    if len(acked) >= KILL_AFTER_ACKS and not killed.is_set():
                        # The moment enough acknowledgements are in, kill -9.
                        process.send_signal(signal.SIGKILL)
                        killed.set()

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(report, quote_ids))
        assert killed.is_set(), "the service was never killed"
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert len(acked) < QUOTES, "every report finished before the kill"
    restarted = start_service(db, port, log)
    try:
        history = requests.get(
            f"{base}/history?limit=1000", headers=HEADERS_A, timeout=30
        ).json()
        stored = [p["quote_id"] for p in history["periods"]]
        assert set(acked) <= set(stored), set(acked) - set(stored)
        assert len(stored) == len(set(stored)) == history["total"]
        state = requests.get(base, headers=HEADERS_A, timeout=30).json()
        assert state["stock"] == MARKET["stock"] - len(stored)
        # A client retrying an acknowledged report gets the stored answer.
        some = next(iter(acked))
        again = requests.post(
            f"{base}/quotes/{some}/sales",
            json={"units_sold": 1.0},
            headers=HEADERS_A,
            timeout=30,
        )
        assert again.status_code == 200 and again.json() == acked[some]
    finally:
        restarted.kill()
        restarted.wait()
    print(f"acknowledged {len(acked)} of {QUOTES}, stored {len(stored)}")
