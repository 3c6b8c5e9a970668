from __future__ import annotations

import numpy as np
import pytest

from rayprice.market.batch import MarketBatch
from rayprice.market.spec import MarketSpec

# The built-in families with hand-written priors (calibrated ones are tested in
# tests/data).
BUILTIN_FAMILIES = [
    "linear-v1",
    "logit-v1",
    "exponential-v1",
    "ferreira-v1",
    "duopoly-v1",
    "retail-v1",
]


def make_batch(**overrides: object) -> MarketBatch:
    """One market from a spec dict, for small exact checks."""
    return MarketBatch.from_specs([MarketSpec.from_dict(overrides)])


@pytest.fixture
def zero_seed() -> np.ndarray:
    return np.zeros(1, dtype=np.uint64)
