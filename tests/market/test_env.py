from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rayprice.market.env import ENV_ID, MarketEnv, MarketVectorEnv, action_to_price
from rayprice.market.window import (
    History,
    encode_observation,
    encode_period,
    observation_size,
)

from .conftest import BUILTIN_FAMILIES


@pytest.mark.parametrize("name", BUILTIN_FAMILIES)
def test_single_env_passes_gymnasiums_checker(name: str) -> None:
    check_env(MarketEnv(family=name), skip_render_check=True)
    check_env(MarketEnv(family=name, action_type="discrete"), skip_render_check=True)


def test_registered_with_a_native_vector_entry_point() -> None:
    env = gym.make_vec(
        ENV_ID, num_envs=3, vectorization_mode="vector_entry_point", family="logit-v1"
    )
    assert isinstance(env, MarketVectorEnv)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3, observation_size(16))


@pytest.mark.parametrize("name", ["retail-v1", "ferreira-v1", "duopoly-v1"])
def test_vector_env_walks_the_single_envs_paths(name: str) -> None:
    seeds = [11, 2024, 7]
    vec = MarketVectorEnv(num_envs=3, family=name)
    singles = [MarketEnv(family=name) for _ in seeds]
    obs, _ = vec.reset(seed=seeds)
    for env, s, o in zip(singles, seeds, obs):
        np.testing.assert_array_equal(env.reset(seed=s)[0], o)
    rng = np.random.default_rng(0)
    for _ in range(30):
        actions = rng.uniform(-1, 1, size=(3, 1)).astype(np.float32)
        obs, reward, term, _, info = vec.step(actions)
        for i, env in enumerate(singles):
            o, r, t, _, inf = env.step(actions[i])
            np.testing.assert_array_equal(o, obs[i])
            assert r == pytest.approx(float(reward[i]))
            assert inf["units_sold"] == info["units_sold"][i]


def test_episode_ends_with_the_season_and_resets_on_the_next_step() -> None:
    env = MarketVectorEnv(num_envs=4, family="logit-v1", horizon_days=5)
    env.reset(seed=1)
    first = list(env.batch.names)
    actions = np.zeros((4, 1), np.float32)
    for _ in range(4):
        assert not env.step(actions)[2].any()
    assert env.step(actions)[2].all()
    obs, reward, term, trunc, _ = env.step(actions)
    assert not term.any() and (reward == 0).all()
    assert list(env.batch.names) != first
    # A fresh market's window is empty.
    assert (obs[:, 4::6][:, :16] == 0).all()


def test_reward_is_profit_in_currency() -> None:
    env = MarketVectorEnv(num_envs=8, family="logit-v1")
    env.reset(seed=3)
    actions = np.full((8, 1), 0.2, np.float32)
    price = action_to_price(actions, env.batch.list_price)
    _, reward, _, _, info = env.step(actions)
    expected = (price - env.batch.unit_cost) * info["units_sold"]
    np.testing.assert_allclose(reward, expected, rtol=1e-5)


def test_discrete_actions_use_the_table_grid() -> None:
    env = MarketVectorEnv(num_envs=2, family="ferreira-v1", action_type="discrete")
    env.reset(seed=0)
    assert env.single_action_space.n == 4
    np.testing.assert_allclose(env.prices_for(np.array([0, 3])), [29.9, 44.9])
    with pytest.raises(ValueError, match="actions"):
        env.prices_for(np.array([0, 4]))


def test_observation_is_scale_free() -> None:
    """Two markets alike but for the price level get the same observation."""
    level = np.array([10.0, 500.0])
    size, initial = np.array([20.0, 20.0]), np.array([50.0, 50.0])
    hist = History.empty(2, 4)
    for k in range(3):
        hist.push(
            encode_period(
                level * (1 + 0.1 * k),
                np.array([5.0, 5.0]),
                0.9 * level,
                np.array([40.0, 40.0]),
                level,
                size,
                initial,
            )
        )
    obs = encode_observation(
        hist,
        np.array([3, 3]),
        np.array([100, 100]),
        np.array([37.0, 37.0]),
        initial,
        0.95 * level,
        0.6 * level,
        level,
        size,
    )
    np.testing.assert_allclose(obs[0], obs[1], rtol=1e-6)
    assert obs[0, 0:6].tolist() == [0.0] * 5 + [1.0]  # padding: nothing filled yet


def test_history_from_records_matches_pushed_history() -> None:
    """Serving rebuilds the window from stored records; training pushes it live."""
    prices, units, rivals = (
        [3.0, 4.0, 5.0, 4.5],
        [1.0, 0.0, 2.0, 3.0],
        [4.0, 4.2, 4.1, 4.4],
    )
    stocks = [30.0, 29.0, 29.0, 27.0]
    pushed = History.empty(1, 3)
    for p, u, r, s in zip(prices, units, rivals, stocks):
        pushed.push(
            encode_period(
                np.array([p]),
                np.array([u]),
                np.array([r]),
                np.array([s]),
                np.array([4.0]),
                np.array([10.0]),
                np.array([30.0]),
            )
        )
    rebuilt = History.from_records(
        prices,
        units,
        rivals,
        stocks,
        window=3,
        list_price=4.0,
        market_size=10.0,
        initial_stock=30.0,
    )
    np.testing.assert_array_equal(pushed.window, rebuilt.window)
    assert rebuilt.filled.all()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="action_type"):
        MarketVectorEnv(action_type="grid")
    with pytest.raises(ValueError, match="reward"):
        MarketVectorEnv(reward="revenue")
