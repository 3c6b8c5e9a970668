from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rayprice.cli import app
from rayprice.market.families import suite_names
from rayprice.pricers import pricer_names


def test_help_lists_pricers_and_suites() -> None:
    result = CliRunner().invoke(app, ["evaluate", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for name in [*pricer_names(), *suite_names()]:
        assert name in result.output


def test_evaluate_prints_the_table_and_writes_json_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--suite",
            "ferreira-heldout-v1",
            "--pricers",
            "oracle,ts-fixed,ts-update",
            "--markets",
            "4",
            "--horizon",
            "20",
            "--no-progress",
            "--json",
            str(out),
            "--plot",
            str(tmp_path / "plots"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "ts-update" in result.output and "%oracle t=20" in result.output
    assert json.loads(out.read_text())["settings"]["n_markets"] == 4
    assert len(list((tmp_path / "plots").glob("*.png"))) == 3


def test_unknown_pricer_exits_with_the_valid_names() -> None:
    result = CliRunner().invoke(
        app, ["evaluate", "--pricers", "oracle,nope", "-n", "2"]
    )
    assert result.exit_code == 2
    assert "ts-true-prior" in result.output
