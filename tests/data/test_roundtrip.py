"""Logs simulated from known markets are calibrated back."""

from __future__ import annotations

import numpy as np
import pytest

from rayprice.data.calibrate import CalibrationSettings, calibrate
from rayprice.market import MarketBatch
from rayprice.market.demand import expected_units
from rayprice.market.families import family_from_dict


def _optimal(batch: MarketBatch) -> tuple[np.ndarray, np.ndarray]:
    """Static profit-maximising price and its expected daily profit, by grid."""
    grid = batch.list_price[:, None] * np.linspace(0.3, 4.0, 4001)[None, :]
    profit = (grid - batch.unit_cost[:, None]) * expected_units(batch, grid, 0)
    best = profit.argmax(axis=1)
    rows = np.arange(batch.n)
    return grid[rows, best], profit[rows, best]


@pytest.fixture(scope="module")
def roundtrip(simulate_module):
    simulate = simulate_module
    rng = np.random.default_rng(7)
    n = 30
    sensitivity = rng.uniform(1.5, 4.0, n)
    intercept = sensitivity + rng.uniform(-0.5, 0.5, n)
    list_price = np.exp(rng.uniform(np.log(5), np.log(500), n))
    sim = simulate(
        intercept=intercept,
        sensitivity=sensitivity,
        list_price=list_price,
        market_size=rng.uniform(15, 40, n),
        unit_cost=0.5 * list_price,
        days=250,
        price_range=np.full(n, 0.3),
        seed=11,
    )
    result = calibrate(sim.logs, CalibrationSettings(name="roundtrip-v1"))
    order = np.argsort(result.fit.product_id)
    assert list(result.fit.product_id[order]) == sim.product_id
    return sim, result, order


def test_elasticities_recovered_within_10_percent(roundtrip):
    sim, result, order = roundtrip
    fit = result.fit
    true_batch = MarketBatch.from_specs(sim.specs)
    # Elasticity of the true demand at the fitted list price.
    true = true_batch.seg_slope[:, 0] * fit.list_price[order] / true_batch.list_price
    error = np.abs(fit.elasticity()[order] / true - 1)
    assert error.max() < 0.10
    assert np.median(error) < 0.04
    # The stated uncertainty covers the error for most products.
    z = np.abs(np.log(fit.elasticity()[order] / true)) / fit.log_sensitivity_sd[order]
    assert np.mean(z < 2.5) >= 0.85


def test_optimal_prices_and_profit_recovered(roundtrip):
    sim, result, order = roundtrip
    true_batch = MarketBatch.from_specs(sim.specs)
    true_price, true_profit = _optimal(true_batch)

    family = family_from_dict(result.family, "roundtrip")
    fitted_batch = MarketBatch.from_specs(list(family.spec.markets))
    fitted_batch = fitted_batch.take(order)
    fitted_price, fitted_profit = _optimal(fitted_batch)

    assert np.abs(fitted_price / true_price - 1).max() < 0.10
    assert np.abs(fitted_profit / true_profit - 1).max() < 0.15
    assert abs(fitted_profit.sum() / true_profit.sum() - 1) < 0.05
    # Pricing the true markets at the fitted optimum loses under 1% of profit.
    at_fitted = (fitted_price - true_batch.unit_cost) * expected_units(
        true_batch, fitted_price, 0
    )
    assert np.all(at_fitted >= 0.99 * true_profit)


def test_family_prior_covers_the_true_parameters(roundtrip):
    sim, result, _ = roundtrip
    prior = result.family["priors"][
        "demand.segments.0.intercept,demand.segments.0.price_sensitivity"
    ]
    mean_log_b = prior["mean"][1]
    true_log_b = np.log([s.demand.segments[0].price_sensitivity for s in sim.specs])
    assert abs(mean_log_b - true_log_b.mean()) < 0.1
    assert prior["log"] == [False, True]


def test_held_out_score_beats_a_demand_without_price_effect(roundtrip):
    _, result, _ = roundtrip
    assert result.holdout.skill > 0.5
    assert result.holdout.share_better > 0.9


def test_constant_elasticity_round_trip(simulate):
    rng = np.random.default_rng(3)
    n = 12
    sensitivity = rng.uniform(1.5, 3.5, n)
    list_price = np.exp(rng.uniform(np.log(5), np.log(50), n))
    sim = simulate(
        intercept=rng.uniform(-0.3, 0.3, n),
        sensitivity=sensitivity,
        list_price=list_price,
        market_size=np.full(n, 30.0),
        unit_cost=0.4 * list_price,
        days=250,
        price_range=np.full(n, 0.3),
        seed=5,
        model="constant_elasticity",
    )
    result = calibrate(
        sim.logs, CalibrationSettings(name="ce-v1", model="constant_elasticity")
    )
    order = np.argsort(result.fit.product_id)
    assert np.abs(result.fit.elasticity()[order] / sensitivity - 1).max() < 0.10


def test_inelastic_constant_elasticity_fits_are_flagged(simulate, caplog):
    rng = np.random.default_rng(4)
    n = 6
    # Half the products are inelastic (b < 1): no finite optimal price.
    sensitivity = np.array([0.6, 0.7, 0.8, 2.0, 2.5, 3.0])
    list_price = np.exp(rng.uniform(np.log(5), np.log(50), n))
    sim = simulate(
        intercept=np.zeros(n),
        sensitivity=sensitivity,
        list_price=list_price,
        market_size=np.full(n, 30.0),
        unit_cost=0.4 * list_price,
        days=200,
        price_range=np.full(n, 0.3),
        seed=8,
        model="constant_elasticity",
    )
    with caplog.at_level("WARNING", logger="rayprice.data.calibrate"):
        calibrate(
            sim.logs, CalibrationSettings(name="ce-v1", model="constant_elasticity")
        )
    warnings = [
        r.getMessage() for r in caplog.records if "elasticity <= 1" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert warnings[0].startswith("calibrate: 3 of 6 products")

    caplog.clear()
    with caplog.at_level("WARNING", logger="rayprice.data.calibrate"):
        calibrate(sim.logs, CalibrationSettings(name="ex-v1", model="exponential"))
    assert not [r for r in caplog.records if "elasticity <= 1" in r.getMessage()]
