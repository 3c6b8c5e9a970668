from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rayprice.policy.bundle import Manifest, write_bundle
from rayprice.policy.networks import build_network, network_config


def make_bundle(folder: Path, window: int = 8, seed: int = 0) -> Path:
    """A bundle of a fresh (untrained) transformer policy."""
    import torch

    torch.manual_seed(seed)
    sizes = network_config("transformer", {"window": window})
    manifest = Manifest(
        window=window,
        price_span=3.0,
        family="retail-v1",
        family_version=1,
        algorithm="PPO",
        network="transformer",
        model_config=sizes,
    )
    return write_bundle(folder, manifest, network=build_network("transformer", sizes))


@pytest.fixture
def bundle_factory() -> Callable[..., Path]:
    return make_bundle


@pytest.fixture
def fresh_bundle(tmp_path: Path) -> Path:
    return make_bundle(tmp_path / "bundle")
