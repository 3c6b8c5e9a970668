"""A trained policy as a pricer: ``rl:PATH`` runs a policy bundle over N markets.

The pricer keeps each market's history exactly as the gym env does:
:meth:`PolicyPricer.observe` pushes :func:`~rayprice.market.window.encode_period`
rows into a :class:`~rayprice.market.window.History`, and
:meth:`PolicyPricer.observation` calls
:func:`~rayprice.market.window.encode_observation` with the same arguments the env
passes, taken from what a seller sees (:class:`MarketState`, :class:`Sales`, the
public :class:`MarketView`). So the policy sees in evaluation and serving the
numbers it saw in training.

``rl:`` alone (or ``rl:default``) is the shipped default bundle. A suffix
``?sample`` draws prices from the policy's Gaussian (seeded per market on the
pricer stream) instead of posting its mean.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import ndtri

from rayprice.market import random as rnd
from rayprice.market.window import History, encode_observation, encode_period
from rayprice.policy import DEFAULT_BUNDLE
from rayprice.policy.bundle import (
    NETWORK_FILE,
    RL_MODULE_DIR,
    BundleError,
    Manifest,
    load_network,
    read_manifest,
)
from rayprice.pricers.base import (
    MarketState,
    MarketView,
    Pricer,
    PricingContext,
    Sales,
    feasible,
)
from rayprice.pricers.registry import UnknownPricerError, register_prefix

logger = logging.getLogger(__name__)

PREFIX = "rl"


class PolicyPricer(Pricer):
    """Prices N markets with a policy bundle.

    Args:
        path: the bundle folder; ``None`` for the shipped default.
        sample: draw each price from the policy's distribution instead of its mean.
        name: the name shown in evaluation output.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        sample: bool = False,
        name: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else DEFAULT_BUNDLE
        self.manifest: Manifest = read_manifest(self.path)
        self.sample = sample
        self.name = name or f"rl:{self.path}"
        self._net: Any = None
        self._module: Any = None
        if (self.path / NETWORK_FILE).exists():
            self._net, _ = load_network(self.path)
        elif (self.path / RL_MODULE_DIR).exists():
            from ray.rllib.core.rl_module.rl_module import RLModule

            # RLlib reads checkpoints through pyarrow, which needs an absolute path.
            module_dir = (self.path / RL_MODULE_DIR).resolve()
            self._module = RLModule.from_checkpoint(str(module_dir))
        else:
            raise BundleError(
                f"{self.path}: neither {NETWORK_FILE} nor {RL_MODULE_DIR}/"
            )
        if self.manifest.action_type == "continuous" and self._net is None:
            raise BundleError(f"{self.path}: a continuous policy needs {NETWORK_FILE}")
        if sample and self.manifest.action_type != "continuous":
            raise ValueError(
                "sample: only continuous policies have a distribution to draw from"
            )

    def describe(self) -> dict[str, object]:
        m = self.manifest
        return {
            "name": self.name,
            "bundle": str(self.path),
            "algorithm": m.algorithm,
            "network": m.network,
            "family": m.family,
            "window": m.window,
            "sample": self.sample,
        }

    def reset(self, context: PricingContext) -> None:
        self.view: MarketView = context.view
        self.seeds = np.asarray(context.seeds, dtype=np.uint64)
        self.history = History.empty(context.n, self.manifest.window)
        if self.manifest.action_type == "discrete":
            self.grid = _discrete_grid(self.view, self.manifest)

    def observation(self, state: MarketState) -> np.ndarray:
        """What the policy sees now, (N, D): built as the gym env builds it."""
        v = self.view
        if v.n_rivals > 0 and state.rival_price.shape[1] > 0:
            rival_now = state.rival_price.mean(axis=1)
        else:
            rival_now = np.full(v.n, np.nan)
        return encode_observation(
            self.history,
            state.t,
            v.horizon_days,
            state.stock,
            v.initial_stock,
            rival_now,
            v.unit_cost,
            v.list_price,
            v.market_size,
        )

    def quote(self, state: MarketState) -> np.ndarray:
        obs = torch.from_numpy(self.observation(state))
        if self.manifest.action_type == "discrete":
            return self._discrete_prices(obs)
        with torch.no_grad():
            inputs = self._net(obs).numpy().astype(np.float64)
        action = inputs[:, 0]
        if self.sample:
            u = rnd.uniforms(self.seeds, rnd.PRICER, state.t, 1)[:, 0]
            action = action + np.exp(inputs[:, 1]) * ndtri(u)
        action = np.clip(action, -1.0, 1.0)
        price = self.view.list_price * np.exp(
            action * math.log(self.manifest.price_span)
        )
        return feasible(self.view, price)

    def _discrete_prices(self, obs: torch.Tensor) -> np.ndarray:
        from ray.rllib.core.columns import Columns

        with torch.no_grad():
            out = self._module.forward_inference({Columns.OBS: obs})
        index = np.asarray(out[Columns.ACTIONS]).reshape(-1).astype(np.int64)
        index = np.clip(index, 0, self.grid.shape[1] - 1)
        return self.grid[np.arange(self.view.n), index]

    def observe(self, sales: Sales) -> None:
        v = self.view
        if v.n_rivals > 0 and sales.rival_price.shape[1] > 0:
            rival = sales.rival_price.mean(axis=1)
        else:
            rival = np.full(v.n, np.nan)
        self.history.push(
            encode_period(
                sales.price,
                sales.units_sold,
                rival,
                sales.stock_before,
                v.list_price,
                v.market_size,
                v.initial_stock,
            )
        )


def _discrete_grid(view: MarketView, manifest: Manifest) -> np.ndarray:
    """The discrete action's prices per market, as the env's ``price_grid`` makes them."""
    if view.has_menu:
        return view.grid_price
    steps = np.linspace(-1.0, 1.0, manifest.n_prices)
    return view.list_price[:, None] * np.exp(steps * math.log(manifest.price_span))


def make_policy_pricer(argument: str) -> PolicyPricer:
    """``rl:PATH[?sample]`` -> a pricer; an empty path or ``default`` is the default.

    Raises:
        UnknownPricerError: PATH is not a policy bundle this rayprice can run.
    """
    path, _, option = argument.partition("?")
    if option not in ("", "sample"):
        raise ValueError(f"pricers: rl:{argument}: the only option is '?sample'")
    folder = None if path in ("", "default") else Path(path)
    name = f"rl:{argument}" if argument else "rl:default"
    try:
        return PolicyPricer(folder, sample=option == "sample", name=name)
    except BundleError as err:
        raise UnknownPricerError(
            f"pricers: {name} does not name a usable policy bundle (rl:PATH takes "
            f"a folder written by `rayprice train`): {err}"
        ) from err


def register() -> None:
    """Route ``rl:PATH`` names in the pricer registry to :func:`make_policy_pricer`."""

    register_prefix(PREFIX, make_policy_pricer)


register()
