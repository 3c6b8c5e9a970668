"""Gymnasium environments over market families: a native vector env and a single env.

``rayprice/Market-v1``
======================

Description
    One product sold over a finite season in a market drawn from a family (a prior
    over markets). Every reset draws a new market, so a policy that earns well must
    find out which market it is in from the prices it tries and the sales that
    follow.

Demand model
    The family's: logit, linear, exponential, constant elasticity, segmented
    multinomial logit with rivals, or a purchase-probability table; with
    reference-price effects, seasonality and finite stock where the family has
    them (see :mod:`rayprice.market.spec`).

Action space
    ``Box(-1, 1, (1,))``: the price ``list_price * price_span ** a`` (by default
    from a third of the list price to three times it). With
    ``action_type="discrete"``, ``Discrete(n_prices)`` over prices spaced evenly in
    log between the same bounds, or the family's own price grid (table demand).

Observation space
    ``Box(-10, 10, (W * 6 + 8,))``: the scaled window of the last ``W`` periods
    and a few scalars, built by :func:`rayprice.market.window.encode_observation`.

Rewards
    Profit in the market's currency for the period (``reward="profit"``), or
    profit per list price per customer (``reward="normalized"``), which puts
    markets of every size on one scale for learning.

Episode end
    ``terminated`` when the season (``horizon_days``) is over. Selling out does
    not end the episode. The vector env resets a finished market on the next
    step (gymnasium's ``NEXT_STEP`` autoreset), ignoring that step's action.

Version history
    v1: first release.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from rayprice.market import random as rnd
from rayprice.market.batch import MarketBatch
from rayprice.market.demand import sum_like_last_axis
from rayprice.market.families import Family, load_family
from rayprice.market.simulator import MarketSimulator, StepOutcome
from rayprice.market.window import (
    DEFAULT_WINDOW,
    History,
    encode_observation,
    encode_period,
    observation_size,
)

ENV_ID = "rayprice/Market-v1"
DEFAULT_FAMILY = "retail-v1"
DEFAULT_PRICE_SPAN = 3.0


def action_to_price(
    action: np.ndarray, list_price: np.ndarray, price_span: float = DEFAULT_PRICE_SPAN
) -> np.ndarray:
    """Continuous actions in [-1, 1] to prices in currency."""
    a = np.asarray(action, dtype=np.float64).reshape(-1)
    # np.minimum/np.maximum: np.clip's Python wrapper dominates at small N.
    a = np.minimum(np.maximum(a, -1.0), 1.0)
    return list_price * np.exp(a * math.log(price_span))


def price_to_action(
    price: np.ndarray, list_price: np.ndarray, price_span: float = DEFAULT_PRICE_SPAN
) -> np.ndarray:
    return np.clip(np.log(price / list_price) / math.log(price_span), -1.0, 1.0)


def price_grid(batch: MarketBatch, n_prices: int, price_span: float) -> np.ndarray:
    """The discrete action's prices per market, shape (N, n_prices)."""
    if batch.model == "table":
        return batch.grid_price
    steps = np.linspace(-1.0, 1.0, n_prices)
    return batch.list_price[:, None] * np.exp(steps * math.log(price_span))


def _mean_rival(rival_price: np.ndarray, has_rivals: bool) -> np.ndarray:
    """Mean rival price per market, NaN without rivals.

    The same numbers as ``rival_price.mean(axis=1)``, without numpy's slow pass
    over a short last axis.
    """
    if not has_rivals:
        return np.full(rival_price.shape[0], np.nan)
    return sum_like_last_axis(rival_price, axis=1) / rival_price.shape[1]


class _Markets:
    """N markets stepping together: the simulator plus history and observations."""

    def __init__(
        self, family: Family, n: int, window: int, horizon: int | None
    ) -> None:
        self.family = family
        self.window = window
        self.horizon = horizon
        self.env_seeds = np.zeros(n, dtype=np.uint64)
        self.episode = np.zeros(n, dtype=np.uint64)
        self.sim: MarketSimulator | None = None
        self.history = History.empty(n, window)
        self.n = n

    def draw(self, mask: np.ndarray) -> None:
        seeds = rnd.derive_seeds(self.env_seeds[mask], rnd.EPISODE, self.episode[mask])
        batch = self.family.sample(seeds)
        if self.horizon is not None:
            batch = batch.with_horizon(self.horizon)
        if self.sim is None:
            self.sim = MarketSimulator(batch, seeds)
        else:
            self.sim.reset_markets(mask, batch, seeds)
        self.episode[mask] += np.uint64(1)
        self.history.clear(mask)

    def observe(self) -> np.ndarray:
        sim = self.sim
        assert sim is not None
        b = sim.batch
        rival_now = _mean_rival(sim.rival_price, b.has_rivals)
        return encode_observation(
            self.history,
            sim.t,
            b.horizon_days,
            sim.stock,
            b.initial_stock,
            rival_now,
            b.unit_cost,
            b.list_price,
            b.market_size,
        )

    def step(self, price: np.ndarray) -> StepOutcome:
        sim = self.sim
        assert sim is not None
        out = sim.step(price)
        b = sim.batch
        rival = _mean_rival(out.rival_price, b.has_rivals)
        self.history.push(
            encode_period(
                out.price,
                out.units_sold,
                rival,
                out.stock_before,
                b.list_price,
                b.market_size,
                b.initial_stock,
            )
        )
        return out


class MarketVectorEnv(VectorEnv):
    """N markets of one family, stepped as arrays (no Python loop over markets).

    Args:
        num_envs: markets stepped together.
        family: a built-in family name or a family file.
        window: periods of history in the observation.
        action_type: ``"continuous"`` or ``"discrete"``.
        n_prices: size of the discrete price grid.
        price_span: prices range from ``list / span`` to ``list * span``.
        reward: ``"profit"`` (currency) or ``"normalized"``.
        horizon_days: override the family's season length.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int = 1,
        family: str = DEFAULT_FAMILY,
        window: int = DEFAULT_WINDOW,
        action_type: str = "continuous",
        n_prices: int = 21,
        price_span: float = DEFAULT_PRICE_SPAN,
        reward: str = "profit",
        horizon_days: int | None = None,
        **unused: Any,
    ) -> None:
        if action_type not in ("continuous", "discrete"):
            raise ValueError(
                f"action_type: {action_type!r} is not one of 'continuous', 'discrete'"
            )
        if reward not in ("profit", "normalized"):
            raise ValueError(f"reward: {reward!r} is not one of 'profit', 'normalized'")
        if window < 1:
            raise ValueError(f"window: need at least one period, got {window}")
        self.family = load_family(family)
        self.num_envs = int(num_envs)
        self.window = int(window)
        self.action_type = action_type
        self.price_span = float(price_span)
        self.reward_kind = reward
        self._markets = _Markets(self.family, self.num_envs, self.window, horizon_days)
        if action_type == "discrete" and self.family.spec.base is not None:
            base = self.family.spec.base
            if base.demand.model == "table":
                n_prices = len(base.demand.price_grid or ())
        self.n_prices = int(n_prices)
        self.single_observation_space = gym.spaces.Box(
            -10.0, 10.0, (observation_size(self.window),), np.float32
        )
        if action_type == "continuous":
            self.single_action_space: gym.Space = gym.spaces.Box(
                -1.0, 1.0, (1,), np.float32
            )
        else:
            self.single_action_space = gym.spaces.Discrete(self.n_prices)
        self.observation_space = gym.vector.utils.batch_space(
            self.single_observation_space, self.num_envs
        )
        self.action_space = gym.vector.utils.batch_space(
            self.single_action_space, self.num_envs
        )
        self._autoreset = np.zeros(self.num_envs, dtype=bool)

    @property
    def batch(self) -> MarketBatch:
        """The markets being played now."""
        assert self._markets.sim is not None, "call reset() first"
        return self._markets.sim.batch

    @property
    def simulator(self) -> MarketSimulator:
        assert self._markets.sim is not None, "call reset() first"
        return self._markets.sim

    def reset(
        self,
        *,
        seed: int | list[int] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is None:
            seeds = np.random.SeedSequence().generate_state(self.num_envs, np.uint64)
        elif isinstance(seed, int):
            seeds = np.uint64(seed) + np.arange(self.num_envs, dtype=np.uint64)
        else:
            if len(seed) != self.num_envs:
                raise ValueError(f"seed: need {self.num_envs} seeds, got {len(seed)}")
            seeds = np.asarray(seed, dtype=np.uint64)
        m = self._markets
        m.env_seeds[:] = seeds
        m.episode[:] = 0
        m.draw(np.ones(self.num_envs, dtype=bool))
        self._autoreset[:] = False
        return m.observe(), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        m = self._markets
        sim = m.sim
        assert sim is not None, "call reset() before step()"
        prices = self.prices_for(actions)
        resetting = self._autoreset
        any_resetting = bool(resetting.any())
        # Markets whose season ended last step start a new market instead.
        if any_resetting:
            prices = np.where(resetting, sim.batch.list_price, prices)
        out = m.step(prices)
        reward = out.profit
        if self.reward_kind == "normalized":
            reward = reward / (sim.batch.list_price * sim.batch.market_size)
        terminated = out.done
        profit, units_sold = out.profit, out.units_sold
        if any_resetting:
            m.draw(resetting)
            reward = np.where(resetting, 0.0, reward)
            terminated[resetting] = False
            profit = np.where(resetting, 0.0, profit)
            units_sold = np.where(resetting, 0.0, units_sold)
        self._autoreset = terminated.copy()
        info = {"profit": profit, "units_sold": units_sold, "price": out.price}
        return (
            m.observe(),
            reward.astype(np.float32),
            terminated,
            np.zeros(self.num_envs, dtype=bool),
            info,
        )

    def prices_for(self, actions: np.ndarray) -> np.ndarray:
        """Prices in currency for a batch of actions."""
        batch = self.batch
        if self.action_type == "continuous":
            return action_to_price(actions, batch.list_price, self.price_span)
        idx = np.asarray(actions, dtype=np.int64).reshape(-1)
        if np.any((idx < 0) | (idx >= self.n_prices)):
            raise ValueError(
                f"actions: discrete actions must lie in [0, {self.n_prices})"
            )
        grid = price_grid(batch, self.n_prices, self.price_span)
        return grid[np.arange(batch.n), idx]


class MarketEnv(gym.Env):
    """One market at a time, with the same dynamics as :class:`MarketVectorEnv`.

    Seeded with ``s``, it walks the same path as sub-env ``i`` of a vector env
    seeded with ``s - i``.
    """

    metadata = {"render_modes": []}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("num_envs", None)
        self._vec = MarketVectorEnv(num_envs=1, **kwargs)
        self.observation_space = self._vec.single_observation_space
        self.action_space = self._vec.single_action_space
        self._done = True

    @property
    def unwrapped_markets(self) -> MarketVectorEnv:
        return self._vec

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(0, 2**63 - 1))
        obs, info = self._vec.reset(seed=[seed])
        self._done = False
        return obs[0], info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("step() after the season ended; call reset() first")
        obs, reward, terminated, truncated, info = self._vec.step(np.asarray([action]))
        self._done = bool(terminated[0])
        return (
            obs[0],
            float(reward[0]),
            bool(terminated[0]),
            bool(truncated[0]),
            {k: float(v[0]) for k, v in info.items()},
        )


def register() -> None:
    if ENV_ID not in gym.registry:
        gym.register(
            id=ENV_ID,
            entry_point="rayprice.market.env:MarketEnv",
            vector_entry_point="rayprice.market.env:MarketVectorEnv",
        )


register()
