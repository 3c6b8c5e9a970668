"""One ``default=`` hook for ``json.dumps`` across rayprice's JSON outputs."""

from __future__ import annotations

from typing import Any

import numpy as np


def jsonable(value: Any) -> Any:
    """numpy arrays as lists, numpy scalars as Python numbers, anything else as text."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
