"""The served policy: a bundle's network from observations to prices.

A bundle with ``network.pt`` (PPO, the shipped default) maps an observation to
the mean of its price action in [-1, 1]; the price is ``list_price *
price_span ** action``, as :class:`rayprice.pricers.policy.PolicyPricer` posts
it. Bundles that hold only an RLModule (DQN on a price grid) are refused with a
clear error: serving them is not supported.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from rayprice.policy import DEFAULT_BUNDLE
from rayprice.policy.bundle import NETWORK_FILE, BundleError, Manifest, read_manifest

logger = logging.getLogger(__name__)


def resolve_bundle(path: str | Path | None) -> Path:
    """The bundle folder (the shipped default for ``None`` or ``"default"``)."""
    if path is None or str(path) in ("", "default"):
        return DEFAULT_BUNDLE
    return Path(path)


def check_servable(path: str | Path | None) -> Manifest:
    """The bundle's manifest, after checking this service can run it.

    Raises:
        BundleError: not a bundle, or one without ``network.pt`` (DQN, RLModule-only)
            or with a discrete action.
    """
    folder = resolve_bundle(path)
    manifest = read_manifest(folder)
    if manifest.action_type != "continuous" or not (folder / NETWORK_FILE).exists():
        raise BundleError(
            f"{folder}: the pricing service serves bundles with a continuous price "
            f"action and {NETWORK_FILE} (PPO, e.g. the shipped default); this one is "
            f"{manifest.algorithm} with a {manifest.action_type} action. Serve a PPO "
            "bundle (`rayprice train --algorithm PPO`)"
        )
    return manifest


def action_to_price(
    action: np.ndarray | float, list_price: np.ndarray | float, price_span: float
) -> np.ndarray:
    """Price in currency for an action in [-1, 1] (clipped), as the env maps it."""
    a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    return np.asarray(list_price, dtype=np.float64) * np.exp(a * math.log(price_span))


class ServedPolicy:
    """A bundle's network, run on batches of observations.

    Args:
        path: the bundle folder; ``None`` for the shipped default.
        torch_threads: threads torch may use (1 in a replica: replicas scale out).
    """

    def __init__(
        self, path: str | Path | None = None, torch_threads: int | None = 1
    ) -> None:
        import torch

        from rayprice.policy.bundle import load_network

        self.path = resolve_bundle(path)
        self.manifest = check_servable(self.path)
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)
        self._net: Any
        self._net, _ = load_network(self.path)
        self._torch = torch

    def act(self, observations: np.ndarray) -> np.ndarray:
        """Mean actions in [-1, 1] for observations (N, D), shape (N,)."""
        obs = np.ascontiguousarray(observations, dtype=np.float32)
        with self._torch.no_grad():
            out = self._net(self._torch.from_numpy(obs)).numpy()
        return np.clip(out[:, 0].astype(np.float64), -1.0, 1.0)
