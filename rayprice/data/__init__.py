"""Transaction logs -> panels -> fitted demand -> market families.

- :mod:`rayprice.data.logs`: the log schema, reading Parquet/CSV, validation and
  rejected rows;
- :mod:`rayprice.data.panel`: the product x day panel;
- :mod:`rayprice.data.fit`: per-product demand by penalised maximum likelihood
  with a pooled (empirical-Bayes) prior, and the out-of-time fit score;
- :mod:`rayprice.data.calibrate`: all of it, ending in a market family;
- :mod:`rayprice.data.report`: plots; :mod:`rayprice.data.tafeng`: the shipped
  Ta-Feng extract and the ``tafeng-v1`` family.
"""

from rayprice.data.calibrate import (
    CalibrationResult,
    CalibrationSettings,
    calibrate,
    format_summary,
    write_family,
)
from rayprice.data.fit import DemandFit, PooledPrior, fit_demand, score_holdout
from rayprice.data.logs import REJECT_REASONS, Logs, LogSchemaError, load_logs
from rayprice.data.panel import Panel, build_panel

__all__ = [
    "REJECT_REASONS",
    "CalibrationResult",
    "CalibrationSettings",
    "DemandFit",
    "LogSchemaError",
    "Logs",
    "Panel",
    "PooledPrior",
    "build_panel",
    "calibrate",
    "fit_demand",
    "format_summary",
    "load_logs",
    "score_holdout",
    "write_family",
]
