"""The pricing networks and their RLlib module: shapes, masks, budgets."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rayprice.market.window import (
    History,
    encode_observation,
    encode_period,
    observation_size,
    split_observation,
)
from rayprice.policy.networks import build_network, network_config

WINDOW = 8


def observations(n: int, periods: int, seed: int = 0) -> np.ndarray:
    """Observations of n markets after ``periods`` periods, built by the real encoder."""
    rng = np.random.default_rng(seed)
    history = History.empty(n, WINDOW)
    list_price = rng.uniform(5, 500, n)
    size = rng.uniform(50, 400, n)
    stock = np.full(n, np.inf)
    for _ in range(periods):
        price = list_price * rng.uniform(0.5, 2.0, n)
        units = rng.uniform(0, 0.5, n) * size
        history.push(
            encode_period(
                price, units, np.full(n, np.nan), stock, list_price, size, stock
            )
        )
    return encode_observation(
        history,
        np.full(n, periods),
        np.full(n, 100),
        stock,
        stock,
        np.full(n, np.nan),
        0.5 * list_price,
        list_price,
        size,
    )


@pytest.mark.parametrize("kind", ["transformer", "memoryless"])
def test_output_shapes(kind: str) -> None:
    net = build_network(kind, {"window": WINDOW})
    obs = torch.from_numpy(observations(5, 3))
    features = net.encode(obs)
    assert net(obs).shape == (5, 2)
    assert net.value(features).shape == (5,)


def test_padding_rows_do_not_change_the_output() -> None:
    torch.manual_seed(0)
    net = build_network("transformer", {"window": WINDOW}).eval()
    obs = observations(4, 3)  # 3 real periods, 5 padding rows
    rows, _ = split_observation(obs, WINDOW)
    padded = rows[:, :, 4] == 0
    assert padded.sum(axis=1).tolist() == [WINDOW - 3] * 4

    # Scribble over every padding row except its filled flag.
    noisy = obs.copy()
    noisy_rows, _ = split_observation(noisy, WINDOW)
    noise = np.random.default_rng(1).normal(size=noisy_rows.shape).astype(np.float32)
    noisy_rows[padded] = noise[padded]
    noisy_rows[:, :, 4] = rows[:, :, 4]
    assert not np.allclose(noisy, obs)
    with torch.no_grad():
        clean = net(torch.from_numpy(obs))
        dirty = net(torch.from_numpy(noisy))
    torch.testing.assert_close(clean, dirty, rtol=1e-5, atol=1e-6)

    # A real period does change it.
    with torch.no_grad():
        more = net(torch.from_numpy(observations(4, 4)))
    assert not torch.allclose(clean, more)


def test_an_empty_history_gives_finite_outputs() -> None:
    net = build_network("transformer", {"window": WINDOW}).eval()
    with torch.no_grad():
        out = net(torch.from_numpy(observations(3, 0)))
    assert torch.isfinite(out).all()


def test_fresh_policy_starts_near_the_list_price() -> None:
    net = build_network("transformer", {"window": WINDOW})
    with torch.no_grad():
        mean = net(torch.from_numpy(observations(16, 2)))[:, 0]
    assert mean.abs().max() < 0.1


def test_memoryless_has_a_similar_budget() -> None:
    context = build_network("transformer").num_parameters()
    memoryless = build_network("memoryless").num_parameters()
    assert 0.8 < memoryless / context < 1.25


def test_unknown_sizes_are_rejected() -> None:
    with pytest.raises(ValueError, match="d_modle"):
        network_config("transformer", {"d_modle": 8})


@pytest.mark.parametrize("kind", ["transformer", "memoryless"])
def test_rl_module_forward_and_values(kind: str) -> None:
    from ray.rllib.core.columns import Columns

    from rayprice.policy.module import PricingRLModule

    module = PricingRLModule(
        observation_space=gym.spaces.Box(
            -10, 10, (observation_size(WINDOW),), np.float32
        ),
        action_space=gym.spaces.Box(-1, 1, (1,), np.float32),
        model_config={"network": kind, "window": WINDOW, "fcnet_hiddens": [8]},
    )
    batch = {Columns.OBS: torch.from_numpy(observations(6, 2))}
    out = module.forward_train(batch)
    assert out[Columns.ACTION_DIST_INPUTS].shape == (6, 2)
    assert module.compute_values(batch).shape == (6,)
    assert module.compute_values(batch, out[Columns.EMBEDDINGS]).shape == (6,)
    assert module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS].shape == (6, 2)


def test_rl_module_rejects_a_window_mismatch() -> None:
    from rayprice.policy.module import PricingRLModule

    with pytest.raises(ValueError, match="window"):
        PricingRLModule(
            observation_space=gym.spaces.Box(
                -10, 10, (observation_size(16),), np.float32
            ),
            action_space=gym.spaces.Box(-1, 1, (1,), np.float32),
            model_config={"network": "transformer", "window": WINDOW},
        )
