"""API keys and tenants; which policy bundles the service accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from rayprice.policy.bundle import BundleError, Manifest, write_bundle
from rayprice.serve.auth import AuthConfigError, KeyRing, load_keys, parse_keys
from rayprice.serve.policy import check_servable
from rayprice.serve.settings import ServeSettings

KEY = "k" * 20


def test_keys_map_to_tenants_and_nothing_else_matches() -> None:
    pairs = parse_keys(f"shop-a:{KEY}, shop-b:{'z' * 20}\n# a comment\n", "env")
    ring = KeyRing(keys=tuple((t, k.encode()) for t, k in pairs))
    assert ring.tenant_for(KEY) == "shop-a"
    assert ring.tenant_for("z" * 20) == "shop-b"
    for wrong in (None, "", KEY[:-1], KEY + "k", KEY.upper(), "shop-a"):
        assert ring.tenant_for(wrong) is None
    assert KeyRing(open=True).tenant_for(None) == "public"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no-colon-here", "tenant:key"),
        ("shop a:" + KEY, "tenant:key"),
        ("shop-a:short", "at least 16"),
        (f"shop-a:{KEY},shop-b:{KEY}", "twice"),
    ],
)
def test_malformed_keys_are_refused(text: str, message: str) -> None:
    with pytest.raises(AuthConfigError, match=message):
        parse_keys(text, "RAYPRICE_API_KEYS")


def test_keys_come_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAYPRICE_API_KEYS", raising=False)
    with pytest.raises(AuthConfigError, match="--insecure-no-auth"):
        load_keys(ServeSettings())
    file = tmp_path / "keys"
    file.write_text(f"shop-a:{KEY}\n")
    assert load_keys(ServeSettings(api_keys_file=file)).tenants == ["shop-a"]
    monkeypatch.setenv("RAYPRICE_API_KEYS", f"shop-c:{'c' * 16}")
    assert load_keys(ServeSettings()).tenants == ["shop-c"]
    assert load_keys(ServeSettings(insecure_no_auth=True)).open


def test_grid_policies_without_a_network_are_refused(tmp_path: Path) -> None:
    module_dir = tmp_path / "module"
    module_dir.mkdir()
    (module_dir / "placeholder").write_text("an RLModule would be here")
    manifest = Manifest(
        window=16,
        price_span=3.0,
        family="retail-v1",
        family_version=1,
        algorithm="DQN",
        network="default",
        model_config={},
        action_type="discrete",
        n_prices=21,
    )
    bundle = write_bundle(tmp_path / "dqn", manifest, rl_module_dir=module_dir)
    with pytest.raises(BundleError, match="PPO"):
        check_servable(bundle)
    with pytest.raises(BundleError, match="manifest.json"):
        check_servable(tmp_path / "module")
    assert check_servable(None).algorithm == "PPO"
