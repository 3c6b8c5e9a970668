"""`rayprice train`, the README's main job, as a user runs it (cut to one iteration)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rayprice.cli import app
from rayprice.policy.bundle import load_network


@pytest.mark.slow
def test_train_command_writes_bundle_table_and_report(
    ray_session: None, tmp_path: Path
) -> None:
    out = tmp_path / "train"
    copy = tmp_path / "bundle"
    figures = tmp_path / "figures.json"
    args = ["train", "--iterations", "1", "--num-envs", "16", "--out", str(out)]
    args += ["--bundle", str(copy), "--report-markets", "2", "--json", str(figures)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output

    # A count alone sets no time budget, and the log says what stops training.
    assert "for 1 iterations;" in result.output
    _, manifest = load_network(copy)
    assert manifest.training["iterations"] == 1
    assert manifest.training["settings"]["time_budget_s"] is None
    # The side-by-side table: the policy beside the oracle, on held-out markets.
    rows = {line.split()[0] for line in result.output.splitlines() if line.strip()}
    assert {"oracle", "fixed", "ts-flat", f"rl:{out / 'bundle'}"} <= rows
    report = out / "report"
    for name in ("learning_curve.png", "ratio.png", "price_paths.png", "report.md"):
        assert (report / name).stat().st_size > 0, name
    payload = json.loads(figures.read_text())
    assert payload["settings"]["markets"] == 2


def test_train_command_refuses_bad_settings_naming_the_field(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", "--iterations", "0", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "iterations: must be at least 1" in result.output
