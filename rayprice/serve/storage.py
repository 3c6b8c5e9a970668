"""Durable storage of markets, quotes, sales and the audit log: SQLite in WAL mode.

Nothing about a market lives only in a process: every request reads the market's
state from the database, so a restarted service, or another replica on the same
file, sees every market as it was left. Writes commit with ``synchronous=FULL``
before a request is answered, so an acknowledged sale survives the process.

Tables:

``markets``
    one row per (tenant, market): settings as JSON, stock now, rivals' prices
    now, number of periods, the last quote.
``periods``
    the history of each market, one row per period (given at creation or
    reported as a sale), append-only.
``quotes``
    every quote with the policy's raw price and the guarded price, and the sale
    reported for it (once: a quote's sale is never replaced).
``audit``
    append-only log of every market change, quote and sale, in commit order;
    triggers refuse updates and deletes. :func:`export_audit_parquet` writes it
    to Parquet.

SQLite suits one machine (replicas on one node share the file). Across nodes,
use a server database (PostgreSQL) behind the same functions.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_BUSY_TIMEOUT_MS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS markets (
    tenant TEXT NOT NULL,
    market_id TEXT NOT NULL,
    config TEXT NOT NULL,
    stock REAL,
    rival_prices TEXT NOT NULL,
    periods INTEGER NOT NULL,
    last_price REAL,
    last_quote_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant, market_id)
);
CREATE TABLE IF NOT EXISTS periods (
    tenant TEXT NOT NULL,
    market_id TEXT NOT NULL,
    period INTEGER NOT NULL,
    price REAL NOT NULL,
    units_sold REAL NOT NULL,
    rival_prices TEXT NOT NULL,
    stock_before REAL,
    quote_id TEXT,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (tenant, market_id, period)
);
CREATE TABLE IF NOT EXISTS quotes (
    quote_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    market_id TEXT NOT NULL,
    period INTEGER NOT NULL,
    price REAL NOT NULL,
    raw_price REAL NOT NULL,
    stock REAL,
    rival_prices TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sale_request TEXT,
    sale_response TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    tenant TEXT NOT NULL,
    market_id TEXT,
    kind TEXT NOT NULL,
    quote_id TEXT,
    payload TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS periods_no_update BEFORE UPDATE ON periods
BEGIN SELECT RAISE(ABORT, 'market history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS periods_no_delete BEFORE DELETE ON periods
BEGIN SELECT RAISE(ABORT, 'market history is append-only'); END;
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class MarketRow:
    """A market as stored."""

    tenant: str
    market_id: str
    config: dict[str, Any]
    stock: float | None
    rival_prices: list[float]
    periods: int
    last_price: float | None
    last_quote_id: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class PeriodRow:
    """One period of a market's history as stored."""

    period: int
    price: float
    units_sold: float
    rival_prices: list[float]
    stock_before: float | None
    quote_id: str | None
    recorded_at: str


@dataclass(frozen=True)
class QuoteRow:
    """A quote as stored, with its sale once reported."""

    quote_id: str
    tenant: str
    market_id: str
    period: int
    price: float
    raw_price: float
    stock: float | None
    rival_prices: list[float]
    response: dict[str, Any]
    created_at: str
    sale_request: dict[str, Any] | None
    sale_response: dict[str, Any] | None


class Storage:
    """The service's database; safe to share between threads and processes.

    Each thread gets its own connection. Writes run in ``BEGIN IMMEDIATE``
    transactions, so two replicas never interleave a read-modify-write. Within
    one process, writers also queue on a lock before asking SQLite for its write
    lock: a writer that finds SQLite's lock taken polls for it with sleeps of up
    to 100 ms, which set the service's tail latency under concurrent requests,
    while a thread waiting on the process lock wakes as soon as it is free.

    Args:
        path: the database file; its folder is created.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        # executescript commits on its own; the schema is idempotent.
        self._connection().executescript(_SCHEMA)
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(
                self.path,
                timeout=_BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk (WAL fsynced) before it returns.
            db.execute("PRAGMA synchronous=FULL")
            db.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            self._local.db = db
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, committed on leaving, rolled back on an exception."""
        db = self._connection()
        with self._write_lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def ping(self) -> bool:
        self._connection().execute("SELECT 1").fetchone()
        return True

    # Reads.

    def market(self, tenant: str, market_id: str) -> MarketRow | None:
        row = (
            self._connection()
            .execute(
                "SELECT * FROM markets WHERE tenant = ? AND market_id = ?",
                (tenant, market_id),
            )
            .fetchone()
        )
        return None if row is None else _market_row(row)

    def recent_periods(self, tenant: str, market_id: str, n: int) -> list[PeriodRow]:
        """The last ``n`` periods of a market, oldest first."""
        rows = (
            self._connection()
            .execute(
                "SELECT * FROM periods WHERE tenant = ? AND market_id = ? "
                "ORDER BY period DESC LIMIT ?",
                (tenant, market_id, n),
            )
            .fetchall()
        )
        return [_period_row(r) for r in reversed(rows)]

    def periods(
        self, tenant: str, market_id: str, offset: int, limit: int
    ) -> list[PeriodRow]:
        rows = (
            self._connection()
            .execute(
                "SELECT * FROM periods WHERE tenant = ? AND market_id = ? "
                "AND period >= ? ORDER BY period LIMIT ?",
                (tenant, market_id, offset, limit),
            )
            .fetchall()
        )
        return [_period_row(r) for r in rows]

    def quote(self, tenant: str, quote_id: str) -> QuoteRow | None:
        row = (
            self._connection()
            .execute(
                "SELECT * FROM quotes WHERE tenant = ? AND quote_id = ?",
                (tenant, quote_id),
            )
            .fetchone()
        )
        return None if row is None else _quote_row(row)

    def count(self, table: str) -> int:
        if table not in ("markets", "periods", "quotes", "audit"):
            raise ValueError(f"table: unknown table {table!r}")
        return int(
            self._connection().execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        )

    # Writes, each inside a caller's transaction.

    @staticmethod
    def write_market(db: sqlite3.Connection, row: MarketRow, created: bool) -> None:
        values = (
            _dumps(row.config),
            row.stock,
            _dumps(row.rival_prices),
            row.periods,
            row.last_price,
            row.last_quote_id,
            row.updated_at,
        )
        if created:
            db.execute(
                "INSERT INTO markets (config, stock, rival_prices, periods, last_price, "
                "last_quote_id, updated_at, created_at, tenant, market_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*values, row.created_at, row.tenant, row.market_id),
            )
        else:
            db.execute(
                "UPDATE markets SET config = ?, stock = ?, rival_prices = ?, "
                "periods = ?, last_price = ?, last_quote_id = ?, updated_at = ? "
                "WHERE tenant = ? AND market_id = ?",
                (*values, row.tenant, row.market_id),
            )

    @staticmethod
    def note_quote(
        db: sqlite3.Connection,
        tenant: str,
        market_id: str,
        price: float,
        quote_id: str,
        at: str,
        stock: float | None = None,
    ) -> None:
        """Make a quote the market's last one; ``stock``: the stock the seller gave."""
        db.execute(
            "UPDATE markets SET last_price = ?, last_quote_id = ?, updated_at = ? "
            "WHERE tenant = ? AND market_id = ?",
            (price, quote_id, at, tenant, market_id),
        )
        if stock is not None:
            db.execute(
                "UPDATE markets SET stock = ? WHERE tenant = ? AND market_id = ?",
                (stock, tenant, market_id),
            )

    @staticmethod
    def advance_market(
        db: sqlite3.Connection,
        tenant: str,
        market_id: str,
        periods: int,
        stock: float | None,
        rival_prices: list[float],
        at: str,
    ) -> None:
        """The market's state after a reported period."""
        db.execute(
            "UPDATE markets SET periods = ?, stock = ?, rival_prices = ?, "
            "updated_at = ? WHERE tenant = ? AND market_id = ?",
            (periods, stock, _dumps(rival_prices), at, tenant, market_id),
        )

    @staticmethod
    def append_period(
        db: sqlite3.Connection, tenant: str, market_id: str, row: PeriodRow
    ) -> None:
        db.execute(
            "INSERT INTO periods (tenant, market_id, period, price, units_sold, "
            "rival_prices, stock_before, quote_id, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                tenant,
                market_id,
                row.period,
                row.price,
                row.units_sold,
                _dumps(row.rival_prices),
                row.stock_before,
                row.quote_id,
                row.recorded_at,
            ),
        )

    @staticmethod
    def insert_quote(db: sqlite3.Connection, row: QuoteRow) -> None:
        db.execute(
            "INSERT INTO quotes (quote_id, tenant, market_id, period, price, "
            "raw_price, stock, rival_prices, response, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.quote_id,
                row.tenant,
                row.market_id,
                row.period,
                row.price,
                row.raw_price,
                row.stock,
                _dumps(row.rival_prices),
                _dumps(row.response),
                row.created_at,
            ),
        )

    @staticmethod
    def settle_quote(
        db: sqlite3.Connection,
        quote_id: str,
        request: dict[str, Any],
        response: dict[str, Any],
    ) -> None:
        """Record a quote's sale; refuses a quote already settled."""
        cursor = db.execute(
            "UPDATE quotes SET sale_request = ?, sale_response = ? "
            "WHERE quote_id = ? AND sale_request IS NULL",
            (_dumps(request), _dumps(response), quote_id),
        )
        if cursor.rowcount != 1:
            raise RuntimeError(f"quote {quote_id} was settled concurrently")

    @staticmethod
    def audit(
        db: sqlite3.Connection,
        tenant: str,
        market_id: str | None,
        kind: str,
        quote_id: str | None,
        payload: dict[str, Any],
        at: str,
    ) -> None:
        db.execute(
            "INSERT INTO audit (at, tenant, market_id, kind, quote_id, payload) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (at, tenant, market_id, kind, quote_id, _dumps(payload)),
        )

    def audit_rows(self) -> list[dict[str, Any]]:
        rows = self._connection().execute("SELECT * FROM audit ORDER BY seq").fetchall()
        return [dict(r) for r in rows]


def _floats(text: str) -> list[float]:
    return [float(v) for v in json.loads(text)]


def _market_row(row: sqlite3.Row) -> MarketRow:
    return MarketRow(
        tenant=row["tenant"],
        market_id=row["market_id"],
        config=json.loads(row["config"]),
        stock=row["stock"],
        rival_prices=_floats(row["rival_prices"]),
        periods=int(row["periods"]),
        last_price=row["last_price"],
        last_quote_id=row["last_quote_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _period_row(row: sqlite3.Row) -> PeriodRow:
    return PeriodRow(
        period=int(row["period"]),
        price=float(row["price"]),
        units_sold=float(row["units_sold"]),
        rival_prices=_floats(row["rival_prices"]),
        stock_before=row["stock_before"],
        quote_id=row["quote_id"],
        recorded_at=row["recorded_at"],
    )


def _quote_row(row: sqlite3.Row) -> QuoteRow:
    def maybe(text: str | None) -> dict[str, Any] | None:
        return None if text is None else json.loads(text)

    return QuoteRow(
        quote_id=row["quote_id"],
        tenant=row["tenant"],
        market_id=row["market_id"],
        period=int(row["period"]),
        price=float(row["price"]),
        raw_price=float(row["raw_price"]),
        stock=row["stock"],
        rival_prices=_floats(row["rival_prices"]),
        response=json.loads(row["response"]),
        created_at=row["created_at"],
        sale_request=maybe(row["sale_request"]),
        sale_response=maybe(row["sale_response"]),
    )


def export_audit_parquet(storage: Storage, out: str | Path) -> Path:
    """Write the audit log to a Parquet file, one row per event in commit order.

    Columns: ``seq``, ``at``, ``tenant``, ``market_id``, ``kind`` (``market``,
    ``quote``, ``sale``), ``quote_id``, ``price``, ``raw_price``, ``guardrail``,
    ``units_sold`` (each null where it does not apply) and ``payload`` (the
    event as JSON).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = storage.audit_rows()
    payloads = [json.loads(r["payload"]) for r in rows]

    def pick(key: str) -> list[Any]:
        return [p.get(key) for p in payloads]

    table = pa.table(
        {
            "seq": pa.array([r["seq"] for r in rows], pa.int64()),
            "at": pa.array([r["at"] for r in rows], pa.string()),
            "tenant": pa.array([r["tenant"] for r in rows], pa.string()),
            "market_id": pa.array([r["market_id"] for r in rows], pa.string()),
            "kind": pa.array([r["kind"] for r in rows], pa.string()),
            "quote_id": pa.array([r["quote_id"] for r in rows], pa.string()),
            "price": pa.array(pick("price"), pa.float64()),
            "raw_price": pa.array(pick("raw_price"), pa.float64()),
            "guardrail": pa.array(pick("guardrail"), pa.string()),
            "units_sold": pa.array(pick("units_sold"), pa.float64()),
            "payload": pa.array([r["payload"] for r in rows], pa.string()),
        }
    )
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    logger.info("wrote %d audit events to %s", len(rows), path)
    return path
