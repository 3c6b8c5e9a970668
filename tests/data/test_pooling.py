"""Partial pooling: a product whose price never moved borrows from the others."""

from __future__ import annotations

import numpy as np

from rayprice.data.fit import PooledPrior, fit_demand
from rayprice.data.panel import build_panel


def test_flat_price_product_shrinks_to_pooled_sensitivity(simulate):
    rng = np.random.default_rng(1)
    n = 25
    sensitivity = rng.uniform(2.0, 3.0, n)
    sensitivity[-1] = 8.0  # the flat product's true value, far from the rest
    price_range = np.full(n, 0.3)
    price_range[-1] = 0.0
    list_price = np.full(n, 10.0)
    sim = simulate(
        intercept=sensitivity,
        sensitivity=sensitivity,
        list_price=list_price,
        market_size=np.full(n, 20.0),
        unit_cost=0.5 * list_price,
        days=150,
        price_range=price_range,
        seed=2,
    )
    panel = build_panel(sim.logs)
    fit = fit_demand(panel)
    flat = list(fit.product_id).index(sim.product_id[-1])
    others = np.delete(np.arange(n), flat)

    pooled = np.exp(fit.prior.mean[1])
    assert 2.0 < pooled < 3.0
    # Its sales say nothing about its slope: it takes the pooled value ...
    assert abs(fit.price_sensitivity[flat] / pooled - 1) < 0.1
    # ... with the pooled uncertainty, while the others are pinned by their data.
    prior_sd = np.sqrt(fit.prior.cov[1, 1])
    assert fit.log_sensitivity_sd[flat] > 0.9 * prior_sd
    assert np.all(fit.log_sensitivity_sd[others] < 0.5 * fit.log_sensitivity_sd[flat])
    # Its demand at its one price is still fitted from its own sales.
    observed = panel.units[list(panel.product_id).index(sim.product_id[-1])].mean()
    assert abs(fit.expected_units(np.array(list_price))[flat] / observed - 1) < 0.05


def test_fixed_prior_pulls_harder_when_tighter(simulate):
    rng = np.random.default_rng(4)
    n = 6
    sensitivity = np.full(n, 4.0)
    sim = simulate(
        intercept=sensitivity,
        sensitivity=sensitivity,
        list_price=np.full(n, 10.0),
        market_size=np.full(n, 5.0),
        unit_cost=np.full(n, 5.0),
        days=40,
        price_range=np.full(n, 0.1),
        seed=rng.integers(1_000),
    )
    panel = build_panel(sim.logs)
    loose = fit_demand(
        panel, prior=PooledPrior(np.array([0.0, 0.0]), np.diag([4.0, 4.0]))
    )
    tight = fit_demand(
        panel, prior=PooledPrior(np.array([0.0, 0.0]), np.diag([4.0, 1e-4]))
    )
    assert np.all(np.abs(tight.log_sensitivity) < 0.05)
    assert np.all(np.abs(loose.log_sensitivity) > np.abs(tight.log_sensitivity))
