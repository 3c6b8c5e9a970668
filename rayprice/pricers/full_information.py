"""Pricers that read the true markets: the oracle, and one told the true market.

They exist as reference lines and test fixtures; no deployable pricer may read
the true markets. Both declare ``full_information = True``, the only way the
harness hands them the truth.
"""

from __future__ import annotations

import numpy as np

from rayprice.pricers.base import MarketState, Pricer, PricingContext, myopic_best_price


class OraclePricer(Pricer):
    """The full-information oracle of :mod:`rayprice.market.oracle`, as a pricer."""

    name = "oracle"
    full_information = True

    def reset(self, context: PricingContext) -> None:
        if context.truth is None:
            raise ValueError(
                "truth: the oracle pricer needs the true markets; run it through "
                "rayprice.evaluate, which hands them to full-information pricers"
            )
        oracle = context.oracle
        if oracle is None:
            from rayprice.market.oracle import Oracle

            oracle = Oracle(context.truth, context.seeds)
        self.oracle = oracle

    def quote(self, state: MarketState) -> np.ndarray:
        if state.simulator is None:
            raise ValueError(
                "state.simulator: the oracle prices from the simulator's state; "
                "build the state with MarketState.from_simulator(sim, True)"
            )
        return np.asarray(self.oracle.price(state.simulator), dtype=np.float64)  # type: ignore[attr-defined]


class ToldTruePricer(Pricer):
    """Knows the true market and posts its myopic optimum each period.

    In a memoryless market with unlimited stock (logit-v1, say) the myopic
    optimum is the optimal policy, so this pricer should score like the oracle:
    a check that the harness and the oracle agree.
    """

    name = "told-true"
    full_information = True

    def reset(self, context: PricingContext) -> None:
        if context.truth is None:
            raise ValueError("truth: the told-true pricer needs the true markets")
        self.truth = context.truth

    def quote(self, state: MarketState) -> np.ndarray:
        sim = state.simulator
        reference = None if sim is None else sim.reference
        rival = state.rival_price if self.truth.has_rivals else None
        price, _ = myopic_best_price(self.truth, state.t, rival, reference)
        return price
