from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom, poisson

from rayprice.market import random as rnd
from rayprice.market.demand import (
    binomial_quantile,
    choice_shares,
    expected_units,
    poisson_quantile,
)
from rayprice.market.families import load_family
from rayprice.market.simulator import MarketSimulator

from .conftest import BUILTIN_FAMILIES


def test_choice_shares_sum_to_one_and_fall_with_our_price() -> None:
    batch = load_family("retail-v1").draw_suite(50, seed=4).batch
    low = choice_shares(batch, 0.8 * batch.list_price, batch.rival_initial_price)
    high = choice_shares(batch, 1.2 * batch.list_price, batch.rival_initial_price)
    np.testing.assert_allclose(low.sum(axis=1), 1.0)
    assert (high[:, 0] < low[:, 0]).all()
    # Customers we lose go to the rivals and to not buying.
    assert (high[:, 1:] > low[:, 1:]).all()


def test_our_share_rises_with_rival_prices() -> None:
    batch = load_family("duopoly-v1").draw_suite(20, seed=4).batch
    cheap = choice_shares(batch, batch.list_price, 0.9 * batch.rival_initial_price)
    dear = choice_shares(batch, batch.list_price, 1.1 * batch.rival_initial_price)
    assert (dear[:, 0] > cheap[:, 0]).all()


@pytest.mark.parametrize("name", BUILTIN_FAMILIES)
def test_expected_units_fall_with_price(name: str) -> None:
    batch = load_family(name).draw_suite(30, seed=5).batch
    prices = batch.list_price[:, None] * np.linspace(0.5, 2.0, 25)[None, :]
    if batch.model == "table":
        prices = batch.grid_price
    units = expected_units(
        batch, prices, 0, batch.rival_initial_price, np.ones(batch.n)
    )
    assert (np.diff(units, axis=1) <= 1e-12).all()
    assert (units >= 0).all()


def test_binomial_draws_are_exact_quantiles_for_small_counts() -> None:
    rng = np.random.default_rng(0)
    n = rng.integers(1, 40, size=4000).astype(float)
    q = rng.uniform(0, 1, size=4000) ** 3
    u = rng.uniform(size=4000)
    small = n * q * (1 - q) <= 9
    ours = binomial_quantile(n, q, u)
    np.testing.assert_array_equal(ours[small], binom.ppf(u, n, q)[small])


def test_poisson_draws_are_exact_quantiles_for_small_means() -> None:
    rng = np.random.default_rng(1)
    mean = rng.uniform(0, 9, size=4000)
    u = rng.uniform(size=4000)
    np.testing.assert_array_equal(poisson_quantile(mean, u), poisson.ppf(u, mean))


def test_large_counts_have_the_right_mean_and_spread() -> None:
    u = rnd.uniforms(rnd.seeds_from(3, 20000), rnd.DEMAND, 0, 1)[:, 0]
    n, q = np.full(20000, 400.0), np.full(20000, 0.3)
    draws = binomial_quantile(n, q, u)
    assert abs(draws.mean() - 120) < 0.5
    assert abs(draws.std() - np.sqrt(400 * 0.3 * 0.7)) < 0.3


def test_a_higher_purchase_probability_never_sells_less_on_the_same_draws() -> None:
    rng = np.random.default_rng(2)
    n = rng.integers(1, 300, size=5000).astype(float)
    q = rng.uniform(size=5000)
    u = rng.uniform(size=5000)
    assert (
        binomial_quantile(n, np.minimum(q + 0.05, 1), u) >= binomial_quantile(n, q, u)
    ).all()


@pytest.mark.parametrize("name", BUILTIN_FAMILIES)
def test_simulated_sales_match_their_expectation(name: str) -> None:
    suite = load_family(name).draw_suite(400, seed=9)
    sim = MarketSimulator(suite.batch.with_horizon(20), suite.seeds)
    sold, expected = 0.0, 0.0
    for _ in range(20):
        out = sim.step(suite.batch.list_price)
        # Compare before stock binds: demand against its expectation.
        sold += out.units_demanded.sum()
        expected += out.expected_units.sum()
    assert sold == pytest.approx(expected, rel=0.03)


def test_same_seed_same_customers() -> None:
    suite = load_family("logit-v1").draw_suite(50, seed=1)
    a = MarketSimulator(suite.batch, suite.seeds)
    b = MarketSimulator(suite.batch, suite.seeds)
    for _ in range(10):
        np.testing.assert_array_equal(
            a.step(suite.batch.list_price).units_sold,
            b.step(suite.batch.list_price).units_sold,
        )


def test_impossible_prices_are_refused() -> None:
    suite = load_family("logit-v1").draw_suite(3, seed=1)
    sim = MarketSimulator(suite.batch, suite.seeds)
    for bad in (np.array([1.0, -1.0, 1.0]), np.array([1.0, np.nan, 1.0])):
        with pytest.raises(ValueError, match="price: must be finite and positive"):
            sim.step(bad)
    with pytest.raises(ValueError, match="price: need shape"):
        sim.step(np.ones(4))


def test_stock_caps_sales_and_restocks_arrive() -> None:
    suite = load_family("retail-v1").draw_suite(100, seed=2)
    sim = MarketSimulator(suite.batch, suite.seeds)
    for t in range(21):
        before = sim.stock.copy()
        out = sim.step(0.5 * suite.batch.list_price)
        assert (out.units_sold <= before + 1e-9).all()
        if (t + 1) % 7 == 0:
            assert (sim.stock >= suite.batch.restock_to - 1e-9).all()
