"""What a market is and how it answers a price.

Specs, demand models, rivals, families and held-out suites, the vector env and the
oracle. Nothing here depends on Ray.
"""

from rayprice.market.batch import MarketBatch
from rayprice.market.families import Family, Suite, load_family, load_suite
from rayprice.market.simulator import MarketSimulator, StepOutcome
from rayprice.market.spec import MarketSpec, SpecError

__all__ = [
    "Family",
    "MarketBatch",
    "MarketSimulator",
    "MarketSpec",
    "SpecError",
    "StepOutcome",
    "Suite",
    "load_family",
    "load_suite",
]
