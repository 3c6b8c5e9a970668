"""Reading and validating logs: aliases, presets, and every reject reason."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rayprice.data.logs import (
    REJECT_REASONS,
    LogSchemaError,
    load_logs,
    resolve_columns,
    write_rejects,
)
from rayprice.data.panel import build_panel

GOOD = [
    ["2024-03-01", "A", "2", "10.0", "6"],
    ["2024-03-02", "A", "0", "12.0", "6"],
    ["2024-03-01", "B", "1", "5.5", ""],
]
BROKEN = {
    "missing_product": ["2024-03-01", "", "1", "10", "6"],
    "bad_date": ["31/31/2024", "A", "1", "10", "6"],
    "missing_units": ["2024-03-03", "A", "many", "10", "6"],
    "negative_units": ["2024-03-03", "A", "-2", "10", "6"],
    "missing_price": ["2024-03-03", "A", "1", "", "6"],
    "nonpositive_price": ["2024-03-03", "A", "1", "0", "6"],
    "negative_cost": ["2024-03-03", "A", "1", "10", "-1"],
    "duplicate_row": GOOD[0],
}


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_every_reason_is_counted_and_written(tmp_path):
    rows = GOOD + list(BROKEN.values())
    path = _write(
        tmp_path / "broken.csv", ["Date", "SKU", "Qty", "Unit Price", "unit_cost"], rows
    )
    logs = load_logs(path)
    assert logs.columns == {
        "date": "Date",
        "product_id": "SKU",
        "units": "Qty",
        "unit_price": "Unit Price",
        "unit_cost": "unit_cost",
    }
    assert logs.rows_read == len(rows)
    assert logs.rows_used == len(GOOD)
    assert logs.reject_counts() == {reason: 1 for reason in REJECT_REASONS}

    out = tmp_path / "rejects.csv"
    assert write_rejects(logs, out) == len(BROKEN)
    with out.open() as handle:
        written = list(csv.DictReader(handle))
    assert [r["reason"] for r in written] == list(BROKEN)
    assert [int(r["row"]) for r in written] == list(range(len(GOOD) + 1, len(rows) + 1))
    assert written[1]["Date"] == "31/31/2024"


def test_panel_of_valid_rows(tmp_path):
    path = _write(
        tmp_path / "ok.csv", ["date", "product", "units", "price", "cost"], GOOD
    )
    panel = build_panel(load_logs(path))
    assert list(panel.product_id) == ["A", "B"]
    assert panel.units.tolist() == [[2.0, 0.0], [1.0, 0.0]]
    # A zero-unit day keeps its posted price; B's span is its single day.
    assert panel.price[0].tolist() == [10.0, 12.0]
    assert panel.active.tolist() == [[True, True], [True, False]]
    assert panel.unit_cost[0] == pytest.approx(3.0)  # line cost 6 over 2 units
    assert np.isnan(panel.unit_cost[1])


def test_missing_columns_are_named_with_what_was_found(tmp_path):
    path = _write(
        tmp_path / "bad.csv", ["when", "sku", "qty"], [["2024-01-01", "A", "1"]]
    )
    with pytest.raises(LogSchemaError) as err:
        load_logs(path)
    message = str(err.value)
    assert "date" in message and "unit_price or revenue" in message
    assert "found: when, sku, qty" in message
    # Naming the column fixes it.
    assert (
        resolve_columns(
            ["when", "sku", "qty", "paid"], {"date": "when", "revenue": "paid"}
        )["date"]
        == "when"
    )


def test_ta_feng_layout_is_recognised(tmp_path):
    text = (
        '\ufeff"TRANSACTION_DT","CUSTOMER_ID","AGE_GROUP","PIN_CODE",'
        '"PRODUCT_SUBCLASS",'
        '"PRODUCT_ID","AMOUNT","ASSET","SALES_PRICE"\r\n'
        '"11/1/2000","01104905","45-49","115","110411","4710199010372",'
        '"2","24","30"\r\n'
        '"1/15/2001","00418683","45-49","115","120107","4710857472535",'
        '"1","48","46"\r\n'
    )
    path = tmp_path / "ta_feng.csv"
    path.write_text(text, encoding="utf-8")
    logs = load_logs(path)
    assert (
        logs.columns["units"] == "AMOUNT" and logs.columns["revenue"] == "SALES_PRICE"
    )
    assert logs.product_id.tolist() == ["4710199010372", "4710857472535"]
    assert logs.unit_price.tolist() == [15.0, 46.0]
    assert logs.unit_cost.tolist() == [12.0, 48.0]
    assert logs.day.tolist() == [11262, 11337]  # 2000-11-01, 2001-01-15


def test_parquet_with_typed_columns(tmp_path):
    table = pa.table(
        {
            "timestamp": pa.array(
                np.array(
                    ["2024-03-01T10:00", "2024-03-02T11:00"], dtype="datetime64[ms]"
                )
            ),
            "item_id": pa.array([7, 7]),
            "quantity": pa.array([3, 1]),
            "revenue": pa.array([30.0, 12.0]),
        }
    )
    pq.write_table(table, tmp_path / "logs.parquet")
    logs = load_logs(tmp_path / "logs.parquet")
    assert logs.product_id.tolist() == ["7", "7"]
    assert logs.unit_price.tolist() == [10.0, 12.0]
    assert logs.day[1] - logs.day[0] == 1
