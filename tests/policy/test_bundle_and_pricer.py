"""Policy bundles, the rl: pricer, and the observation it builds."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from rayprice.market.env import MarketVectorEnv
from rayprice.policy import DEFAULT_BUNDLE
from rayprice.policy.bundle import (
    MANIFEST,
    BundleError,
    bundle_size_bytes,
    load_network,
    read_manifest,
)
from rayprice.pricers.base import MarketState, MarketView, PricingContext, Sales
from rayprice.pricers.policy import PolicyPricer
from rayprice.pricers.registry import make_pricer


def test_bundle_round_trip(fresh_bundle: Path) -> None:
    net, manifest = load_network(fresh_bundle)
    assert manifest.window == 8 and manifest.network == "transformer"
    assert "torch" in manifest.versions and "rayprice" in manifest.versions
    obs = torch.zeros(2, 6 * 8 + 8)
    assert net(obs).shape == (2, 2)


def test_bundle_with_another_layout_is_refused(fresh_bundle: Path) -> None:
    data = json.loads((fresh_bundle / MANIFEST).read_text())
    data["window_features"] = ["price", "units"]
    (fresh_bundle / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(BundleError, match="observation layout"):
        read_manifest(fresh_bundle)


def test_a_folder_without_manifest_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="manifest.json"):
        PolicyPricer(tmp_path)


@pytest.mark.parametrize("window", [4, 16])
def test_live_observation_equals_the_training_observation(
    tmp_path: Path, window: int, bundle_factory: Callable[..., Path]
) -> None:
    """Drive the gym env's markets and the pricer side by side for a season: the
    pricer, fed only what a seller sees, builds the env's observation exactly."""
    bundle = bundle_factory(tmp_path / "b", window=window)
    env = MarketVectorEnv(
        num_envs=6, family="retail-v1", window=window, horizon_days=30
    )
    obs, _ = env.reset(seed=7)
    sim = env.simulator
    pricer = PolicyPricer(bundle)
    pricer.reset(
        PricingContext(view=MarketView.from_batch(env.batch), seeds=sim.seeds.copy())
    )
    rng = np.random.default_rng(0)
    for _ in range(30):
        state = MarketState.from_simulator(sim)
        np.testing.assert_array_equal(pricer.observation(state), obs)

        actions = rng.uniform(-1, 1, (6, 1)).astype(np.float32)
        rival_before = sim.rival_price.copy()
        stock_before = sim.stock.copy()
        obs, _, terminated, _, info = env.step(actions)
        pricer.observe(
            Sales(
                t=state.t,
                price=info["price"],
                rival_price=rival_before,
                stock_before=stock_before,
                units_sold=info["units_sold"],
                profit=info["profit"],
            )
        )
    assert terminated.all()


def test_rl_names_resolve_through_the_registry(fresh_bundle: Path) -> None:
    pricer = make_pricer(f"rl:{fresh_bundle}")
    assert isinstance(pricer, PolicyPricer)
    sampled = make_pricer(f"rl:{fresh_bundle}?sample")
    assert isinstance(sampled, PolicyPricer) and sampled.sample


def test_fresh_policy_runs_in_the_harness(fresh_bundle: Path) -> None:
    from rayprice.evaluate import EvaluationSettings, evaluate

    name = f"rl:{fresh_bundle}"
    result = evaluate(
        EvaluationSettings(
            pricers=("fixed", name),
            suite="retail-heldout-v1",
            markets=3,
            horizon_days=20,
        )
    )
    prices = result.runs[name].price
    assert prices.shape == (3, 20) and np.isfinite(prices).all()


def test_default_bundle_is_small_and_loads() -> None:
    assert bundle_size_bytes(DEFAULT_BUNDLE) < 5_000_000
    assert make_pricer("rl:default").manifest.family == "retail-v1"


def test_default_bundle_beats_the_list_price() -> None:
    from rayprice.evaluate import EvaluationSettings, evaluate

    result = evaluate(
        EvaluationSettings(
            pricers=("fixed", "rl:default"),
            suite="retail-heldout-v1",
            markets=20,
            horizon_days=100,
        )
    )
    fixed = result.runs["fixed"].profit.sum()
    policy = result.runs["rl:default"].profit.sum()
    assert policy > fixed
