"""RLlib RLModules around the pricing networks, for PPO.

The module is stateless from RLlib's point of view: the history window is part of
the observation. ``model_config`` picks the network (``"network"``:
``"transformer"`` or ``"memoryless"``) and its sizes (see
:data:`rayprice.policy.networks.TRANSFORMER_DEFAULTS`).

>>> from ray.rllib.core.rl_module.rl_module import RLModuleSpec
>>> spec = RLModuleSpec(module_class=PricingRLModule,
...                     model_config={"network": "transformer", "d_model": 32})
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override

from rayprice.market.window import observation_size
from rayprice.policy.networks import NETWORKS, PricingNet, build_network

DEFAULT_NETWORK = "transformer"


def split_model_config(
    model_config: dict[str, Any] | None,
) -> tuple[str, dict[str, Any]]:
    """``{"network": kind, **sizes}`` -> (kind, sizes).

    RLlib merges its own default model settings (``fcnet_hiddens`` and the like)
    into ``model_config``; those do not apply to these networks and are dropped.
    """
    config = dict(model_config or {})
    kind = str(config.pop("network", DEFAULT_NETWORK))
    if kind not in NETWORKS:
        raise ValueError(
            f"model_config: network {kind!r} is not one of {', '.join(NETWORKS)}"
        )
    return kind, {k: v for k, v in config.items() if k in NETWORKS[kind][1]}


class PricingRLModule(TorchRLModule, ValueFunctionAPI):
    """PPO's RLModule: a :class:`~rayprice.policy.networks.PricingNet` with a
    Gaussian actor head over the 1-d price action and a value head."""

    @override(RLModule)
    def setup(self) -> None:
        model_config = (
            self.model_config if isinstance(self.model_config, dict) else None
        )
        kind, sizes = split_model_config(model_config)
        self.net: PricingNet = build_network(kind, sizes)
        expected = self.observation_space.shape if self.observation_space else None
        n_obs = observation_size(int(self.net.window))
        if expected is not None and expected != (n_obs,):
            raise ValueError(
                f"model_config: window={self.net.window} expects observations of "
                f"size {n_obs}, the env gives {expected}; set the same window in "
                f"the env and the model"
            )

    @override(RLModule)
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        features = self.net.encode(batch[Columns.OBS])
        return {Columns.ACTION_DIST_INPUTS: self.net.action_inputs(features)}

    @override(RLModule)
    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        features = self.net.encode(batch[Columns.OBS])
        return {
            Columns.ACTION_DIST_INPUTS: self.net.action_inputs(features),
            Columns.EMBEDDINGS: features,
        }

    @override(ValueFunctionAPI)
    def compute_values(
        self, batch: dict[str, Any], embeddings: torch.Tensor | None = None
    ) -> torch.Tensor:
        if embeddings is None:
            embeddings = self.net.encode(batch[Columns.OBS])
        return self.net.value(embeddings)
