"""The shipped Ta-Feng extract, its family and its held-out suite."""

from __future__ import annotations

import numpy as np

from rayprice.data.calibrate import calibrate
from rayprice.data.tafeng import EXTRACT, FAMILY, SETTINGS
from rayprice.market import MarketSimulator, load_family, load_suite


def test_extract_is_small_and_calibrates():
    assert EXTRACT.stat().st_size < 5_000_000
    result = calibrate(EXTRACT, SETTINGS)
    summary = result.summary()
    assert summary["products"]["fitted"] + summary["products"]["heldout"] == 300
    assert summary["rows"]["rejected"] == 0
    assert 1.0 < summary["elasticity"]["median"] < 20.0
    # The shipped family is what the script makes from the shipped extract.
    shipped = load_family("tafeng-v1")
    assert [m.name for m in shipped.spec.markets] == [
        m["name"] for m in result.family["markets"]
    ]
    assert FAMILY.is_file()


def test_suite_holds_products_the_family_never_saw():
    family = load_family("tafeng-v1")
    suite = load_suite("tafeng-heldout-v1")
    assert suite.family == "tafeng-v1"
    seen = {m.name for m in family.spec.markets}
    held = {m.name for m in family.spec.heldout_markets}
    assert held and not seen & held
    assert suite.size == len(held)


def test_simulator_runs_on_the_suite_and_on_family_draws():
    suite = load_suite("tafeng-heldout-v1")
    sim = MarketSimulator(suite.batch, suite.seeds)
    for _ in range(5):
        out = sim.step(suite.batch.list_price)
    assert np.all(np.isfinite(out.profit)) and out.units_sold.sum() > 0
    drawn = load_family("tafeng-v1").sample(np.arange(50, dtype=np.uint64))
    assert np.all(drawn.seg_slope > 0) and np.all(drawn.list_price > 0)
