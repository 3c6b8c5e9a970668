from __future__ import annotations

import numpy as np
import pytest

from rayprice.market.families import Suite
from rayprice.pricers import make_pricer, pricer_names
from rayprice.pricers.base import MarketView, price_bounds, shutoff_price

LEARNERS = [n for n in pricer_names() if n not in ("oracle", "meta-ts")]


@pytest.mark.parametrize(
    "family", ["logit-v1", "ferreira-v1", "retail-v1", "duopoly-v1"]
)
@pytest.mark.parametrize("name", LEARNERS)
def test_prices_are_allowed_in_every_family(
    name: str, family: str, small_suites: dict[str, Suite], drive
) -> None:
    suite = small_suites[family]
    run = drive(make_pricer(name), suite, 12)
    price = run["price"]
    view = MarketView.from_batch(suite.batch)
    low, high = price_bounds(view)
    shut = shutoff_price(view)[:, None]
    assert price.shape == (suite.size, 12)
    assert np.all(np.isfinite(price)) and np.all(price > 0)
    inside = (price >= low[:, None] * (1 - 1e-9)) & (
        price <= high[:, None] * (1 + 1e-9)
    )
    assert np.all(inside | np.isclose(price, shut))
    if view.has_menu:
        on_menu = np.isclose(price[:, :, None], view.grid_price[:, None, :]).any(
            axis=-1
        )
        assert np.all(on_menu | np.isclose(price, shut))


def test_same_seeds_same_prices(small_suites: dict[str, Suite], drive) -> None:
    suite = small_suites["retail-v1"]
    first = drive(make_pricer("ts-flat"), suite, 10)["price"]
    second = drive(make_pricer("ts-flat"), suite, 10)["price"]
    np.testing.assert_array_equal(first, second)


def test_a_market_prices_alike_whatever_its_neighbours(
    small_suites: dict[str, Suite], drive
) -> None:
    suite = small_suites["logit-v1"]
    alone = Suite(
        suite.name, suite.family, suite.batch.take([2]), suite.seeds[[2]], None
    )
    for name in ("ts-true-prior", "greedy", "prior-optimal"):
        together = drive(make_pricer(name), suite, 10)["price"][2]
        single = drive(make_pricer(name), alone, 10)["price"][0]
        np.testing.assert_allclose(together, single, rtol=1e-12)
