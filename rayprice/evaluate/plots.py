"""Plots of an evaluation as PNG files: regret, ratio over time, price paths.

Figures are drawn on matplotlib's Agg canvas directly, so plotting never touches
the global pyplot state or needs a display.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from rayprice.evaluate.harness import EvaluationResult

logger = logging.getLogger(__name__)

EXAMPLE_MARKETS = 3


def write_plots(
    result: EvaluationResult, directory: str | Path, examples: int = EXAMPLE_MARKETS
) -> list[Path]:
    """Write ``regret.png``, ``ratio.png`` and ``price_paths.png``; return their paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        _save(_curves(result, "regret"), out / "regret.png"),
        _save(_curves(result, "ratio"), out / "ratio.png"),
        _save(_price_paths(result, examples), out / "price_paths.png"),
    ]
    logger.info("wrote %d plots to %s", len(paths), out)
    return paths


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path)
    return path


def _curves(result: EvaluationResult, kind: str) -> Figure:
    fig = _figure(7.5, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    days = np.arange(1, result.horizon_days + 1)
    for name, metric in result.metrics.items():
        if kind == "regret":
            mean, band = metric.regret_pct_curve, metric.regret_pct_curve_ci
        else:
            mean, band = metric.ratio_curve, metric.ratio_curve_ci
        (line,) = ax.plot(days, mean, label=name, linewidth=1.6)
        ax.fill_between(
            days, band[:, 0], band[:, 1], color=line.get_color(), alpha=0.15
        )
    if kind == "regret":
        ax.set_ylabel("cumulative regret, % of the oracle's season profit")
        ax.set_title(f"Regret on {result.suite.name} (mean, 95% CI)")
    else:
        ax.axhline(95.0, color="grey", linestyle=":", linewidth=1)
        ax.set_ylabel("profit over periods 1..t, % of the oracle's")
        ax.set_title(
            f"Share of the oracle's profit on {result.suite.name} (mean, 95% CI)"
        )
        ax.set_ylim(bottom=max(0.0, ax.get_ylim()[0]))
    ax.set_xlabel("period (day)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def _price_paths(result: EvaluationResult, examples: int) -> Figure:
    count = max(1, min(examples, result.suite.size))
    fig = _figure(7.5, 2.6 * count)
    days = np.arange(1, result.horizon_days + 1)
    list_price = result.suite.batch.list_price
    for i in range(count):
        ax = fig.add_subplot(count, 1, i + 1)
        for name, run in result.runs.items():
            ax.plot(days, run.price[i] / list_price[i], label=name, linewidth=1.2)
        ax.set_ylabel("price / list price")
        ax.set_title(
            f"{result.suite.batch.names[i]} ({result.oracle_methods[i]})", fontsize=9
        )
        ax.grid(alpha=0.3)
    ax.set_xlabel("period (day)")
    fig.axes[0].legend(fontsize=7, ncol=3)
    fig.tight_layout()
    return fig
