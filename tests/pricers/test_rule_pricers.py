from __future__ import annotations

import numpy as np

from rayprice.market.families import Suite, family_from_dict, load_family
from rayprice.market.oracle import Oracle
from rayprice.pricers import (
    CostPlusPricer,
    FixedPricer,
    GreedyLeastSquaresPricer,
    MarketState,
    MarketView,
    PricingContext,
    PriorOptimalPricer,
    Sales,
)


def _state(n: int, t: int = 0) -> MarketState:
    return MarketState(
        t=np.full(n, t),
        stock=np.full(n, np.inf),
        rival_price=np.zeros((n, 0)),
        last_price=np.ones(n),
    )


def test_fixed_and_cost_plus(small_suites: dict[str, Suite]) -> None:
    suite = small_suites["logit-v1"]
    view = MarketView.from_batch(suite.batch)
    context = PricingContext(view=view, seeds=suite.seeds)
    fixed, cost_plus = FixedPricer(), CostPlusPricer(markup=0.5)
    fixed.reset(context)
    cost_plus.reset(context)
    np.testing.assert_allclose(fixed.quote(_state(4)), view.list_price)
    np.testing.assert_allclose(cost_plus.quote(_state(4)), view.unit_cost * 1.5)


def test_cost_plus_snaps_to_the_menu(small_suites: dict[str, Suite]) -> None:
    suite = small_suites["ferreira-v1"]
    view = MarketView.from_batch(suite.batch)
    pricer = CostPlusPricer()
    pricer.reset(PricingContext(view=view, seeds=suite.seeds))
    # Unit cost is zero there: the lowest price on the menu.
    np.testing.assert_allclose(pricer.quote(_state(4)), view.grid_price[:, 0])


def test_prior_optimal_is_the_optimum_when_the_prior_is_one_market() -> None:
    # Only the list price (known to the seller) is drawn; demand is fixed.
    family = family_from_dict(
        {
            "name": "point-v1",
            "base": {
                "unit_cost": 0.45,
                "demand": {
                    "model": "logit",
                    "market_size": 100,
                    "segments": [{"intercept": 2.2, "price_sensitivity": 3.7}],
                },
            },
            "priors": {
                "list_price": {"dist": "loguniform", "low": 5, "high": 500},
                "unit_cost": {
                    "dist": "uniform",
                    "low": 0.3,
                    "high": 0.6,
                    "scale": "list_price",
                },
            },
            "heldout": {"seed": 1, "size": 6},
        }
    )
    suite = family.heldout_suite()
    pricer = PriorOptimalPricer(n_particles=8)
    pricer.reset(
        PricingContext(
            view=MarketView.from_batch(suite.batch), seeds=suite.seeds, family=family
        )
    )
    from rayprice.market.simulator import MarketSimulator

    sim = MarketSimulator(suite.batch, suite.seeds)
    best = Oracle(suite.batch, suite.seeds).price(sim)
    np.testing.assert_allclose(
        pricer.quote(MarketState.from_simulator(sim)), best, rtol=0.03
    )


def test_greedy_prices_at_the_optimum_of_the_fitted_line() -> None:
    suite = load_family("linear-v1").draw_suite(3, seed=2)
    view = MarketView.from_batch(suite.batch)
    pricer = GreedyLeastSquaresPricer()
    pricer.reset(PricingContext(view=view, seeds=suite.seeds))
    alpha, beta = 1.8, -0.9  # units per customer = alpha + beta * price / list price
    for t in range(2):
        price = pricer.quote(_state(3, t))
        units = view.market_size * (alpha + beta * price / view.list_price)
        pricer.observe(
            Sales(
                np.full(3, t),
                price,
                np.zeros((3, 0)),
                np.full(3, np.inf),
                units,
                np.zeros(3),
            )
        )
    expected = (
        0.5 * (alpha / -beta + view.unit_cost / view.list_price) * view.list_price
    )
    np.testing.assert_allclose(pricer.quote(_state(3, 2)), expected, rtol=1e-9)
