"""The pricing networks in plain torch: no Ray import, so a bundle loads anywhere.

Both networks read the observation built by
:func:`rayprice.market.window.encode_observation` and split it with
:func:`rayprice.market.window.split_observation`; neither re-encodes anything.

- :class:`ContextEncoderNet`: a transformer encoder over the window of past
  periods. A learned summary token is prepended and never masked; padding rows
  (``filled == 0``) are masked out as keys, so they cannot change the output. The
  summary token's output is joined with the embedded scalars.
- :class:`MemorylessNet`: the ablation. It sees the current observation only (the
  most recent window row and the scalars), through an MLP of a similar size.

Both end in the same heads: a Gaussian over the 1-d action (mean and a
state-dependent log-std, so the policy can explore early in a market and settle
later) and a value head.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from rayprice.market.window import (
    DEFAULT_WINDOW,
    SCALAR_FEATURES,
    WINDOW_FEATURES,
    observation_size,
    split_observation,
)

N_WINDOW_FEATURES = len(WINDOW_FEATURES)
N_SCALARS = len(SCALAR_FEATURES)
FILLED = WINDOW_FEATURES.index("filled")
# Bounds on the policy's log-std: wide enough to explore the whole price range at
# first, narrow enough that PPO's ratio stays finite.
LOG_STD_MIN = -4.0
LOG_STD_MAX = 0.5

TRANSFORMER_DEFAULTS: dict[str, Any] = {
    "window": DEFAULT_WINDOW,
    "d_model": 32,
    "n_heads": 2,
    "n_layers": 2,
    "ff_dim": 64,
    "head_hidden": 64,
    "initial_log_std": -0.7,
}
MEMORYLESS_DEFAULTS: dict[str, Any] = {
    "window": DEFAULT_WINDOW,
    "hidden": 112,
    "head_hidden": 64,
    "initial_log_std": -0.7,
}


def split_tensor(obs: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`~rayprice.market.window.split_observation` on a tensor (it slices and
    reshapes only, so it works on torch tensors as on arrays)."""
    rows, scalars = split_observation(cast(Any, obs), window)
    return cast(torch.Tensor, rows), cast(torch.Tensor, scalars)


def _mlp_head(width: int, hidden: int, out: int, gain: float) -> nn.Sequential:
    head = nn.Sequential(nn.Linear(width, hidden), nn.Tanh(), nn.Linear(hidden, out))
    last = head[-1]
    assert isinstance(last, nn.Linear)
    nn.init.orthogonal_(last.weight, gain=gain)
    nn.init.zeros_(last.bias)
    return head


class PricingNet(nn.Module):
    """Shared heads; subclasses turn an observation into features with :meth:`encode`.

    Args:
        width: size of the features :meth:`encode` returns.
        head_hidden: hidden units of each head.
        initial_log_std: the log-std of the action at initialisation.
    """

    kind: str = "base"
    window: int

    def __init__(self, width: int, head_hidden: int, initial_log_std: float) -> None:
        super().__init__()
        # Action 0 is the list price: a fresh policy starts there, which the
        # families' markets reward reasonably.
        self.actor = _mlp_head(width, head_hidden, 2, gain=0.01)
        actor_out = self.actor[-1]
        assert isinstance(actor_out, nn.Linear)
        with torch.no_grad():
            actor_out.bias[1] = initial_log_std
        self.critic = _mlp_head(width, head_hidden, 1, gain=1.0)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(
            "subclasses define how an observation becomes features"
        )

    def action_inputs(self, features: torch.Tensor) -> torch.Tensor:
        """(N, 2): Gaussian mean and log-std of the action in [-1, 1]."""
        out = self.actor(features)
        log_std = out[:, 1:].clamp(LOG_STD_MIN, LOG_STD_MAX)
        return torch.cat([out[:, :1], log_std], dim=-1)

    def value(self, features: torch.Tensor) -> torch.Tensor:
        """(N,): the value estimate."""
        return self.critic(features).squeeze(-1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.action_inputs(self.encode(obs))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class ContextEncoderNet(PricingNet):
    """A transformer over the history window, joined with the scalar features.

    Args:
        window: periods in the observation's window.
        d_model: token width.
        n_heads: attention heads.
        n_layers: encoder layers.
        ff_dim: feed-forward width inside each layer.
        head_hidden: hidden units of the actor and value heads.
        initial_log_std: the action's log-std at initialisation.
    """

    kind = "transformer"

    def __init__(
        self,
        window: int = DEFAULT_WINDOW,
        d_model: int = 32,
        n_heads: int = 2,
        n_layers: int = 2,
        ff_dim: int = 64,
        head_hidden: int = 64,
        initial_log_std: float = -0.7,
    ) -> None:
        super().__init__(2 * d_model, head_hidden, initial_log_std)
        self.window = window
        self.embed = nn.Linear(N_WINDOW_FEATURES, d_model)
        self.position = nn.Parameter(torch.randn(window, d_model) * 0.02)
        self.summary = nn.Parameter(torch.randn(1, 1, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, ff_dim, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(
            layer, n_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False
        )
        self.scalars = nn.Sequential(nn.Linear(N_SCALARS, d_model), nn.Tanh())

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        rows, scalars = split_tensor(obs, self.window)
        n = rows.shape[0]

        # One token per period, plus the summary token, which every layer keeps.
        tokens = self.embed(rows) + self.position
        tokens = torch.cat([self.summary.expand(n, -1, -1), tokens], dim=1)

        # Padding before a market's first period is masked out as a key.
        padding = rows[:, :, FILLED] <= 0.5
        mask = torch.cat([torch.zeros_like(padding[:, :1]), padding], dim=1)
        encoded = self.encoder(tokens, src_key_padding_mask=mask)
        return torch.cat([encoded[:, 0], self.scalars(scalars)], dim=-1)


class MemorylessNet(PricingNet):
    """The ablation: the most recent period and the scalars, through an MLP.

    Args:
        window: periods in the observation's window (only the last one is read).
        hidden: width of the MLP's two layers.
        head_hidden: hidden units of the actor and value heads.
        initial_log_std: the action's log-std at initialisation.
    """

    kind = "memoryless"

    def __init__(
        self,
        window: int = DEFAULT_WINDOW,
        hidden: int = 112,
        head_hidden: int = 64,
        initial_log_std: float = -0.7,
    ) -> None:
        super().__init__(hidden, head_hidden, initial_log_std)
        self.window = window
        self.body = nn.Sequential(
            nn.Linear(N_WINDOW_FEATURES + N_SCALARS, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
        )

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        rows, scalars = split_tensor(obs, self.window)
        return self.body(torch.cat([rows[:, -1], scalars], dim=-1))


NETWORKS: dict[str, tuple[type[PricingNet], dict[str, Any]]] = {
    "transformer": (ContextEncoderNet, TRANSFORMER_DEFAULTS),
    "memoryless": (MemorylessNet, MEMORYLESS_DEFAULTS),
}


def network_config(
    kind: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The full model config of a network kind: its defaults updated by ``overrides``.

    Keys that the kind does not take are rejected, so a typo in a setting is not
    silently ignored.
    """
    if kind not in NETWORKS:
        raise ValueError(f"model: {kind!r} is not one of {', '.join(NETWORKS)}")
    defaults = NETWORKS[kind][1]
    config = dict(defaults)
    for key, value in (overrides or {}).items():
        if key not in defaults:
            raise ValueError(
                f"model_config: {key!r} is not a setting of the {kind} network; "
                f"use one of {', '.join(defaults)}"
            )
        config[key] = value
    return config


def build_network(kind: str, config: dict[str, Any] | None = None) -> PricingNet:
    """A fresh network of ``kind`` (``transformer`` or ``memoryless``)."""
    full = network_config(kind, config)
    cls = NETWORKS[kind][0]
    return cls(**full)


def expected_observation_size(config: dict[str, Any]) -> int:
    return observation_size(int(config["window"]))
