"""The `rayprice` command as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rayprice.cli import app

runner = CliRunner()


def test_markets_lists_every_family_and_suite(tmp_path: Path) -> None:
    out = tmp_path / "markets.json"
    result = runner.invoke(app, ["markets", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "retail-heldout-v1" in result.output
    families = {f["family"] for f in json.loads(out.read_text())["families"]}
    assert {"logit-v1", "ferreira-v1", "duopoly-v1", "retail-v1"} <= families


def test_oracle_writes_per_market_profit_with_method_labels(tmp_path: Path) -> None:
    out = tmp_path / "oracle.json"
    result = runner.invoke(
        app, ["oracle", "--suite", "duopoly-heldout-v1", "-n", "12", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["suite"] == "duopoly-heldout-v1" and len(payload["markets"]) == 12
    methods = {m["method"] for m in payload["markets"]}
    assert methods <= {"exact-static", "approx-lookahead"}
    labelled = [m for m in payload["markets"] if m["method"] == "approx-lookahead"]
    assert all(m["approximation"] for m in labelled)
    assert all(m["expected_profit"] > 0 for m in payload["markets"])


def test_oracle_on_a_family_file_and_a_malformed_one(tmp_path: Path) -> None:
    good = tmp_path / "mine.json"
    good.write_text(
        json.dumps(
            {
                "name": "mine-v1",
                "base": {
                    "demand": {"model": "exponential", "market_size": 10},
                    "list_price": 8,
                },
                "priors": {"unit_cost": {"dist": "uniform", "low": 2, "high": 4}},
                "heldout": {"seed": 3, "size": 5},
            }
        )
    )
    result = runner.invoke(app, ["oracle", "--suite", str(good)])
    assert result.exit_code == 0, result.output
    assert "mine-heldout-v1" in result.output

    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {"name": "bad-v1", "base": {"unit_cost": -3}, "heldout": {"seed": 1}}
        )
    )
    result = runner.invoke(app, ["oracle", "--suite", str(bad)])
    assert result.exit_code == 2
    assert "base.unit_cost" in result.output


def test_unknown_family_lists_the_valid_ones() -> None:
    result = runner.invoke(app, ["oracle", "--family", "nope-v1"])
    assert result.exit_code == 2
    assert "logit-v1" in result.output


def test_simulate_runs_one_market_of_every_builtin_family(tmp_path: Path) -> None:
    for family in (
        "linear-v1",
        "logit-v1",
        "exponential-v1",
        "ferreira-v1",
        "duopoly-v1",
        "retail-v1",
    ):
        out, png = tmp_path / f"{family}.json", tmp_path / f"{family}.png"
        result = runner.invoke(
            app,
            [
                "simulate",
                "--family",
                family,
                "--pricer",
                "oracle",
                "--horizon",
                "20",
                "--seed",
                "1",
                "--json",
                str(out),
                "--plot",
                str(png),
            ],
        )
        assert result.exit_code == 0, (family, result.output)
        path = json.loads(out.read_text())
        assert len(path["price"]) == 20 and path["market"]["name"].startswith(family)
        assert all(p > 0 for p in path["price"])
        assert png.stat().st_size > 10_000


def test_simulate_with_an_unknown_pricer_lists_the_valid_ones() -> None:
    result = runner.invoke(app, ["simulate", "--pricer", "bogus"])
    assert result.exit_code == 2
    assert "ts-flat" in result.output


def test_oracle_takes_a_family_with_one_of_its_suites() -> None:
    result = runner.invoke(
        app,
        [
            "oracle",
            "--family",
            "ferreira-v1",
            "--suite",
            "ferreira-heldout-v1",
            "-n",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "ferreira-heldout-v1 (2 markets)" in result.output
    result = runner.invoke(
        app, ["oracle", "--family", "logit-v1", "--suite", "ferreira-heldout-v1"]
    )
    assert result.exit_code == 2
    assert "a suite of ferreira-v1, not of logit-v1" in result.output
