"""Transaction logs: the schema, reading Parquet and CSV, and row validation.

The log schema
--------------
One row is one sale line (or one product-day aggregate). Column names are matched
case-insensitively, ignoring spaces, dashes and underscores, against the aliases
in :data:`COLUMN_ALIASES`; ``columns={"units": "QTY_SOLD"}`` (``--column
units=QTY_SOLD`` on the command line) names a column explicitly.

Required:

- ``date``: the day of the sale, a date or timestamp (Parquet) or text. Text is
  read as ``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM:SS``, ``YYYY-MM-DDTHH:MM:SS``,
  ``YYYY/MM/DD``, ``YYYYMMDD`` or ``M/D/YYYY`` (slashes with the year last are read
  month first); give ``date_format`` (strptime syntax) for anything else.
- ``product_id``: the product (text; numbers are read as text).
- ``units``: units sold on the line, >= 0. Zero units with a posted unit price
  records a day without sales at that price.
- ``unit_price`` or ``revenue``: the price paid per unit, or the line's revenue
  (unit price = revenue / units). Where both are given, ``unit_price`` wins.

Optional:

- ``unit_cost`` or ``cost``: what a unit costs the seller, or the line's cost
  (unit cost = cost / units).
- ``rival_price``: a rival's price for the product that day.
- ``inventory``: units in stock.
- ``promotion``: 1 when the line was sold on promotion, else 0.
- ``segment``: the customer segment (read and counted; demand is not yet fitted
  per segment).

Ta-Feng's file (``TRANSACTION_DT``, ``PRODUCT_ID``, ``AMOUNT`` = units, ``ASSET``
= line cost, ``SALES_PRICE`` = line revenue) is recognised by its header; see
:data:`PRESETS`.

Rejected rows
-------------
A row that cannot be used gets the first reason that applies, in the order of
:data:`REJECT_REASONS`; every rejected row is counted and can be written out with
:func:`write_rejects`. Nothing is dropped silently.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

logger = logging.getLogger(__name__)

REQUIRED_FIELDS = ("date", "product_id", "units")
PRICE_FIELDS = ("unit_price", "revenue")
OPTIONAL_FIELDS = (
    "unit_cost",
    "cost",
    "rival_price",
    "inventory",
    "promotion",
    "segment",
)
ALL_FIELDS = REQUIRED_FIELDS + PRICE_FIELDS + OPTIONAL_FIELDS

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "date": (
        "date",
        "day",
        "timestamp",
        "datetime",
        "time",
        "transaction_date",
        "transaction_dt",
        "order_date",
        "invoice_date",
        "sale_date",
        "sales_date",
    ),
    "product_id": (
        "product_id",
        "product",
        "sku",
        "item_id",
        "item",
        "stock_code",
        "article",
        "product_code",
        "asin",
    ),
    "units": (
        "units",
        "quantity",
        "qty",
        "units_sold",
        "unit_sales",
        "sales_units",
        "volume",
    ),
    "unit_price": (
        "unit_price",
        "price",
        "selling_price",
        "price_per_unit",
        "sale_price",
        "avg_price",
        "average_price",
    ),
    "revenue": (
        "revenue",
        "sales",
        "line_total",
        "total",
        "sales_amount",
        "turnover",
        "gross_sales",
        "net_sales",
        "line_revenue",
    ),
    "unit_cost": ("unit_cost", "cost_per_unit", "avg_cost", "average_cost"),
    "cost": ("cost", "line_cost", "total_cost", "cogs"),
    "rival_price": ("rival_price", "competitor_price", "comp_price"),
    "inventory": ("inventory", "stock", "stock_level", "on_hand"),
    "promotion": ("promotion", "promo", "on_promotion", "promo_flag"),
    "segment": ("segment", "customer_segment"),
}
"""Accepted column names per field, compared after :func:`normalise_name`."""

PRESETS: dict[str, dict[str, str]] = {
    "ta-feng": {
        "date": "TRANSACTION_DT",
        "product_id": "PRODUCT_ID",
        "units": "AMOUNT",
        "cost": "ASSET",
        "revenue": "SALES_PRICE",
    },
}
"""Column maps of known public datasets; a file whose header holds every column of
a preset is read with it (explicit ``columns`` still win)."""

REJECT_REASONS: dict[str, str] = {
    "missing_product": "product id is empty",
    "bad_date": "date is empty or could not be parsed",
    "missing_units": "units is empty or not a number",
    "negative_units": "units below zero (returns are not demand)",
    "missing_price": "no usable unit price: unit price and revenue are empty or "
    "not numbers, or units is 0 with only revenue given",
    "nonpositive_price": "unit price is zero or negative",
    "negative_cost": "unit cost is below zero",
    "duplicate_row": "an exact copy of an earlier row",
}
"""Why a row is refused, in the order the checks apply."""

DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%m/%d/%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%Y/%m/%d",
    "%Y%m%d",
)
_NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


class LogSchemaError(ValueError):
    """A log file cannot be read as transactions; the message says how to fix it."""


def normalise_name(name: str) -> str:
    """Lower case, without a byte-order mark, spaces, dashes or underscores."""
    return re.sub(r"[\s_\-]+", "", name.lstrip("\ufeff").strip().lower())


@dataclass
class Logs:
    """Validated log rows, as arrays of equal length (one entry per accepted row).

    Attributes:
        source: where the rows came from.
        columns: which file column fed each field.
        rows_read: rows in the file.
        product_id: product id per accepted row (text).
        day: days since 1970-01-01 per accepted row.
        units: units sold.
        unit_price: price paid per unit (currency).
        unit_cost: cost per unit (currency), NaN where the logs give none.
        extras: optional fields that were present (rival_price, inventory,
            promotion: floats; segment: text).
        rejects: row indices (0-based, data rows) per reject reason.
        table: the file as read, kept to write rejected rows out.
    """

    source: str
    columns: dict[str, str]
    rows_read: int
    product_id: np.ndarray
    day: np.ndarray
    units: np.ndarray
    unit_price: np.ndarray
    unit_cost: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    rejects: dict[str, np.ndarray] = field(default_factory=dict)
    table: pa.Table | None = field(default=None, repr=False)

    @property
    def rows_used(self) -> int:
        return int(self.units.shape[0])

    @property
    def rows_rejected(self) -> int:
        return int(sum(len(v) for v in self.rejects.values()))

    def reject_counts(self) -> dict[str, int]:
        """Rejected rows per reason, every reason listed (zeros included)."""
        return {r: int(len(self.rejects.get(r, ()))) for r in REJECT_REASONS}


# Reading.


def read_table(path: str | Path) -> pa.Table:
    """A log file as a pyarrow table; CSV columns are all read as text.

    Reads ``.parquet``/``.pq``, ``.csv``, ``.csv.gz``, ``.csv.bz2`` and a ``.zip``
    holding one CSV file.
    """
    path = Path(path)
    if not path.is_file():
        raise LogSchemaError(
            f"logs: no such file {str(path)!r}; give a CSV or Parquet file"
        )
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return pq.read_table(path)
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise LogSchemaError(
                    f"logs: {path} holds {len(members)} files; a zip must hold "
                    "exactly one CSV file"
                )
            with archive.open(members[0]) as handle:
                header = _csv_header(handle.read(1 << 16))
            with archive.open(members[0]) as handle:
                return _read_csv(handle, header)
    if name.endswith(".gz"):
        with gzip.open(path, "rb") as handle:
            header = _csv_header(handle.read(1 << 16))
    else:
        with path.open("rb") as handle:
            header = _csv_header(handle.read(1 << 16))
    return _read_csv(str(path), header)


def _csv_header(head: bytes) -> list[str]:
    text = head.decode("utf-8-sig", errors="replace")
    first = next(csv.reader(io.StringIO(text)), [])
    if not first:
        raise LogSchemaError(
            "logs: the file is empty; give a CSV file with a header row"
        )
    return first


def _read_csv(source: object, header: list[str]) -> pa.Table:
    convert = pcsv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        strings_can_be_null=True,
    )
    try:
        return pcsv.read_csv(source, convert_options=convert)
    except pa.ArrowInvalid as err:
        raise LogSchemaError(f"logs: not a readable CSV file ({err})") from err


def resolve_columns(
    names: list[str], columns: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Which file column feeds each schema field.

    Args:
        names: the file's column names.
        columns: explicit ``field -> column`` choices, which win over presets and
            aliases.

    Returns:
        ``field -> column`` for every field found.

    Raises:
        LogSchemaError: an explicit column is absent, a field is unknown, or a
            required field has no column; the message lists the columns found.
    """
    columns = dict(columns or {})
    found = ", ".join(names)
    unknown = [f for f in columns if f not in ALL_FIELDS]
    if unknown:
        raise LogSchemaError(
            f"columns: unknown field {unknown[0]!r}; fields are {', '.join(ALL_FIELDS)}"
        )
    by_norm = {normalise_name(n): n for n in names}
    mapping: dict[str, str] = {}
    for key, column in columns.items():
        actual = column if column in names else by_norm.get(normalise_name(column))
        if actual is None:
            raise LogSchemaError(
                f"columns.{key}: column {column!r} is not in the file; found: {found}"
            )
        mapping[key] = actual
    for preset_name, preset in PRESETS.items():
        if all(normalise_name(c) in by_norm for c in preset.values()):
            logger.info("logs: reading columns with the %s preset", preset_name)
            for key, column in preset.items():
                mapping.setdefault(key, by_norm[normalise_name(column)])
            break
    used = set(mapping.values())
    for key, aliases in COLUMN_ALIASES.items():
        if key in mapping:
            continue
        for alias in aliases:
            actual = by_norm.get(normalise_name(alias))
            if actual is not None and actual not in used:
                mapping[key] = actual
                used.add(actual)
                break
    missing = [k for k in REQUIRED_FIELDS if k not in mapping]
    if not any(k in mapping for k in PRICE_FIELDS):
        missing.append("unit_price or revenue")
    if missing:
        raise LogSchemaError(
            f"logs: missing required column(s) {', '.join(missing)}; found: {found}. "
            "Rename the columns or name them, e.g. --column units=QTY "
            "(columns={'units': 'QTY'})"
        )
    return mapping


# Validation.


def _per_unit(
    table: pa.Table,
    mapping: dict[str, str],
    per_unit: str,
    line_total: str,
    units: np.ndarray,
) -> np.ndarray:
    """A per-unit amount: its own column where given, else the line total / units."""
    n = table.num_rows
    value = np.full(n, np.nan)
    if per_unit in mapping:
        value = _numbers(table.column(mapping[per_unit]))
    if line_total in mapping:
        total = _numbers(table.column(mapping[line_total]))
        with np.errstate(divide="ignore", invalid="ignore"):
            derived = np.where(units > 0, total / units, np.nan)
        value = np.where(np.isnan(value), derived, value)
    return value


def validate_logs(
    table: pa.Table,
    columns: Mapping[str, str] | None = None,
    date_format: str | None = None,
    source: str = "logs",
) -> Logs:
    """Check every row, keep the usable ones and record the rest by reason.

    Args:
        table: the file as read by :func:`read_table`.
        columns: explicit ``field -> column`` choices (see :func:`resolve_columns`).
        date_format: strptime format of text dates, when not one of
            :data:`DATE_FORMATS`.
        source: a name for messages.

    Returns:
        The accepted rows and the rejected row indices by reason.
    """
    mapping = resolve_columns(table.column_names, columns)
    n = table.num_rows

    # Parse each field; unparseable values become null or NaN.
    product = _text(table.column(mapping["product_id"]))
    day = _days(table.column(mapping["date"]), date_format)
    units = _numbers(table.column(mapping["units"]))
    price = _per_unit(table, mapping, "unit_price", "revenue", units)
    cost = _per_unit(table, mapping, "unit_cost", "cost", units)

    # The first failing check names the reason; later checks skip refused rows.
    product_missing = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(product), ""), True)
    checks = {
        "missing_product": product_missing.to_numpy(zero_copy_only=False),
        "bad_date": day < -(1 << 30),
        "missing_units": np.isnan(units),
        "negative_units": units < 0,
        "missing_price": np.isnan(price),
        "nonpositive_price": price <= 0,
        "negative_cost": cost < 0,
    }
    refused = np.zeros(n, dtype=bool)
    rejects: dict[str, np.ndarray] = {}
    for reason, bad in checks.items():
        hit = bad & ~refused
        rejects[reason] = np.flatnonzero(hit)
        refused |= hit
    duplicate = _duplicates(table) & ~refused
    rejects["duplicate_row"] = np.flatnonzero(duplicate)
    refused |= duplicate
    keep = ~refused

    extras: dict[str, np.ndarray] = {}
    for key in ("rival_price", "inventory", "promotion"):
        if key in mapping:
            extras[key] = _numbers(table.column(mapping[key]))[keep]
    if "segment" in mapping:
        segment = _text(table.column(mapping["segment"]))
        extras["segment"] = segment.to_numpy(zero_copy_only=False)[keep]

    logs = Logs(
        source=source,
        columns=mapping,
        rows_read=n,
        product_id=product.to_numpy(zero_copy_only=False)[keep],
        day=day[keep],
        units=units[keep],
        unit_price=price[keep],
        unit_cost=cost[keep],
        extras=extras,
        rejects=rejects,
        table=table,
    )
    if logs.rows_rejected:
        counts = {k: v for k, v in logs.reject_counts().items() if v}
        logger.warning(
            "%s: %d of %d rows rejected: %s", source, logs.rows_rejected, n, counts
        )
    return logs


def load_logs(
    path: str | Path,
    columns: Mapping[str, str] | None = None,
    date_format: str | None = None,
) -> Logs:
    """Read and validate a log file (see :func:`read_table`, :func:`validate_logs`)."""
    table = read_table(path)
    return validate_logs(table, columns, date_format, source=str(path))


def _text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(
        column.type
    ):
        column = pc.cast(column, pa.string())
    return pc.utf8_trim_whitespace(column)


def _numbers(column: pa.ChunkedArray) -> np.ndarray:
    """Floats, NaN where empty or not a number."""
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        out = pc.cast(column, pa.float64())
    elif pa.types.is_boolean(column.type):
        out = pc.cast(pc.cast(column, pa.int8()), pa.float64())
    else:
        text = _text(column)
        ok = pc.fill_null(pc.match_substring_regex(text, _NUMBER), False)
        out = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), pa.float64())
    values = out.to_numpy(zero_copy_only=False).astype(np.float64)
    values[~np.isfinite(values)] = np.nan
    return values


_NO_DAY = np.int64(-(1 << 40))


def _days(column: pa.ChunkedArray, date_format: str | None) -> np.ndarray:
    """Days since 1970-01-01; a large negative sentinel where unparseable."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        stamps = pc.cast(column, pa.timestamp("s", tz=kind.tz), safe=False)
    elif pa.types.is_date(kind):
        stamps = pc.cast(pc.cast(column, pa.date32()), pa.timestamp("s"))
    else:
        text = _text(column)
        formats = (date_format,) if date_format else DATE_FORMATS
        stamps = None
        for fmt in formats:
            parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
            stamps = parsed if stamps is None else pc.coalesce(stamps, parsed)
    seconds = pc.cast(stamps, pa.int64()).to_numpy(zero_copy_only=False)
    seconds = np.asarray(seconds, dtype=np.float64)
    days = np.where(np.isnan(seconds), _NO_DAY, np.floor(seconds / 86400.0))
    return days.astype(np.int64)


def _duplicates(table: pa.Table) -> np.ndarray:
    """True for each row identical, in every column, to an earlier row."""
    n = table.num_rows
    if n < 2:
        return np.zeros(n, dtype=bool)
    keys = []
    for column in table.columns:
        encoded = pc.dictionary_encode(column).combine_chunks()
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        codes = np.where(encoded.is_null().to_numpy(zero_copy_only=False), -1, codes)
        keys.append(codes.astype(np.int64))
    order = np.lexsort(keys[::-1])
    same = np.ones(n - 1, dtype=bool)
    for codes in keys:
        ordered = codes[order]
        same &= ordered[1:] == ordered[:-1]
    out = np.zeros(n, dtype=bool)
    out[order[1:][same]] = True
    return out


def write_rejects(logs: Logs, path: str | Path) -> int:
    """Write every rejected row as CSV: its row number, reason, then its columns.

    ``row`` counts data rows from 1 (the header is not counted).

    Returns:
        The number of rows written.
    """
    if logs.table is None:
        raise ValueError("logs.table: the rows as read are needed to write rejects")
    index = np.concatenate(
        [logs.rejects.get(r, np.zeros(0, np.int64)) for r in REJECT_REASONS]
    )
    reasons = np.concatenate(
        [np.full(len(logs.rejects.get(r, ())), r, dtype=object) for r in REJECT_REASONS]
    )
    order = np.argsort(index, kind="stable")
    index, reasons = index[order].astype(np.int64), reasons[order]
    rows = logs.table.take(pa.array(index, pa.int64()))
    rows = rows.cast(pa.schema([(f.name, pa.string()) for f in rows.schema]))
    out = pa.table(
        {
            "row": pa.array(index + 1, pa.int64()),
            "reason": pa.array(reasons, pa.string()),
        }
    )
    for name, column in zip(rows.column_names, rows.columns):
        out = out.append_column(
            name if name not in ("row", "reason") else f"{name}_", column
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pcsv.write_csv(out, path)
    return int(len(index))
