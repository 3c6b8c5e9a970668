"""Everything that sets prices, behind one batch protocol.

See :mod:`rayprice.pricers.base` for the protocol (reset, quote, observe) and what a
pricer may see, and :mod:`rayprice.pricers.registry` for the names the command
line accepts.
"""

from rayprice.pricers.base import (
    MarketState,
    MarketView,
    Pricer,
    PricingContext,
    Sales,
)
from rayprice.pricers.full_information import OraclePricer, ToldTruePricer
from rayprice.pricers.greedy import GreedyLeastSquaresPricer
from rayprice.pricers.registry import (
    PRICERS,
    UnknownPricerError,
    make_pricer,
    parse_pricer_list,
    pricer_names,
    register_prefix,
)
from rayprice.pricers.rules import CostPlusPricer, FixedPricer, PriorOptimalPricer
from rayprice.pricers.thompson import MetaThompsonPricer, ThompsonPricer

__all__ = [
    "PRICERS",
    "CostPlusPricer",
    "FixedPricer",
    "GreedyLeastSquaresPricer",
    "MarketState",
    "MarketView",
    "MetaThompsonPricer",
    "OraclePricer",
    "Pricer",
    "PricingContext",
    "PriorOptimalPricer",
    "Sales",
    "ThompsonPricer",
    "ToldTruePricer",
    "UnknownPricerError",
    "make_pricer",
    "parse_pricer_list",
    "pricer_names",
    "register_prefix",
]
