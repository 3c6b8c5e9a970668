"""The ``rayprice`` command.

Every command that reports figures prints a table and, with ``--json FILE``,
writes every figure with the exact settings that produced it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from rayprice import __version__
from rayprice.market.spec import SpecError

app = typer.Typer(
    name="rayprice",
    help="Meta-learned pricing: simulate markets, evaluate pricers, calibrate, train, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _write_json(path: Path | None, payload: dict[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=_jsonable))
    typer.echo(f"wrote {path}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    for r in rows:
        out.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    return "\n".join(out)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def markets(
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the list as JSON.")] = None,
) -> None:
    """List the built-in market families and their held-out suites."""
    from rayprice.market.families import builtin_names, load_family

    rows, payload = [], []
    for name in builtin_names():
        family = load_family(name)
        base = family.spec.base or (family.spec.markets or [None])[0]
        model = base.demand.model if base is not None else "?"
        suite = family.heldout_suite()
        rows.append([name, suite.name, str(suite.size), model, family.description[:60]])
        payload.append(
            {
                "family": name,
                "version": family.version,
                "suite": suite.name,
                "suite_size": suite.size,
                "demand_model": model,
                "description": family.description,
            }
        )
    typer.echo(_table(rows, ["family", "held-out suite", "markets", "demand", "description"]))
    _write_json(json_out, {"families": payload})


@app.command()
def oracle(
    suite: Annotated[
        str, typer.Option("--suite", "-s", help="Suite name (e.g. logit-heldout-v1) or family file.")
    ] = "logit-heldout-v1",
    family: Annotated[
        str | None,
        typer.Option("--family", "-f", help="Instead of a suite: draw --markets markets from this family."),
    ] = None,
    n_markets: Annotated[int | None, typer.Option("--markets", "-n", help="Use the first N markets.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for markets drawn with --family.")] = 0,
    horizon: Annotated[int | None, typer.Option(help="Override the season length (days).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write per-market figures as JSON.")] = None,
) -> None:
    """Print the full-information oracle's expected profit per market."""
    from rayprice.market.families import load_family, load_suite
    from rayprice.market.oracle import Oracle

    try:
        if family is not None:
            chosen = load_family(family).draw_suite(n_markets or 20, seed)
        else:
            chosen = load_suite(suite)
            if n_markets is not None:
                chosen = chosen.head(n_markets)
    except SpecError as err:
        _fail(str(err))
        return
    batch = chosen.batch if horizon is None else chosen.batch.with_horizon(horizon)
    plan = Oracle(batch, chosen.seeds)
    profit = plan.expected_profit().sum(axis=1)
    rows = [
        [batch.names[i], f"{batch.list_price[i]:.2f}", f"{batch.unit_cost[i]:.2f}",
         f"{profit[i]:,.2f}", plan.methods[i]]
        for i in range(min(batch.n, 20))
    ]
    typer.echo(f"suite {chosen.name} ({chosen.size} markets), oracle: {plan.label}")
    typer.echo(_table(rows, ["market", "list price", "unit cost", "expected profit", "method"]))
    if batch.n > 20:
        typer.echo(f"... {batch.n - 20} more markets (all in --json)")
    typer.echo(
        f"mean expected profit {profit.mean():,.2f}; methods: "
        + ", ".join(f"{m} x{c}" for m, c in Counter(plan.methods).items())
    )
    _write_json(
        json_out,
        {
            "suite": chosen.name,
            "family": chosen.family,
            "suite_seed": chosen.seed,
            "horizon_days": int(batch.horizon_days.max()),
            "rayprice_version": __version__,
            "markets": [
                {
                    "market": batch.names[i],
                    "expected_profit": float(profit[i]),
                    "method": plan.methods[i],
                    "approximation": plan.methods[i] == "approx-lookahead",
                    "spec": batch.spec(i).to_dict(),
                }
                for i in range(batch.n)
            ],
        },
    )


def main() -> None:
    """Console entry point."""
    try:
        app()
    except SpecError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        sys.exit(2)
