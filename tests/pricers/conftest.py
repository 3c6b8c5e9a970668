"""Fixtures for the pricer tests: small suites and a loop that drives a pricer."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from rayprice.market.families import Family, Suite, load_family
from rayprice.market.simulator import MarketSimulator
from rayprice.pricers import MarketState, MarketView, Pricer, PricingContext, Sales

Drive = Callable[..., dict[str, np.ndarray]]


@pytest.fixture(scope="session")
def logit_family() -> Family:
    return load_family("logit-v1")


@pytest.fixture(scope="session")
def logit_suite(logit_family: Family) -> Suite:
    return logit_family.draw_suite(12, seed=5)


@pytest.fixture(scope="session")
def small_suites() -> dict[str, Suite]:
    """Four markets of each family with stock, rivals or a menu, and plain logit."""
    return {
        name: load_family(name).draw_suite(4, seed=11)
        for name in ("logit-v1", "ferreira-v1", "retail-v1", "duopoly-v1")
    }


@pytest.fixture
def drive() -> Drive:
    """Run a pricer over a suite for ``horizon`` periods; return its arrays (N, T)."""

    def run(pricer: Pricer, suite: Suite, horizon: int) -> dict[str, np.ndarray]:
        batch = suite.batch.with_horizon(horizon)
        full = pricer.full_information
        pricer.reset(
            PricingContext(
                view=MarketView.from_batch(batch),
                seeds=suite.seeds,
                family=load_family(suite.family),
                truth=batch if full else None,
            )
        )
        sim = MarketSimulator(batch, suite.seeds)
        price, units = np.zeros((batch.n, horizon)), np.zeros((batch.n, horizon))
        for t in range(horizon):
            period = sim.t.copy()
            out = sim.step(pricer.quote(MarketState.from_simulator(sim, full)))
            pricer.observe(Sales.from_outcome(period, out))
            price[:, t], units[:, t] = out.price, out.units_sold
        return {"price": price, "units": units}

    return run
