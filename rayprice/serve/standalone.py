"""The pricing API under plain uvicorn, without Ray: one process, policy in-process.

How to run::

    python -m rayprice.serve.standalone --port 8100 --db runs/serve/rayprice.db \\
        --insecure-no-auth

It serves the same app as the Serve deployment (the same routes, storage and
guardrails), with the policy run in the request's worker thread instead of a
batched deployment. The load benchmark uses it as the peer that shows Serve's
overhead, and the crash test as the process it kills.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rayprice.serve.settings import ServeSettings

logger = logging.getLogger(__name__)


def build_standalone_app(settings: ServeSettings) -> object:
    """The FastAPI app with its policy loaded in this process."""
    from rayprice.serve.api import create_app
    from rayprice.serve.auth import load_keys
    from rayprice.serve.policy import ServedPolicy
    from rayprice.serve.service import PricingService

    keys = load_keys(settings)
    service = PricingService(settings, policy=ServedPolicy(settings.bundle))
    return create_app(service, keys)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until interrupted."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--api-keys-file", type=Path, default=None)
    parser.add_argument("--insecure-no-auth", action="store_true", default=None)
    args = parser.parse_args(argv)
    settings = ServeSettings.from_env(
        host=args.host,
        port=args.port,
        db_path=args.db,
        bundle=args.bundle,
        api_keys_file=args.api_keys_file,
        insecure_no_auth=args.insecure_no_auth,
    )
    app = build_standalone_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
