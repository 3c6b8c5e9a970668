from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from rayprice.market.demand import expected_units
from rayprice.market.families import Family, Suite
from rayprice.market.oracle import Oracle
from rayprice.market.simulator import MarketSimulator
from rayprice.pricers import MarketView, PricingContext, Sales, ThompsonPricer
from rayprice.pricers.particles import (
    FamilyPrior,
    ParticlePosterior,
    _log_likelihood,
    flat_family,
)
from rayprice.pricers.thompson import learned_prior, solve_rate_lp

INTERCEPT = "demand.segments.0.intercept"
SLOPE = "demand.segments.0.price_sensitivity"


def test_flat_prior_widens_every_hidden_prior(logit_family: Family) -> None:
    flat = flat_family(logit_family)
    for path in (INTERCEPT, SLOPE):
        true, wide = logit_family.spec.priors[path], flat.spec.priors[path]
        assert wide.low < true.low and wide.high > true.high  # type: ignore[operator]
        assert wide.low > 0 or true.low <= 0  # type: ignore[operator]
    assert flat.spec.priors["list_price"] == logit_family.spec.priors["list_price"]


def test_posterior_concentrates_on_the_true_market(
    logit_suite: Suite, logit_family: Family
) -> None:
    batch = logit_suite.batch
    posterior = ParticlePosterior(
        FamilyPrior(flat_family(logit_family), "flat"),
        MarketView.from_batch(batch),
        logit_suite.seeds,
        256,
    )
    prior_sd = {p: posterior.std(p).mean() for p in (INTERCEPT, SLOPE)}
    sim = MarketSimulator(batch, logit_suite.seeds)
    # Prices that vary identify both parameters.
    for t in range(60):
        price = batch.list_price * (0.6, 1.0, 1.5)[t % 3]
        posterior.update(Sales.from_outcome(np.full(batch.n, t), sim.step(price)))
    truth = {INTERCEPT: batch.seg_intercept[:, 0], SLOPE: batch.seg_slope[:, 0]}
    for path in (INTERCEPT, SLOPE):
        assert posterior.std(path).mean() < 0.1 * prior_sd[path]
        assert np.abs(posterior.mean(path) - truth[path]).mean() < 0.2


def test_thompson_learns_demand_at_the_best_price(
    logit_suite: Suite, logit_family: Family, drive
) -> None:
    pricer = ThompsonPricer("true")
    drive(pricer, logit_suite, 100)
    posterior = pricer.posterior
    assert posterior is not None
    batch = logit_suite.batch
    best = Oracle(batch, logit_suite.seeds).price(
        MarketSimulator(batch, logit_suite.seeds)
    )
    truth = expected_units(batch, best, 0)
    owner = posterior.owner
    predicted = expected_units(posterior.batch, best[owner], 0).reshape(batch.n, -1)
    mean = (posterior.weights * predicted).sum(axis=1)
    assert np.abs(mean - truth).max() < 0.05 * batch.market_size.max()
    assert (
        posterior.std(SLOPE).mean()
        < 0.5 * FamilyPrior(logit_family, "true").family.spec.priors[SLOPE].high
    )  # type: ignore[operator]


def test_sold_out_periods_count_as_at_least_that_many() -> None:
    from rayprice.market.families import load_family

    batch = load_family("logit-v1").draw_suite(2, seed=1).batch
    rates = np.array([[0.2], [0.6]])
    n = np.array([[100.0], [100.0]])
    k = np.array([30.0, 30.0])
    exact = _log_likelihood(batch, rates, n, k, np.array([False, False]))
    tail = _log_likelihood(batch, rates, n, k, np.array([True, True]))
    # Selling exactly 30 favours q = 0.2; selling out at 30 favours q = 0.6.
    assert exact[0] > exact[1]
    assert tail[1] > tail[0]
    assert tail[1] == pytest.approx(0.0, abs=1e-6)


def test_rate_lp_matches_a_general_solver() -> None:
    rng = np.random.default_rng(3)
    n, g = 6, 5
    demand = rng.uniform(0.0, 1.0, (n, g))
    profit = demand * rng.uniform(0.5, 3.0, (n, g))
    rate = rng.uniform(0.05, 0.9, n)
    share = solve_rate_lp(demand, profit, rate)
    assert np.all(share >= -1e-12) and np.allclose(share.sum(axis=1), 1.0)
    for i in range(n):
        assert share[i, :g] @ demand[i] <= rate[i] + 1e-9
        best = linprog(
            -profit[i],
            A_ub=np.vstack([demand[i], np.ones(g)]),
            b_ub=[rate[i], 1.0],
            bounds=[(0, None)] * g,
            method="highs",
        )
        assert share[i, :g] @ profit[i] == pytest.approx(-best.fun, rel=1e-9, abs=1e-12)


def test_learned_prior_is_tighter_than_the_flat_one(logit_family: Family) -> None:
    prior = learned_prior(logit_family, horizon=30, n_past=40, seed=3, n_particles=64)
    seeds = np.arange(2000, dtype=np.uint64)
    learned = prior.draw(seeds)
    flat = FamilyPrior(flat_family(logit_family), "flat").draw(seeds)
    true = logit_family.sample(seeds)
    for attr in ("seg_intercept", "seg_slope"):
        spread = getattr(learned, attr)[:, 0].std()
        assert spread < 0.8 * getattr(flat, attr)[:, 0].std()
        # Centred where the family's markets are.
        assert (
            abs(getattr(learned, attr)[:, 0].mean() - getattr(true, attr)[:, 0].mean())
            < 0.5
        )


def test_reset_needs_the_family(logit_suite: Suite) -> None:
    with pytest.raises(ValueError, match="family"):
        ThompsonPricer("flat").reset(
            PricingContext(
                view=MarketView.from_batch(logit_suite.batch), seeds=logit_suite.seeds
            )
        )
