"""The pricing service's settings: one typed object, read from arguments or the environment.

Every entry point (``rayprice serve``, ``serve run`` with the shipped config, the
standalone uvicorn runner, the tests) builds a :class:`ServeSettings`. Values not
given come from ``RAYPRICE_*`` environment variables, then from the defaults
below, which work on one machine.

==============================  ===============================================
``RAYPRICE_BUNDLE``             policy bundle folder (default: the shipped one)
``RAYPRICE_SERVE_DB``           SQLite database file
``RAYPRICE_API_KEYS``           ``tenant:key`` pairs, comma-separated
``RAYPRICE_API_KEYS_FILE``      a file of ``tenant:key`` lines
``RAYPRICE_INSECURE_NO_AUTH``   ``1``: serve without keys (local trials only)
==============================  ===============================================
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_DB = Path("runs/serve/rayprice.db")
KEYS_ENV = "RAYPRICE_API_KEYS"
KEYS_FILE_ENV = "RAYPRICE_API_KEYS_FILE"
_TRUE = ("1", "true", "yes", "on")

#: Ray Serve's fast request path, as ``rayprice serve`` and the cluster run it.
#: Throughput-optimized mode runs user code on each replica's own event loop and
#: lets the ingress replicas take HTTP themselves; HAProxy then fronts them in
#: place of Serve's Python proxy, which otherwise relays every request body
#: through actor calls. On 2 cores this took the p99 latency at 100 req/s from
#: 87 ms to about 25 ms (README, "Serving prices"). Ray reads both when it starts.
FAST_REQUEST_PATH = {
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
}


def use_fast_request_path() -> None:
    """Turns on :data:`FAST_REQUEST_PATH` for a Ray this process starts.

    A variable already set wins, so ``RAY_SERVE_ENABLE_HA_PROXY=0`` keeps Serve's
    Python proxy and ``RAY_SERVE_THROUGHPUT_OPTIMIZED=0`` the standard path.
    With HAProxy, the ingress replicas' own ports (30000-31000) listen on every
    interface; they answer only with an API key, like the front port.
    """
    for name, value in FAST_REQUEST_PATH.items():
        os.environ.setdefault(name, value)


class ServeSettings(BaseModel):
    """How the pricing service runs.

    Attributes:
        bundle: the policy bundle folder; ``None`` for the shipped default.
        db_path: the SQLite database holding markets, quotes, sales and the audit
            log (created with its folder on first use).
        api_keys_env: the environment variable holding ``tenant:key`` pairs.
        api_keys_file: a file of ``tenant:key`` lines (``#`` starts a comment).
        insecure_no_auth: serve every request as tenant ``public`` without a key;
            refused unless set, so a service never runs open by accident.
        max_body_bytes: largest request body accepted; larger gets 413.
        host, port: where ``rayprice serve`` listens.
        batch_size: most observations the policy deployment runs in one forward.
        batch_wait_s: how long a batch waits to fill.
        replica_cpus: CPUs reserved per replica (small, so replicas fit a laptop).
        min_replicas, max_replicas: the policy deployment's autoscaling range.
        access_log: let Serve log every request (costs CPU under load; the
            ``/v1/metrics`` route counts requests either way).
    """

    model_config = ConfigDict(extra="forbid")

    bundle: Path | None = None
    db_path: Path = DEFAULT_DB
    api_keys_env: str = KEYS_ENV
    api_keys_file: Path | None = None
    insecure_no_auth: bool = False
    max_body_bytes: int = Field(256 * 1024, ge=1024, le=64 * 1024 * 1024)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    batch_size: int = Field(16, ge=1, le=1024)
    batch_wait_s: float = Field(0.002, ge=0.0, le=1.0)
    replica_cpus: float = Field(0.5, gt=0.0, le=64.0)
    min_replicas: int = Field(1, ge=1)
    max_replicas: int = Field(2, ge=1)
    access_log: bool = False

    @classmethod
    def from_env(cls, **given: Any) -> ServeSettings:
        """Settings from ``given`` values, then ``RAYPRICE_*`` variables, then defaults.

        ``None`` values in ``given`` count as not given.
        """
        values: dict[str, Any] = {}
        env = os.environ
        if env.get("RAYPRICE_BUNDLE"):
            values["bundle"] = Path(env["RAYPRICE_BUNDLE"])
        if env.get("RAYPRICE_SERVE_DB"):
            values["db_path"] = Path(env["RAYPRICE_SERVE_DB"])
        if env.get(KEYS_FILE_ENV):
            values["api_keys_file"] = Path(env[KEYS_FILE_ENV])
        if env.get("RAYPRICE_INSECURE_NO_AUTH", "").lower() in _TRUE:
            values["insecure_no_auth"] = True
        values.update({k: v for k, v in given.items() if v is not None})
        return cls(**values)
