"""After training: the side-by-side evaluation on held-out markets and a report.

The report folder holds ``learning_curve.png`` (episode return and held-out % of
oracle against env steps), the harness's plots (``ratio.png`` — ratio over time —,
``regret.png``, ``price_paths.png``), ``evaluation.json`` and ``report.md``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

import rayprice.pricers.policy  # noqa: F401  (registers the rl: pricers)
from rayprice.evaluate import (
    EvaluationResult,
    EvaluationSettings,
    evaluate,
    format_table,
)
from rayprice.evaluate.plots import write_plots
from rayprice.jsonable import jsonable
from rayprice.train.evaluation import EVAL_ORACLE_RATIO
from rayprice.train.run import TRAIN_ENV_STEPS, TRAIN_EPISODE_RETURN, TrainOutcome

logger = logging.getLogger(__name__)

#: The classical pricers the trained policy is compared with.
REFERENCE_PRICERS: tuple[str, ...] = (
    "oracle",
    "fixed",
    "prior-optimal",
    "ts-flat",
    "ts-true-prior",
)


def compare_on_heldout(
    bundle: str | Path,
    suite: str,
    markets: int | None,
    extra: tuple[str, ...] = (),
    progress: bool = False,
) -> EvaluationResult:
    """The policy against the oracle and the classical pricers, same customers."""
    pricers = (*REFERENCE_PRICERS, *extra, f"rl:{bundle}")
    settings = EvaluationSettings(
        pricers=pricers, suite=suite, markets=markets, progress=progress
    )
    return evaluate(settings)


def write_report(
    outcome: TrainOutcome, result: EvaluationResult, directory: str | Path
) -> list[Path]:
    """Plots, ``evaluation.json`` and ``report.md``; returns the files written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    files = [learning_curve(outcome.history, out / "learning_curve.png")]
    files += write_plots(result, out)
    payload = {"training": _training_summary(outcome), "evaluation": result.to_dict()}
    (out / "evaluation.json").write_text(
        json.dumps(payload, indent=2, default=jsonable)
    )
    files.append(out / "evaluation.json")
    summary = _training_summary(outcome)
    lines = [
        f"# Training report: {outcome.settings.algorithm} on {outcome.settings.family}",
        "",
        f"- network: {outcome.settings.network}, window {outcome.settings.window}",
        f"- {summary['iterations']} iterations, {summary['env_steps']:,} env steps, "
        f"{summary['seconds']:.0f} s",
        f"- bundle: `{outcome.bundle}`",
        "",
        "## Held-out markets",
        "",
        "```",
        format_table(result),
        "```",
        "",
        "![learning curve](learning_curve.png)",
        "![ratio over time](ratio.png)",
        "![price paths](price_paths.png)",
        "",
    ]
    (out / "report.md").write_text("\n".join(lines))
    files.append(out / "report.md")
    logger.info("wrote report to %s", out)
    return files


def _training_summary(outcome: TrainOutcome) -> dict[str, Any]:
    return {
        "settings": outcome.settings.to_dict(),
        "iterations": len(outcome.history),
        "env_steps": outcome.env_steps,
        "seconds": outcome.seconds,
        "bundle": str(outcome.bundle),
        "history": outcome.history,
    }


def learning_curve(history: list[dict[str, float]], path: Path) -> Path:
    """Mean episode return and held-out % of oracle against env steps."""
    from matplotlib.figure import Figure

    steps = np.array([row[TRAIN_ENV_STEPS] for row in history])
    returns = np.array([row[TRAIN_EPISODE_RETURN] for row in history])
    evals = [
        (row[TRAIN_ENV_STEPS], row[EVAL_ORACLE_RATIO])
        for row in history
        if EVAL_ORACLE_RATIO in row
    ]

    fig = Figure(figsize=(8, 5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(steps, returns, color="tab:blue")
    top.set_ylabel("episode return\n(profit / list price / customer)")
    top.set_title("Learning curve")
    if evals:
        x, y = zip(*evals)
        bottom.plot(x, y, marker="o", color="tab:green")
    bottom.set_ylabel("held-out % of oracle")
    bottom.set_xlabel("env steps")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
