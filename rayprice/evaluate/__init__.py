"""Suites x pricers -> metrics with confidence intervals, tables and plots.

>>> from rayprice.evaluate import EvaluationSettings, evaluate, format_table
>>> result = evaluate(EvaluationSettings(pricers=("oracle", "fixed"), markets=5))
>>> print(format_table(result))  # doctest: +SKIP
"""

from rayprice.evaluate.harness import (
    EvaluationResult,
    EvaluationSettings,
    PricerMetrics,
    PricerRun,
    evaluate,
    resolve_suite,
    run_shard,
    summarize,
)
from rayprice.evaluate.plots import write_plots
from rayprice.evaluate.report import format_table, result_to_dict

__all__ = [
    "EvaluationResult",
    "EvaluationSettings",
    "PricerMetrics",
    "PricerRun",
    "evaluate",
    "format_table",
    "resolve_suite",
    "result_to_dict",
    "run_shard",
    "summarize",
    "write_plots",
]
