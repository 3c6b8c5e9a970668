from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rayprice.evaluate import format_table, write_plots
from rayprice.evaluate.metrics import META_VALUE, RATIO
from rayprice.market.spec import SpecError
from rayprice.pricers import PRICERS, UnknownPricerError, pricer_names


def test_the_oracle_scores_100_percent_on_its_own_markets(run) -> None:
    for suite, tolerance in (("logit-heldout-v1", 1.0), ("ferreira-heldout-v1", 3.0)):
        result = run("oracle", suite=suite, markets=40)
        ratio = result.metrics["oracle"].ratio_pct[100]
        assert abs(ratio.mean - 100.0) < tolerance, (suite, ratio)
        assert ratio.low - 0.5 < 100.0 < ratio.high + 0.5, (suite, ratio)


def test_a_pricer_told_the_true_market_scores_like_the_oracle(
    run, test_pricers
) -> None:
    result = run("oracle,told-true,fixed", markets=30)
    oracle, told = result.runs["oracle"], result.runs["told-true"]
    np.testing.assert_allclose(told.price, oracle.price, rtol=0.01)
    gap = (
        result.metrics["told-true"].ratio_pct[100].mean
        - result.metrics["oracle"].ratio_pct[100].mean
    )
    assert abs(gap) < 0.2
    assert result.metrics["fixed"].ratio_pct[100].mean < 95.0


def test_every_pricer_meets_the_same_customers(run, test_pricers) -> None:
    result = run("fixed,discount", markets=30)
    high, low = result.runs["fixed"], result.runs["discount"]
    # On the same customers a lower price never sells fewer units; with
    # independent draws it would, often.
    assert np.all(low.price < high.price)
    assert np.all(low.units_sold >= high.units_sold)
    assert np.any(low.units_sold > high.units_sold)


def test_results_do_not_depend_on_order_or_sharding(run) -> None:
    one = run("greedy,ts-flat", markets=12, horizon_days=30)
    two = run("ts-flat,greedy", markets=12, horizon_days=30, shard_size=5)
    for name in ("greedy", "ts-flat"):
        np.testing.assert_array_equal(one.runs[name].profit, two.runs[name].profit)
    np.testing.assert_array_equal(one.oracle_profit, two.oracle_profit)


def test_learners_never_see_the_true_market(run, test_pricers) -> None:
    run("spy,oracle", markets=3, horizon_days=3)
    seen = PRICERS["spy"].factory.seen  # type: ignore[attr-defined]
    context, states = seen[0], seen[1:]
    assert context.truth is None and context.oracle is None
    assert context.family is not None
    assert len(states) == 3 and all(s.simulator is None for s in states)


def test_confidence_intervals_shrink_with_more_markets(run) -> None:
    few = run("fixed", markets=10).metrics["fixed"].ratio_pct[100]
    many = run("fixed", markets=90).metrics["fixed"].ratio_pct[100]
    # The half-width falls like 1 / sqrt(markets): by ~3x here.
    assert many.half_width < 0.6 * few.half_width
    assert few.n == 10 and many.n == 90


def test_meta_learning_value_is_zero_and_one_on_its_references(run) -> None:
    result = run("ts-flat,ts-true-prior,fixed", markets=10, horizon_days=20)
    assert result.metrics["ts-flat"].meta_value[20].mean == pytest.approx(0.0)
    assert result.metrics["ts-true-prior"].meta_value[20].mean == pytest.approx(1.0)
    assert np.isfinite(result.metrics["fixed"].meta_value[20].mean)


def test_unknown_names_list_the_valid_ones(run) -> None:
    with pytest.raises(UnknownPricerError) as err:
        run("oracle,tompson")
    assert all(name in str(err.value) for name in pricer_names())
    with pytest.raises(SpecError, match="logit-heldout-v1"):
        run("oracle", suite="logit-heldout-v9")


def test_json_table_and_plots(run, tmp_path: Path) -> None:
    result = run("oracle,fixed,ts-flat,ts-true-prior", markets=6, horizon_days=60)
    payload = json.loads(json.dumps(result.to_dict()))
    settings = payload["settings"]
    assert settings["suite_name"] == "logit-heldout-v1"
    assert settings["suite_seed"] == 1001
    assert len(settings["market_seeds"]) == 6
    assert settings["horizon_days"] == 60 and settings["checkpoints"] == [10, 50, 60]
    assert settings["oracle_methods"] == {"exact-static": 6}
    assert settings["versions"]["rayprice"]
    fixed = payload["pricers"]["fixed"]
    assert set(fixed[RATIO]) == {"10", "50", "60"}
    assert (
        fixed[RATIO]["60"]["ci_low"]
        <= fixed[RATIO]["60"]["mean"]
        <= fixed[RATIO]["60"]["ci_high"]
    )
    assert set(fixed[META_VALUE]) == {"10", "50", "60"}
    assert len(fixed["curves"]["ratio_pct_mean"]) == 60

    table = format_table(result)
    assert all(name in table for name in ("oracle", "fixed", "ts-flat", "%oracle t=60"))

    paths = write_plots(result, tmp_path / "plots")
    assert [p.name for p in paths] == ["regret.png", "ratio.png", "price_paths.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


def test_a_family_file_with_a_count_and_seed(run, tmp_path: Path) -> None:
    from rayprice.market.families import load_family

    spec = load_family("linear-v1").spec.model_copy(update={"name": "mine-v1"})
    path = tmp_path / "mine.json"
    path.write_text(spec.model_dump_json())
    result = run(
        "fixed,ts-true-prior", family=str(path), markets=5, seed=9, horizon_days=15
    )
    assert result.suite.size == 5 and result.suite.family == "mine-v1"
    assert np.isfinite(result.metrics["ts-true-prior"].ratio_pct[15].mean)
