"""Shared fixtures. Ray and matplotlib write into temporary folders, never $HOME."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import matplotlib
import pytest

matplotlib.use("Agg")

_TMP = tempfile.mkdtemp(prefix="rayprice-tests-")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_TMPDIR", os.path.join(_TMP, "ray"))
os.environ.setdefault("MPLCONFIGDIR", os.path.join(_TMP, "mpl"))


RAY_CPUS = 2


def start_local_ray() -> None:
    """The tests' local Ray: 2 CPUs, a small object store, files under the temp dir."""
    import ray

    ray.init(
        num_cpus=RAY_CPUS,
        include_dashboard=False,
        object_store_memory=128 * 1024 * 1024,
        log_to_driver=False,
        _temp_dir=os.path.join(_TMP, "ray-session"),
    )


@pytest.fixture
def ray_session() -> Iterator[None]:
    """A local Ray shared by the whole test session, started on first use.

    Tests that need a Ray of their own (a multi-node ``Cluster``) shut this one
    down first; the next test asking for it starts it again.
    """
    import ray

    if not ray.is_initialized():
        start_local_ray()
    yield


@pytest.fixture(scope="session", autouse=True)
def _shutdown_ray_at_exit() -> Iterator[None]:
    yield
    import sys

    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            ray.shutdown()
