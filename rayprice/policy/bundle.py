"""Policy bundles: a trained policy as a folder that loads without an Algorithm.

A bundle holds what a pricer needs to rebuild the policy's observation and run it:

``manifest.json``
    format and bundle version, the observation layout (feature names and a
    version), window length, price span, action type and price grid, the family
    trained on, the network kind and sizes, versions of the libraries, and a
    training summary.
``network.pt``
    the network's torch ``state_dict`` (PPO bundles; plain torch, no Ray needed).
``rl_module/``
    the RLModule as written by ``RLModule.save_to_path`` (DQN bundles, and PPO
    bundles exported from an Algorithm); ``RLModule.from_checkpoint`` loads it.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import rayprice
from rayprice.jsonable import jsonable
from rayprice.market.window import SCALAR_FEATURES, WINDOW_FEATURES
from rayprice.policy.networks import PricingNet, build_network, network_config

logger = logging.getLogger(__name__)

BUNDLE_FORMAT = "rayprice-policy-bundle"
BUNDLE_VERSION = 1
# Bump when encode_observation's layout or scaling changes.
OBS_LAYOUT_VERSION = 1
MANIFEST = "manifest.json"
NETWORK_FILE = "network.pt"
RL_MODULE_DIR = "rl_module"


class BundleError(ValueError):
    """A folder that is not a usable policy bundle; the message says why."""


@dataclass(frozen=True)
class Manifest:
    """What a bundle's ``manifest.json`` records (see the module docstring)."""

    window: int
    price_span: float
    family: str
    family_version: int | None
    algorithm: str
    network: str
    model_config: dict[str, Any]
    action_type: str = "continuous"
    n_prices: int = 0
    format: str = BUNDLE_FORMAT
    bundle_version: int = BUNDLE_VERSION
    obs_layout_version: int = OBS_LAYOUT_VERSION
    window_features: list[str] = field(default_factory=lambda: list(WINDOW_FEATURES))
    scalar_features: list[str] = field(default_factory=lambda: list(SCALAR_FEATURES))
    versions: dict[str, str] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> Manifest:
        if data.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"{where}: not a rayprice policy bundle (format field)")
        if data.get("bundle_version") != BUNDLE_VERSION:
            raise BundleError(
                f"{where}: bundle_version {data.get('bundle_version')} is not "
                f"{BUNDLE_VERSION}; re-export it with this version of rayprice"
            )
        layout = (
            data.get("obs_layout_version"),
            tuple(data.get("window_features", ())),
            tuple(data.get("scalar_features", ())),
        )
        if layout != (OBS_LAYOUT_VERSION, WINDOW_FEATURES, SCALAR_FEATURES):
            raise BundleError(
                f"{where}: the policy was trained on observation layout "
                f"{layout[0]} ({', '.join(layout[1] + layout[2])}); this rayprice "
                f"builds layout {OBS_LAYOUT_VERSION}; retrain or use a matching version"
            )
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def library_versions() -> dict[str, str]:
    versions = {
        "rayprice": rayprice.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    try:
        import ray

        versions["ray"] = ray.__version__
    except ImportError:  # pragma: no cover - ray is a dependency
        pass
    return versions


def write_bundle(
    path: str | Path,
    manifest: Manifest,
    network: PricingNet | None = None,
    rl_module_dir: str | Path | None = None,
) -> Path:
    """Write a bundle folder (replacing one that is there).

    Args:
        path: the folder.
        manifest: its manifest; library versions are filled in.
        network: the network whose weights go to ``network.pt``.
        rl_module_dir: an RLModule checkpoint folder to copy in as ``rl_module/``.
    """
    if network is None and rl_module_dir is None:
        raise ValueError("write_bundle: give a network, an RLModule folder or both")
    out = Path(path)
    if out.exists():
        if not (out / MANIFEST).exists() and any(out.iterdir()):
            raise BundleError(
                f"{out}: exists and is not a policy bundle; choose an empty folder"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if network is not None:
        state = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
        torch.save(state, out / NETWORK_FILE)
    if rl_module_dir is not None:
        shutil.copytree(rl_module_dir, out / RL_MODULE_DIR)
    data = asdict(manifest)
    data["versions"] = {**library_versions(), **manifest.versions}
    (out / MANIFEST).write_text(json.dumps(data, indent=2, default=jsonable) + "\n")
    logger.info("wrote policy bundle %s", out)
    return out


def read_manifest(path: str | Path) -> Manifest:
    """A bundle's manifest, checked against this rayprice's observation layout."""
    folder = Path(path)
    file = folder / MANIFEST
    if not file.exists():
        raise BundleError(
            f"{folder}: no {MANIFEST}; a policy bundle is a folder written by "
            f"`rayprice train` (or rayprice.policy.bundle.write_bundle)"
        )
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise BundleError(f"{file}: not valid JSON ({err})") from err
    return Manifest.from_dict(data, str(file))


def load_network(path: str | Path) -> tuple[PricingNet, Manifest]:
    """The bundle's network in eval mode, and its manifest (no Ray import)."""
    folder = Path(path)
    manifest = read_manifest(folder)
    weights = folder / NETWORK_FILE
    if not weights.exists():
        raise BundleError(f"{folder}: no {NETWORK_FILE} (an RLModule-only bundle?)")
    net = build_network(
        manifest.network, network_config(manifest.network, manifest.model_config)
    )
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    net.eval()
    return net, manifest


def bundle_size_bytes(path: str | Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
