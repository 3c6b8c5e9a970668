"""An evaluation as a terminal table and as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rayprice.evaluate import metrics as m

if TYPE_CHECKING:
    from rayprice.evaluate.harness import EvaluationResult


def format_table(result: EvaluationResult) -> str:
    """One row per pricer: % of the oracle's profit over 1..t (mean ± 95% CI), regret,
    periods until the mean ratio reaches 95%, and the meta-learning value."""
    horizon = result.horizon_days
    has_meta = any(x.meta_value for x in result.metrics.values())
    header = ["pricer"] + [f"%oracle t={t}" for t in result.checkpoints]
    header += [f"regret % t={horizon}", "t->95%"]
    if has_meta:
        header.append(f"meta value t={horizon}")
    rows = []
    for name, metric in result.metrics.items():
        row = [name] + [metric.ratio_pct[t].format(1) for t in result.checkpoints]
        row.append(metric.regret_pct[horizon].format(1))
        row.append(
            "never" if metric.periods_to_95 is None else str(metric.periods_to_95)
        )
        if has_meta:
            value = metric.meta_value.get(horizon)
            row.append(value.format(2) if value is not None else "n/a")
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(header, widths))
        ),
        "  ".join("-" * w for w in widths),
    ]
    for row in rows:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths))
            )
        )
    methods = ", ".join(
        f"{k} x{v}" for k, v in sorted(_count(result.oracle_methods).items())
    )
    title = (
        f"{result.suite.name}: {result.suite.size} markets x {horizon} periods, "
        f"same customers for every pricer; oracle: {methods}"
    )
    notes = ["95% CIs over markets."]
    if "approx-lookahead" in result.oracle_methods:
        notes.append(
            "The oracle is approximate (approx-lookahead) on some markets: a lower "
            "bound, so ratios there can exceed 100%."
        )
    return "\n".join([title, *lines, *notes])


def _count(items: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def result_to_dict(result: EvaluationResult) -> dict[str, Any]:
    """Every figure of an evaluation and the exact settings that produced it."""
    from rayprice.evaluate.harness import settings_dict

    pricers: dict[str, Any] = {}
    for name, metric in result.metrics.items():
        run = result.runs[name]
        pricers[name] = {
            m.RATIO: {str(t): e.to_dict() for t, e in metric.ratio_pct.items()},
            m.REGRET: {str(t): e.to_dict() for t, e in metric.regret.items()},
            m.REGRET_PCT: {str(t): e.to_dict() for t, e in metric.regret_pct.items()},
            m.PERIODS_TO_95: {
                "mean_curve": metric.periods_to_95,
                "median_over_markets": metric.periods_to_95_median,
                "share_of_markets_reaching": metric.reached_95_share,
            },
            m.META_VALUE: {str(t): e.to_dict() for t, e in metric.meta_value.items()},
            "curves": {
                "ratio_pct_mean": _floats(metric.ratio_curve),
                "regret_pct_mean": _floats(metric.regret_pct_curve),
            },
            "total_profit_mean": float(run.profit.sum(axis=1).mean()),
            "seconds": run.seconds,
            "settings": run.settings,
        }
    return {
        "settings": settings_dict(result),
        "oracle": {
            "expected_profit_mean": float(result.oracle_profit.sum(axis=1).mean()),
            "methods": result.oracle_methods,
        },
        "pricers": pricers,
        "seconds": result.seconds,
    }


def _floats(values: Any) -> list[float | None]:
    return [None if v != v else round(float(v), 6) for v in values]
