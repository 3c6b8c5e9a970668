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
from rayprice.jsonable import jsonable
from rayprice.market.spec import SpecError

app = typer.Typer(
    name="rayprice",
    help="Meta-learned pricing: simulate markets, evaluate pricers, calibrate, train, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: ``rayprice train`` with neither --iterations nor --minutes: the shipped
#: policy's iteration count (rayprice/policy/default/README.md), so that the main
#: job reproduces it, capped so the whole job ends within 20 minutes on 2 cores.
DEFAULT_TRAIN_ITERATIONS = 105
DEFAULT_TRAIN_MINUTES = 18.0

# Options several commands share, declared once.
SuiteOption = Annotated[
    str,
    typer.Option(
        "--suite", "-s", help="Suite name (e.g. logit-heldout-v1) or family file."
    ),
]
FamilyOption = Annotated[
    str | None,
    typer.Option(
        "--family",
        "-f",
        help="Instead of a suite: draw --markets markets from this family.",
    ),
]
MarketsOption = Annotated[
    int | None,
    typer.Option(
        "--markets", "-n", help="Use the first N markets (or draw N with --family)."
    ),
]
SeedOption = Annotated[int, typer.Option(help="Seed for markets drawn with --family.")]
HorizonOption = Annotated[
    int | None, typer.Option(help="Season length in days; default the suite's.")
]
JsonOption = Annotated[
    Path | None,
    typer.Option("--json", help="Write every figure and the settings as JSON."),
]


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _write_json(path: Path | None, payload: dict[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=jsonable))
    typer.echo(f"wrote {path}")


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    for r in rows:
        out.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    return "\n".join(out)


@app.callback()
def _main(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log progress.")
    ] = False,
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
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the list as JSON.")
    ] = None,
) -> None:
    """List the built-in market families and their held-out suites."""
    from rayprice.market.families import builtin_names, load_family

    rows, payload = [], []
    for name in builtin_names():
        family = load_family(name)
        base = family.spec.base or (family.spec.markets or [])[0]
        model = base.demand.model
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
    typer.echo(
        _table(rows, ["family", "held-out suite", "markets", "demand", "description"])
    )
    _write_json(json_out, {"families": payload})


@app.command()
def oracle(
    suite: Annotated[
        str | None,
        typer.Option(
            "--suite",
            "-s",
            help="Suite name or family file (default logit-heldout-v1); with "
            "--family, a suite of that family.",
        ),
    ] = None,
    family: FamilyOption = None,
    n_markets: MarketsOption = None,
    seed: SeedOption = 0,
    horizon: HorizonOption = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write per-market figures as JSON.")
    ] = None,
) -> None:
    """Print the full-information oracle's expected profit per market."""
    from rayprice.market.families import load_family, load_suite
    from rayprice.market.oracle import Oracle

    try:
        if family is not None and suite is None:
            chosen = load_family(family).draw_suite(n_markets or 20, seed)
        else:
            chosen = load_suite(suite or "logit-heldout-v1")
            if family is not None and load_family(family).name != chosen.family:
                raise SpecError(
                    f"suite: {chosen.name} is a suite of {chosen.family}, not of "
                    f"{family}; drop --family or name one of its suites"
                )
            if n_markets is not None:
                chosen = chosen.head(n_markets)
    except SpecError as err:
        _fail(str(err))
        return
    batch = chosen.batch if horizon is None else chosen.batch.with_horizon(horizon)
    plan = Oracle(batch, chosen.seeds)
    profit = plan.expected_profit().sum(axis=1)
    rows = [
        [
            batch.names[i],
            f"{batch.list_price[i]:.2f}",
            f"{batch.unit_cost[i]:.2f}",
            f"{profit[i]:,.2f}",
            plan.methods[i],
        ]
        for i in range(min(batch.n, 20))
    ]
    typer.echo(f"suite {chosen.name} ({chosen.size} markets), oracle: {plan.label}")
    typer.echo(
        _table(rows, ["market", "list price", "unit cost", "expected profit", "method"])
    )
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


@app.command()
def simulate(
    family: Annotated[
        str, typer.Option("--family", "-f", help="Family name or file.")
    ] = "retail-v1",
    pricer: Annotated[
        str,
        typer.Option(
            "--pricer", "-p", help="Pricer name (see `rayprice evaluate --help`)."
        ),
    ] = "oracle",
    horizon: Annotated[
        int | None, typer.Option(help="Season length in days (default: the family's).")
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed of the market drawn from the family.")
    ] = 0,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the path as JSON.")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write the price and sales path as PNG."),
    ] = None,
) -> None:
    """Run one market drawn from a family with one pricer, and show its path."""
    from rayprice.evaluate.harness import EvaluationSettings, evaluate
    from rayprice.pricers.registry import UnknownPricerError

    settings = EvaluationSettings(
        pricers=(pricer,), family=family, markets=1, seed=seed, horizon_days=horizon
    )
    try:
        result = evaluate(settings)
    except (SpecError, UnknownPricerError) as err:
        _fail(str(err))
        return
    run = result.runs[pricer]
    spec = result.suite.batch.spec(0)
    oracle = result.oracle_profit[0]
    typer.echo(
        f"market {spec.name}: list price {spec.list_price:.2f} {spec.currency}, unit cost "
        f"{spec.unit_cost:.2f}, demand {spec.demand.model}; pricer {pricer}"
    )
    periods = run.price.shape[1]
    shown = sorted(
        {
            *range(min(periods, 10)),
            *range(9, periods, max(periods // 10, 1)),
            periods - 1,
        }
    )
    rows = [
        [
            str(t + 1),
            f"{run.price[0, t]:.2f}",
            f"{run.units_sold[0, t]:.0f}",
            f"{run.profit[0, t]:,.2f}",
            f"{oracle[t]:,.2f}",
        ]
        for t in shown
    ]
    typer.echo(
        _table(rows, ["day", "price", "units sold", "profit", "oracle (expected)"])
    )
    total, best = run.profit[0].sum(), oracle.sum()
    typer.echo(
        f"season profit {total:,.2f} = {100 * total / best:.1f}% of the oracle's expected "
        f"{best:,.2f} ({result.oracle_methods[0]})"
    )
    _write_json(
        json_out,
        {
            "family": family,
            "pricer": pricer,
            "seed": seed,
            "horizon_days": periods,
            "market": spec.to_dict(),
            "oracle_method": result.oracle_methods[0],
            "price": run.price[0],
            "units_sold": run.units_sold[0],
            "profit": run.profit[0],
            "oracle_expected_profit": oracle,
        },
    )
    if plot is not None:
        _plot_path(
            plot,
            run.price[0],
            run.units_sold[0],
            spec.unit_cost,
            spec.list_price,
            f"{spec.name} - {pricer}",
        )
        typer.echo(f"wrote {plot}")


def _plot_path(
    path: Path,
    price: np.ndarray,
    units: np.ndarray,
    unit_cost: float,
    list_price: float,
    title: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = np.arange(1, len(price) + 1)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    top.plot(days, price, label="our price")
    top.axhline(
        list_price, color="grey", linestyle="--", linewidth=1, label="list price"
    )
    top.axhline(unit_cost, color="red", linestyle=":", linewidth=1, label="unit cost")
    top.set_ylabel("price")
    top.legend(loc="best", fontsize=8)
    top.set_title(title)
    bottom.bar(days, units, width=0.9, color="tab:green")
    bottom.set_ylabel("units sold")
    bottom.set_xlabel("day")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _evaluate_help() -> str:
    from rayprice.market.families import suite_names
    from rayprice.pricers.registry import PRICERS

    pricers = "\n\n".join(
        f"  {name}: {entry.summary}" for name, entry in PRICERS.items()
    )
    pricers += (
        "\n\n  rl:PATH: a trained policy bundle (rayprice train); rl:default is "
        "the shipped one"
    )
    return (
        "Run pricers side by side on a suite's markets, with the same customers for "
        "every pricer, and report their profit against the full-information oracle."
        f"\n\nPricers:\n\n{pricers}\n\nSuites: {', '.join(suite_names())}, or a family "
        "file (its held-out markets)."
    )


@app.command(help=_evaluate_help())
def evaluate(
    pricers: Annotated[
        str,
        typer.Option(
            "--pricers", "-p", help="Comma-separated pricer names (see above)."
        ),
    ] = "oracle,fixed,greedy,ts-flat,ts-true-prior,meta-ts",
    suite: SuiteOption = "logit-heldout-v1",
    family: FamilyOption = None,
    n_markets: MarketsOption = None,
    seed: SeedOption = 0,
    horizon: HorizonOption = None,
    json_out: JsonOption = None,
    plot_dir: Annotated[
        Path | None,
        typer.Option("--plot", help="Write regret, ratio and price-path PNGs here."),
    ] = None,
    ray_tasks: Annotated[
        bool,
        typer.Option(
            "--ray", help="Fan shards of markets out as Ray tasks on a running cluster."
        ),
    ] = False,
    shard_size: Annotated[
        int, typer.Option(help="Markets per shard (per Ray task); 0: one shard.")
    ] = 0,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
) -> None:
    from rayprice.evaluate import EvaluationSettings, format_table, write_plots
    from rayprice.evaluate import evaluate as run_evaluation
    from rayprice.pricers.registry import UnknownPricerError, parse_pricer_list

    try:
        names = parse_pricer_list(pricers)
        settings = EvaluationSettings(
            pricers=tuple(names),
            suite=suite,
            family=family,
            markets=n_markets,
            seed=seed,
            horizon_days=horizon,
            backend="ray" if ray_tasks else "local",
            shard_size=shard_size if shard_size or not ray_tasks else 25,
            progress=progress,
        )
        result = run_evaluation(settings)
    except (UnknownPricerError, SpecError, ValueError) as err:
        _fail(str(err))
        return
    typer.echo(format_table(result))
    typer.echo(f"({result.seconds:.1f} s)")
    _write_json(json_out, result.to_dict())
    if plot_dir is not None:
        for path in write_plots(result, plot_dir):
            typer.echo(f"wrote {path}")


@app.command()
def calibrate(
    logs: Annotated[
        Path, typer.Argument(help="Transaction log: CSV (.csv, .gz, .zip) or Parquet.")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Write the market family JSON here.")
    ],
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write demand-curve and elasticity PNGs here."),
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json", help="Write the summary and every product's fit as JSON."
        ),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects", help="Write refused rows, with a reason column, as CSV."
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="Family name, e.g. shop-v1; default from the file name."
        ),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", help="exponential or constant_elasticity.")
    ] = "exponential",
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            help="FIELD=COLUMN, e.g. units=QTY (repeatable); fields: date, product_id, units, unit_price, revenue, unit_cost, cost, ...",
        ),
    ] = None,
    date_format: Annotated[
        str | None,
        typer.Option(
            "--date-format", help="strptime format of text dates, e.g. %d.%m.%Y."
        ),
    ] = None,
    min_sale_days: Annotated[
        int, typer.Option(help="Fit products with at least this many days of sales.")
    ] = 10,
    cost_ratio: Annotated[
        float, typer.Option(help="Unit cost / list price where the logs give no cost.")
    ] = 0.7,
    heldout_products: Annotated[
        float,
        typer.Option(
            help="Share of products kept out of the fit as the held-out suite."
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the held-out product split.")] = 0,
) -> None:
    """Fit demand per product from transaction logs and write a market family."""
    from rayprice.data.calibrate import (
        CalibrationSettings,
        format_summary,
        write_family,
    )
    from rayprice.data.calibrate import calibrate as run_calibration
    from rayprice.data.logs import LogSchemaError, load_logs, write_rejects

    columns: dict[str, str] = {}
    for item in column or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            _fail(f"--column: {item!r} is not FIELD=COLUMN, e.g. --column units=QTY")
        columns[key.strip()] = value.strip()
    try:
        settings = CalibrationSettings(
            name=name,
            model=model,
            min_sale_days=min_sale_days,
            cost_ratio=cost_ratio,
            heldout_products=heldout_products,
            split_seed=seed,
            date_format=date_format,
            columns=columns,
        )
        table = load_logs(logs, columns, date_format)
        if rejects is not None:
            count = write_rejects(table, rejects)
            typer.echo(f"wrote {rejects} ({count} rejected rows)")
        result = run_calibration(table, settings)
    except (LogSchemaError, SpecError, ValueError) as err:
        _fail(str(err))
        return
    typer.echo(format_summary(result))
    typer.echo(f"wrote {write_family(result, out)}")
    _write_json(json_out, {"summary": result.summary(), "products": result.products()})
    if report is not None:
        from rayprice.data.report import write_report

        for path in write_report(result, report):
            typer.echo(f"wrote {path}")


@app.command()
def train(
    family: Annotated[
        str, typer.Option("--family", "-f", help="Family to train on (name or file).")
    ] = "retail-v1",
    algorithm: Annotated[
        str, typer.Option(help="PPO (context-encoder policy) or DQN (price grid).")
    ] = "PPO",
    network: Annotated[
        str, typer.Option(help="PPO network: transformer or memoryless (the ablation).")
    ] = "transformer",
    minutes: Annotated[
        float | None,
        typer.Option(
            help="Training time budget, minutes (with no --iterations either: "
            f"PPO {DEFAULT_TRAIN_ITERATIONS} iterations within "
            f"{DEFAULT_TRAIN_MINUTES:g} minutes, DQN {DEFAULT_TRAIN_MINUTES:g} "
            "minutes)."
        ),
    ] = None,
    iterations: Annotated[
        int | None,
        typer.Option(help="Stop after this many iterations (or the --minutes)."),
    ] = None,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Folder for checkpoints, bundle and report."),
    ] = Path("runs/train"),
    bundle: Annotated[
        Path | None, typer.Option(help="Also copy the policy bundle to this folder.")
    ] = None,
    num_env_runners: Annotated[
        int, typer.Option(help="Remote EnvRunners (0: sample in this process).")
    ] = 0,
    num_envs: Annotated[
        int, typer.Option(help="Markets per EnvRunner's vector env.")
    ] = 64,
    num_learners: Annotated[
        int, typer.Option(help="Remote learners (0: learn in this process).")
    ] = 0,
    gpus_per_learner: Annotated[
        float | None,
        typer.Option(help="GPUs per learner (default: 1 if the cluster has one)."),
    ] = None,
    num_cpus: Annotated[int, typer.Option(help="CPUs of the local Ray.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of Ray, torch and the markets.")] = 0,
    eval_every: Annotated[
        int | None,
        typer.Option(
            help="Iterations between held-out checks (default 10 for PPO, 100 for "
            "DQN, whose iterations are ~25x shorter; 0: none)."
        ),
    ] = None,
    report_markets: Annotated[
        int, typer.Option(help="Held-out markets in the final table.")
    ] = 50,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the final figures as JSON.")
    ] = None,
) -> None:
    """Meta-train a pricing policy on a family with RLlib, then compare it with the
    oracle and the classical pricers on held-out markets.

    With no arguments: PPO with the context encoder on retail-v1 for 105
    iterations (as the shipped policy was trained; 6 to 14 minutes on 2 cores,
    stopped at 18 if slower) on a local 2-CPU Ray, a held-out check every 10
    iterations, then the side-by-side table on 50 held-out markets; the bundle,
    checkpoints and a report with plots go under runs/train.
    """
    import os
    import shutil
    import time

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from rayprice.train.settings import TrainSettings

    if minutes is None and iterations is None:
        minutes = DEFAULT_TRAIN_MINUTES
        if algorithm.upper() == "PPO":
            iterations = DEFAULT_TRAIN_ITERATIONS
    try:
        settings = TrainSettings(
            algorithm=algorithm.upper(),  # type: ignore[arg-type]
            family=family,
            network=network,
            time_budget_s=None if minutes is None else minutes * 60.0,
            iterations=iterations,
            output_dir=out,
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=num_envs,
            num_learners=num_learners,
            num_gpus_per_learner=gpus_per_learner,
            num_cpus=num_cpus,
            seed=seed,
            eval_every=(
                eval_every
                if eval_every is not None
                else (100 if algorithm.upper() == "DQN" else 10)
            ),
        )
    except (SpecError, ValueError) as err:
        _fail(str(err))
        return
    for noisy in ("ray", "ray.rllib", "ray.tune", "ray.train"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    from rayprice.evaluate import format_table
    from rayprice.train.report import compare_on_heldout, write_report
    from rayprice.train.run import (
        TRAIN_ENV_STEPS,
        TRAIN_EPISODE_RETURN,
    )
    from rayprice.train.run import (
        train as run_training,
    )

    started = time.perf_counter()
    limits = []
    if iterations is not None:
        limits.append(f"{iterations} iterations")
    if minutes is not None:
        limits.append(f"{minutes:g} min")
    budget = " or ".join(limits)
    typer.echo(
        f"training {settings.algorithm} ({settings.network}) on {settings.family} for "
        f"{budget}; writing to {out}"
    )

    def progress(row: dict[str, float]) -> None:
        line = (
            f"iter {row['train/iteration']:>4.0f}  {row['train/seconds']:>6.0f} s  "
            f"steps {row[TRAIN_ENV_STEPS]:>9,.0f}  return {row[TRAIN_EPISODE_RETURN]:.3f}"
        )
        if "eval/oracle_ratio" in row:
            line += (
                f"  held-out {row['eval/oracle_ratio']:.1f}% of oracle "
                f"(ts-flat {row['eval/ts_flat_ratio']:.1f}%)"
            )
        typer.echo(line)

    try:
        outcome = run_training(settings, on_iteration=progress)
    except (SpecError, ValueError) as err:
        _fail(str(err))
        return
    typer.echo(f"trained in {outcome.seconds:.0f} s; bundle {outcome.bundle}")
    if bundle is not None:
        if bundle.exists():
            shutil.rmtree(bundle)
        shutil.copytree(outcome.bundle, bundle)
        typer.echo(f"copied the bundle to {bundle}")

    suite = settings.eval_suite or settings.family
    result = compare_on_heldout(outcome.bundle, suite, report_markets, progress=True)
    typer.echo(format_table(result))
    for path in write_report(outcome, result, out / "report"):
        typer.echo(f"wrote {path}")
    typer.echo(f"done in {time.perf_counter() - started:.0f} s")
    _write_json(json_out, result.to_dict())


@app.command()
def serve(
    bundle: Annotated[
        Path | None,
        typer.Option(help="Policy bundle folder; default the shipped policy."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: Annotated[
        Path | None,
        typer.Option(help="SQLite database; default runs/serve/rayprice.db."),
    ] = None,
    api_keys_file: Annotated[
        Path | None,
        typer.Option(help="File of tenant:key lines (or set RAYPRICE_API_KEYS)."),
    ] = None,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(help="Serve without API keys (a local trial only)."),
    ] = False,
    num_cpus: Annotated[
        int | None, typer.Option(help="CPUs of the local Ray (default: all).")
    ] = None,
    export_audit: Annotated[
        Path | None,
        typer.Option(
            help="Write the database's audit log to this Parquet file and exit."
        ),
    ] = None,
) -> None:
    """Serve prices over HTTP with Ray Serve until Ctrl-C.

    Starts a local Ray (or joins RAY_ADDRESS), runs the pricing API with the
    policy in a batched deployment, and prints the address of its OpenAPI page.
    API keys come from RAYPRICE_API_KEYS ("tenant:key,...") or --api-keys-file;
    without any, it refuses to start unless --insecure-no-auth is given.
    """
    import os

    from rayprice.serve.settings import ServeSettings, use_fast_request_path

    # Before anything imports Ray Serve, which reads these when it loads.
    use_fast_request_path()

    from rayprice.policy.bundle import BundleError
    from rayprice.serve.auth import AuthConfigError, load_keys
    from rayprice.serve.policy import check_servable

    try:
        settings = ServeSettings.from_env(
            bundle=bundle,
            host=host,
            port=port,
            db_path=db,
            api_keys_file=api_keys_file,
            insecure_no_auth=insecure_no_auth or None,
        )
    except ValueError as err:
        _fail(str(err))
        return
    if export_audit is not None:
        from rayprice.serve.storage import Storage, export_audit_parquet

        typer.echo(
            f"wrote {export_audit_parquet(Storage(settings.db_path), export_audit)}"
        )
        return
    try:
        check_servable(settings.bundle)
        load_keys(settings)
    except (BundleError, AuthConfigError) as err:
        _fail(str(err))
        return
    if settings.insecure_no_auth:
        typer.secho(
            "warning: serving without API keys (--insecure-no-auth)",
            fg=typer.colors.YELLOW,
            err=True,
        )

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray
    from ray import serve as ray_serve

    from rayprice.serve.app import build_app

    ray.init(num_cpus=num_cpus, include_dashboard=False, ignore_reinit_error=True)
    ray_serve.start(
        http_options={"host": settings.host, "port": settings.port},
        logging_config={"enable_access_log": settings.access_log},
    )
    typer.echo(
        f"serving {settings.bundle or 'the default policy'} with database "
        f"{settings.db_path}; API docs at http://{settings.host}:{settings.port}/docs"
    )
    import signal

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # `kill` (SIGTERM) stops the service as Ctrl-C does: Serve shuts down cleanly.
    signal.signal(signal.SIGTERM, _stop)
    try:
        ray_serve.run(
            build_app(settings), name="rayprice", route_prefix="/", blocking=True
        )
    except KeyboardInterrupt:
        typer.echo("stopping")
    finally:
        ray_serve.shutdown()
        ray.shutdown()


@app.command()
def tune(
    experiment: Annotated[
        Path,
        typer.Argument(help="Experiment file, e.g. tune_configs/retail-asha.yaml."),
    ],
    resume: Annotated[
        bool,
        typer.Option(help="Continue an interrupted run from its last checkpoints."),
    ] = False,
    storage: Annotated[
        Path,
        typer.Option(help="Folder the experiment's folder goes under."),
    ] = Path("runs/tune"),
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the trials table as JSON.")
    ] = None,
) -> None:
    """Search training settings with Ray Tune, as a YAML experiment describes.

    Runs the trials (each an RLlib Algorithm reporting the held-out % of oracle),
    prints a table of trials, exports the best trial's policy bundle to
    STORAGE/NAME/best_bundle (a pricer: rl:PATH; servable: rayprice serve
    --bundle PATH) and writes trials.csv, trials.json and learning_curves.png
    beside it. The file format is documented in rayprice/tune.py.
    """
    import os
    import time

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from rayprice.tune import (
        ExperimentError,
        load_experiment,
        run_experiment,
        trial_table,
    )

    try:
        spec = load_experiment(experiment)
    except (ExperimentError, SpecError) as err:
        _fail(str(err))
        return
    for noisy in ("ray", "ray.rllib", "ray.tune", "ray.train"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    started = time.perf_counter()
    typer.echo(
        f"{'resuming' if resume else 'running'} {spec.name}: "
        f"{spec.spec.num_samples} trials, {spec.spec.scheduler.type} scheduler, "
        f"metric {spec.spec.metric} ({spec.spec.mode}); under {storage}"
    )
    try:
        outcome = run_experiment(spec, storage=storage, resume=resume)
    except (ExperimentError, SpecError) as err:
        _fail(str(err))
        return
    header, rows = trial_table(outcome)
    typer.echo(_table(rows, header))
    if outcome.best_bundle is not None and outcome.best is not None:
        typer.echo(
            f"best trial {outcome.best.trial_id}: {spec.spec.metric} "
            f"{outcome.best.metric:.2f}; bundle {outcome.best_bundle}"
        )
        typer.echo(
            f"  evaluate: rayprice evaluate --suite {spec.base.family} "
            f"--pricers oracle,ts-flat,rl:{outcome.best_bundle}"
        )
        typer.echo(f"  serve:    rayprice serve --bundle {outcome.best_bundle}")
    else:
        typer.echo("no trial reported the metric with a checkpoint; no bundle")
    for path in outcome.files:
        typer.echo(f"wrote {path}")
    typer.echo(f"done in {time.perf_counter() - started:.0f} s")
    _write_json(json_out, {"header": header, "rows": rows, "path": str(outcome.path)})


def main() -> None:
    """Console entry point."""
    try:
        app()
    except SpecError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        sys.exit(2)
