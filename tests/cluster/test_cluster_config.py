"""cluster.yaml, and the GCP variant in the README, through the checks `ray up` runs
before it touches a cloud.

`ray up` (``ray.autoscaler._private.commands.create_or_update_cluster``) loads the
YAML, looks the provider up, then ``_bootstrap_config`` runs ``prepare_config``
(merges the provider's defaults, folds ``setup_commands`` into the head and
worker commands, fills min/max workers) and ``validate_config`` (Ray's JSON
schema, which rejects unknown keys, and the worker-count checks). What follows
needs the cloud: importing the provider (boto3, the Google API client), filling
instance resources from the cloud's catalogue, creating IAM roles and security
groups. Those are not run here.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import SIMULATION

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_YAML = ROOT / "cluster.yaml"
README = ROOT / "README.md"
GCP_MARKER = "<!-- cluster.yaml GCP variant -->"
PLACEHOLDER = re.compile(r"<YOUR-[A-Z0-9-]+>")


def load_cluster_yaml() -> dict[str, Any]:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def ray_up_offline_checks(config: dict[str, Any]) -> dict[str, Any]:
    """What `ray up` does to a config before it needs the cloud; the prepared one."""
    from ray.autoscaler._private.providers import _NODE_PROVIDERS
    from ray.autoscaler._private.util import prepare_config, validate_config

    assert config["provider"]["type"] in _NODE_PROVIDERS
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def gcp_variant() -> dict[str, Any]:
    """cluster.yaml with the README's GCP blocks substituted, as the README says:
    top-level keys replace cluster.yaml's, and each key given for a node type
    replaces that key of the node type."""
    text = README.read_text()
    assert GCP_MARKER in text, f"README.md lost the marker {GCP_MARKER!r}"
    block = text.split(GCP_MARKER, 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    snippet = yaml.safe_load(block)
    config = load_cluster_yaml()
    node_types = snippet.pop("available_node_types", {})
    config.update(snippet)
    for name, fields in node_types.items():
        assert name in config["available_node_types"], f"GCP snippet: {name}?"
        config["available_node_types"][name].update(fields)
    return config


def test_cluster_yaml_passes_ray_ups_config_checks() -> None:
    prepared = ray_up_offline_checks(load_cluster_yaml())
    assert prepared["provider"]["type"] == "aws"
    assert prepared["head_node_type"] == "head"


def test_the_checks_reject_a_misspelled_key() -> None:
    # Guards the test above against checking nothing.
    import jsonschema

    config = load_cluster_yaml()
    config["available_node_types"]["sim_cpu"]["idle_timeout_minutes"] = 5
    with pytest.raises(jsonschema.ValidationError, match="idle_timeout_minutes"):
        ray_up_offline_checks(config)


def test_simulation_and_learner_work_each_have_their_node_type() -> None:
    types = load_cluster_yaml()["available_node_types"]
    head, sim, gpu = types["head"]["resources"], types["sim_cpu"], types["gpu_learner"]
    assert SIMULATION not in head and "GPU" not in head
    assert head["CPU"] >= 1  # trial drivers, Serve and evaluation tasks
    assert sim["resources"][SIMULATION] >= 1 and "GPU" not in sim["resources"]
    # Spare CPUs for evaluation tasks beside the EnvRunners (1 CPU each).
    assert sim["resources"]["CPU"] > sim["resources"][SIMULATION]
    assert gpu["resources"]["GPU"] >= 1 and SIMULATION not in gpu["resources"]
    for node_type in (sim, gpu):
        assert node_type["min_workers"] == 0 and node_type["max_workers"] >= 1


def test_idle_worker_nodes_are_stopped() -> None:
    config = load_cluster_yaml()
    assert 0 < config["idle_timeout_minutes"] <= 30
    gpu_idle_s = config["available_node_types"]["gpu_learner"]["idle_timeout_s"]
    assert 0 < gpu_idle_s <= config["idle_timeout_minutes"] * 60


def test_gpu_nodes_install_cudas_torch_and_the_others_the_cpu_build() -> None:
    prepared = ray_up_offline_checks(load_cluster_yaml())
    gpu = prepared["available_node_types"]["gpu_learner"]["worker_setup_commands"]
    for commands in (
        prepared["head_setup_commands"],
        prepared["worker_setup_commands"],
    ):
        torch = [c for c in commands if "torch==" in c]
        assert torch and all("whl/cpu" in c for c in torch), commands
        assert any("~/rayprice" in c for c in commands)
    gpu_torch = [c for c in gpu if "torch==" in c]
    assert gpu_torch and all(re.search(r"whl/cu\d+", c) for c in gpu_torch), gpu
    assert any("~/rayprice" in c for c in gpu)
    assert "~/rayprice" in prepared["file_mounts"]


def test_cluster_yaml_holds_placeholders_not_credentials() -> None:
    text = CLUSTER_YAML.read_text()
    body = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert not re.search(r"\b\d{12}\b", text), "an AWS account id?"
    assert not re.search(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b", text), "an AWS access key?"
    assert not re.search(r"(?i)secret|password|token", body)
    assert not re.search(r"arn:aws", text), "an ARN names an account"
    used = set(PLACEHOLDER.findall(body))
    assert {"<YOUR-REGION>", "<YOUR-KEY-PAIR>", "<YOUR-AMI-ID>"} <= used
    for placeholder in used:
        assert placeholder in header, f"{placeholder} is not explained at the top"


def test_the_readmes_gcp_variant_passes_ray_ups_config_checks() -> None:
    prepared = ray_up_offline_checks(gcp_variant())
    assert prepared["provider"]["type"] == "gcp"
    types = prepared["available_node_types"]
    # GCP cannot look up machine types' resources: each node type states them.
    for name, node_type in types.items():
        assert "CPU" in node_type["resources"], name
        assert "InstanceType" not in node_type["node_config"], name
    assert types["sim_cpu"]["resources"][SIMULATION] >= 1
    assert types["gpu_learner"]["resources"]["GPU"] >= 1
    assert not re.search(r"\b\d{12}\b", yaml.safe_dump(prepared))


def test_the_cluster_tune_profile_asks_for_resources_the_cluster_offers() -> None:
    profile = ROOT / "tune_configs" / "retail-cluster.yaml"
    offered = {
        key
        for node_type in load_cluster_yaml()["available_node_types"].values()
        for key in node_type["resources"]
    }
    asked = set(_resource_keys(yaml.safe_load(profile.read_text())))
    assert SIMULATION in asked, "the cluster profile should place EnvRunners"
    assert asked <= offered


def _resource_keys(node: Any) -> list[str]:
    """Keys of every ``*_resources`` mapping anywhere in a loaded YAML document."""
    keys: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key).endswith("_resources") and isinstance(value, dict):
                keys.extend(value)
            else:
                keys.extend(_resource_keys(value))
    elif isinstance(node, list):
        for item in node:
            keys.extend(_resource_keys(item))
    return keys


def test_the_fake_multinode_config_passes_the_autoscalers_check() -> None:
    """benchmarks/fake_multinode.yaml (a manual check of autoscaling on one
    machine) is read by the autoscaler as it is, with ``validate_config`` only."""
    from ray.autoscaler._private.util import validate_config

    config = yaml.safe_load((ROOT / "benchmarks" / "fake_multinode.yaml").read_text())
    validate_config(config)
    types = config["available_node_types"]
    assert config["head_node_type"] == "ray.head.default"
    assert types["sim_cpu"]["resources"][SIMULATION] >= 1
    assert SIMULATION not in types["ray.head.default"]["resources"]
