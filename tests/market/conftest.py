from __future__ import annotations

import numpy as np
import pytest

from rayprice.market.batch import MarketBatch
from rayprice.market.spec import MarketSpec


def make_batch(**overrides: object) -> MarketBatch:
    """One market from a spec dict, for small exact checks."""
    return MarketBatch.from_specs([MarketSpec.from_dict(overrides)])


@pytest.fixture
def zero_seed() -> np.ndarray:
    return np.zeros(1, dtype=np.uint64)
