from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rayprice.market import random as rnd
from rayprice.market.families import builtin_names, load_family, load_suite
from rayprice.market.spec import SpecError

from .conftest import BUILTIN_FAMILIES


def test_builtin_registry_has_the_documented_families() -> None:
    assert set(BUILTIN_FAMILIES) <= set(builtin_names())


@pytest.mark.parametrize("name", BUILTIN_FAMILIES)
def test_heldout_suite_is_fixed_and_large(name: str) -> None:
    family = load_family(name)
    a, b = family.heldout_suite(), load_suite(family.suite_name)
    assert a.size >= 200
    assert a.name == name.replace("-v", "-heldout-v")
    np.testing.assert_array_equal(a.batch.unit_cost, b.batch.unit_cost)
    np.testing.assert_array_equal(a.seeds, b.seeds)


def test_market_depends_on_its_seed_alone() -> None:
    family = load_family("retail-v1")
    seeds = rnd.seeds_from(7, 50)
    whole = family.sample(seeds)
    part = family.sample(seeds[10:13])
    np.testing.assert_array_equal(whole.seg_slope[10:13], part.seg_slope)
    np.testing.assert_array_equal(whole.rival_rule[10:13], part.rival_rule)


def test_priors_follow_their_stated_ranges() -> None:
    batch = load_family("logit-v1").draw_suite(2000, seed=1).batch
    ratio = batch.unit_cost / batch.list_price
    assert 0.3 <= ratio.min() and ratio.max() <= 0.6
    assert abs(ratio.mean() - 0.45) < 0.01
    assert 5 <= batch.list_price.min() and batch.list_price.max() <= 500
    weights = load_family("retail-v1").draw_suite(100, seed=1).batch.seg_weight
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)


def test_rival_rules_are_drawn_among_the_listed_ones() -> None:
    rules = load_family("duopoly-v1").draw_suite(600, seed=2).batch.rival_rule
    counts = np.bincount(rules[:, 0], minlength=6)
    assert (counts > 60).all()


def test_hand_written_yaml_family_loads(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine-v1\n"
        "base: {demand: {model: linear, market_size: 30}, list_price: 10, unit_cost: 4}\n"
        "priors:\n"
        "  demand.segments.0.price_sensitivity: {dist: uniform, low: 1, high: 2}\n"
        "heldout: {seed: 5, size: 7}\n"
    )
    family = load_family(path)
    suite = family.heldout_suite()
    assert suite.name == "mine-heldout-v1" and suite.size == 7
    assert ((suite.batch.seg_slope >= 1) & (suite.batch.seg_slope <= 2)).all()


@pytest.mark.parametrize(
    ("family", "field"),
    [
        ({"name": "NoVersion", "base": {}, "heldout": {"seed": 1}}, "name"),
        (
            {
                "name": "x-v1",
                "base": {},
                "priors": {"unit_cost": {"dist": "uniform", "low": 2}},
                "heldout": {"seed": 1},
            },
            "high",
        ),
        (
            {
                "name": "x-v1",
                "base": {"unit_cost": 1},
                "heldout": {"seed": 1, "size": 0},
            },
            "heldout.size",
        ),
        (
            {
                "name": "x-v1",
                "base": {},
                "priors": {
                    "demand.segments.3.intercept": {"dist": "fixed", "value": 1}
                },
                "heldout": {"seed": 1},
            },
            "demand.segments.3",
        ),
        (
            {
                "name": "x-v1",
                "base": {},
                "priors": {"unit_cost": {"dist": "normal", "mean": 0, "std": 5}},
                "heldout": {"seed": 1},
            },
            "unit_cost must be >= 0",
        ),
    ],
)
def test_malformed_family_names_the_field(
    tmp_path: Path, family: dict, field: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(family))
    with pytest.raises(SpecError) as err:
        load_family(path).heldout_suite()
    assert field in str(err.value)


def test_unknown_names_list_the_valid_ones() -> None:
    with pytest.raises(SpecError, match="retail-v1"):
        load_family("retail-v9")
    with pytest.raises(SpecError, match="retail-heldout-v1"):
        load_suite("nope-heldout-v1")
