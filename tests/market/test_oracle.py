from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from scipy.stats import binom

from rayprice.market.batch import MarketBatch
from rayprice.market.families import load_family, load_suite
from rayprice.market.oracle import (
    APPROX,
    EXACT_DP,
    EXACT_STATIC,
    Oracle,
    bertrand_nash,
    candidate_prices,
    fluid_bound,
    joint_monopoly,
    logit_profits,
)
from rayprice.market.simulator import MarketSimulator
from rayprice.market.spec import MarketSpec


def ferreira(initial_stock: int = 25) -> MarketBatch:
    base = load_family("ferreira-v1").spec.base
    assert base is not None
    spec = base.model_copy(
        update={
            "inventory": base.inventory.model_copy(  # type: ignore[union-attr]
                update={"initial_stock": initial_stock}
            )
        }
    )
    return MarketBatch.from_specs([MarketSpec.model_validate(spec.model_dump())])


@pytest.mark.parametrize(("alpha", "per_period"), [(0.25, 10.1), (0.5, 17.95)])
def test_ferreira_fluid_bound_matches_the_published_lp(
    alpha: float, per_period: float
) -> None:
    # Ferreira, Simchi-Levi and Wang (2018), single product: the LP mixes the two
    # prices around the inventory rate alpha.
    market = ferreira(int(alpha * 100))
    assert fluid_bound(market)[0] / 100 == pytest.approx(per_period, abs=1e-6)


def test_ferreira_dp_sits_just_below_the_lp() -> None:
    market = ferreira()
    plan = Oracle(market, np.zeros(1, np.uint64))
    assert plan.methods == [EXACT_DP]
    dp = plan.expected_profit().sum()
    assert 0.97 * 1010 < dp < 1010


def test_calvano_prices_and_profits_match_the_published_values() -> None:
    # Calvano et al. (2020): a = 2, a0 = 0, mu = 0.25, c = 1.
    quality, cost = np.array([2.0, 2.0]), np.array([1.0, 1.0])
    nash = bertrand_nash(quality, cost, mu=0.25)
    monopoly = joint_monopoly(quality, cost, mu=0.25)
    np.testing.assert_allclose(nash, 1.473, atol=5e-4)
    np.testing.assert_allclose(monopoly, 1.925, atol=5e-4)
    np.testing.assert_allclose(
        logit_profits(nash, quality, cost, 0.25), 0.2229, atol=1e-4
    )
    np.testing.assert_allclose(
        logit_profits(monopoly, quality, cost, 0.25), 0.3375, atol=1e-4
    )


def test_duopoly_oracle_against_a_fixed_nash_rival_prices_at_the_best_response() -> (
    None
):
    family = load_family("duopoly-v1")
    base = family.spec.base
    assert base is not None
    market = MarketBatch.from_specs(
        [
            base.model_copy(
                update={
                    "rivals": (
                        base.rivals[0].model_copy(
                            update={"rule": "fixed", "initial_price": 1.4729}
                        ),
                    )
                }
            )
        ]
    )
    plan = Oracle(market, np.zeros(1, np.uint64))
    assert plan.methods == [EXACT_STATIC]
    # Against the Nash price, the best response is the Nash price itself.
    sim = MarketSimulator(market, np.zeros(1, np.uint64))
    assert plan.price(sim)[0] == pytest.approx(1.4729, abs=2e-3)


def _tiny(initial_stock: int, every: int = 0, level: int = 0) -> MarketBatch:
    inventory = {
        "initial_stock": initial_stock,
        "holding_cost": 0.01,
        "salvage_value": 0.05,
        "restock_every_days": every,
        "restock_to": level,
    }
    return MarketBatch.from_specs(
        [
            MarketSpec.from_dict(
                {
                    "unit_cost": 0.3,
                    "list_price": 1.0,
                    "horizon_days": 4,
                    "demand": {
                        "model": "logit",
                        "market_size": 3,
                        "segments": [{"intercept": 1.5, "price_sensitivity": 3.0}],
                    },
                    "inventory": inventory,
                }
            )
        ]
    )


def _brute_force(market: MarketBatch, horizon: int) -> float:
    """Plain expectimax over (period, stock) on the oracle's own price grid."""
    prices = candidate_prices(market, 64)[0]
    c, h, salvage = 0.3, 0.01, 0.05
    n = int(market.market_size[0])
    every, level = int(market.restock_every[0]), int(market.restock_to[0])
    q = 1 / (1 + np.exp(-(1.5 - 3.0 * prices)))

    @cache
    def value(t: int, x: int) -> float:
        if t == horizon:
            return 0.0
        best = -np.inf
        for p, qp in zip(prices, q):
            total = 0.0
            for d in range(n + 1):
                sold = min(d, x)
                left = x - sold
                gain = (p - c) * sold - h * left
                if t == horizon - 1:
                    gain += salvage * left
                nxt = max(left, level) if every and (t + 1) % every == 0 else left
                total += binom.pmf(d, n, qp) * (gain + value(t + 1, nxt))
            best = max(best, total)
        return best

    return value(0, int(market.initial_stock[0]))


@pytest.mark.parametrize(("stock", "every", "level"), [(2, 0, 0), (5, 0, 0), (1, 2, 3)])
def test_dp_equals_brute_force_on_tiny_markets(
    stock: int, every: int, level: int
) -> None:
    market = _tiny(stock, every, level)
    plan = Oracle(market, np.zeros(1, np.uint64))
    assert plan.methods == [EXACT_DP]
    assert plan.expected_profit().sum() == pytest.approx(
        _brute_force(market, 4), rel=1e-9
    )


def test_dp_expected_profit_matches_simulated_customers() -> None:
    market = ferreira()
    reps = 400
    batch = market.take(np.zeros(reps, dtype=int))
    plan = Oracle(market, np.zeros(1, np.uint64))
    sim = MarketSimulator(batch, np.arange(reps, dtype=np.uint64))
    total = np.zeros(reps)
    policy = plan._dp_policy[0]
    while not sim.done.all():
        price = policy[sim.t, sim.stock.astype(int)]
        total += sim.step(price).profit
    expected = plan.expected_profit().sum()
    assert abs(total.mean() - expected) < 3 * total.std() / np.sqrt(reps)


def test_static_optimum_matches_the_linear_formula() -> None:
    suite = load_suite("linear-heldout-v1").head(20)
    plan = Oracle(suite.batch, suite.seeds)
    b = suite.batch
    sim = MarketSimulator(b, suite.seeds)
    a, slope = b.seg_intercept[:, 0], b.seg_slope[:, 0]
    # Maximise (p - c)(a - slope p / L): p* = (a L / slope + c) / 2.
    analytic = (a * b.list_price / slope + b.unit_cost) / 2
    np.testing.assert_allclose(plan.price(sim), analytic, rtol=1e-3)


def test_approximation_is_close_to_the_exact_dp_where_both_apply() -> None:
    suite = load_family("logit-v1").draw_suite(12, seed=4)
    spec_rows = []
    for i in range(suite.size):
        spec = suite.batch.spec(i)
        spec_rows.append(
            spec.model_copy(
                update={
                    "inventory": MarketSpec.from_dict(
                        {"inventory": {"initial_stock": 40 + 5 * i}}
                    ).inventory,
                    "horizon_days": 30,
                }
            )
        )
    batch = MarketBatch.from_specs(spec_rows)
    exact = Oracle(batch, suite.seeds)
    approx = Oracle(batch, suite.seeds, force_method=APPROX)
    assert set(exact.methods) == {EXACT_DP}
    e = exact.expected_profit().sum(axis=1)
    a = approx.expected_profit().sum(axis=1)
    assert (a <= e * 1.03).all()  # a policy cannot beat the optimum (up to MC noise)
    assert (a >= 0.95 * e).all()


@pytest.mark.parametrize("name", ["duopoly-heldout-v1", "retail-heldout-v1"])
def test_approximation_is_labelled_and_beats_the_list_price(name: str) -> None:
    suite = load_suite(name).head(30)
    plan = Oracle(suite.batch, suite.seeds)
    assert APPROX in plan.methods and plan.label == APPROX
    sim = MarketSimulator(suite.batch, suite.seeds)
    listed = np.zeros(suite.size)
    while not sim.done.all():
        listed += sim.step(suite.batch.list_price).profit
    assert plan.expected_profit().sum() > listed.sum()
