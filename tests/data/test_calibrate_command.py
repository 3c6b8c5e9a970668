"""`rayprice calibrate` end to end."""

from __future__ import annotations

import csv
import json

from typer.testing import CliRunner

from rayprice.cli import app
from rayprice.data.tafeng import EXTRACT
from rayprice.market import load_family


def test_broken_file_reports_and_writes_rejects(tmp_path):
    path = tmp_path / "shop.csv"
    rows = [["day", "product", "units", "revenue"]]
    for d in range(12):
        for pid, price in (("A", 10 + d % 3), ("B", 4 - 0.5 * (d % 2)), ("C", 7.0)):
            rows.append(
                [f"2024-05-{d + 1:02d}", pid, str(1 + d % 4), str(price * (1 + d % 4))]
            )
    rows += [["2024-05-40", "A", "1", "3"], ["2024-05-02", "A", "-1", "3"], rows[3]]
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    out, report, rejects, summary = (
        tmp_path / "fam.json",
        tmp_path / "report",
        tmp_path / "rej.csv",
        tmp_path / "s.json",
    )
    result = CliRunner().invoke(
        app,
        [
            "calibrate",
            str(path),
            "--out",
            str(out),
            "--report",
            str(report),
            "--rejects",
            str(rejects),
            "--json",
            str(summary),
            "--name",
            "shop-v1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "bad_date" in result.output and "negative_units" in result.output
    assert load_family(out).name == "shop-v1"
    data = json.loads(summary.read_text())
    assert data["summary"]["rows"]["rejected_by_reason"]["duplicate_row"] == 1
    assert data["summary"]["rows"]["used"] == 36
    assert len(data["products"]) == 3
    with rejects.open() as handle:
        assert [r["reason"] for r in csv.DictReader(handle)] == [
            "bad_date",
            "negative_units",
            "duplicate_row",
        ]
    assert (report / "demand_curves.png").stat().st_size > 0
    assert (report / "elasticity.png").stat().st_size > 0


def test_missing_column_fails_with_the_fix(tmp_path):
    path = tmp_path / "shop.csv"
    path.write_text("day,product,units\n2024-01-01,A,1\n")
    result = CliRunner().invoke(
        app, ["calibrate", str(path), "--out", str(tmp_path / "f.json")]
    )
    assert result.exit_code == 2
    assert "unit_price or revenue" in result.output and "--column" in result.output


def test_extract_with_explicit_columns(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "calibrate",
            str(EXTRACT),
            "--out",
            str(tmp_path / "f.json"),
            "--column",
            "units=units",
            "--heldout-products",
            "0.2",
            "--name",
            "tf-v2",
        ],
    )
    assert result.exit_code == 0, result.output
    family = load_family(tmp_path / "f.json")
    assert family.spec.heldout_markets and family.name == "tf-v2"
