"""The Ray Serve deployments: a FastAPI ingress and a batched policy.

``PricingAPI`` (the ingress) runs :func:`rayprice.serve.api.create_app` over a
:class:`~rayprice.serve.service.PricingService` that reads and writes the shared
database; it does not load the network. Each quote's observation goes to
``PricingPolicy``, whose ``act`` is a ``@serve.batch`` method: observations from
concurrent quotes, across ingress replicas, run as one forward pass.

Both deployments autoscale on ongoing requests. The defaults below are what
:func:`rayprice.serve.app.build_app` starts with; the shipped Serve config file
(``rayprice/serve/serve_config.yaml``) overrides them per deployment.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from ray import serve
from ray.serve.handle import DeploymentHandle

from rayprice.serve.auth import KeyRing
from rayprice.serve.settings import ServeSettings

logger = logging.getLogger(__name__)

#: Batches the policy deployment may run at once per replica.
MAX_CONCURRENT_BATCHES = 1


@serve.deployment(
    name="PricingPolicy",
    ray_actor_options={"num_cpus": 0.5},
    # At least max_batch_size * max_concurrent_batches, or batches never fill.
    max_ongoing_requests=64,
    autoscaling_config={
        "min_replicas": 1,
        "max_replicas": 2,
        "target_ongoing_requests": 16,
    },
)
class PricingPolicy:
    """Runs the policy bundle's network on batches of observations.

    Args:
        settings: the service settings (bundle, batch size and wait), as a dict.
    """

    def __init__(self, settings: dict[str, Any]) -> None:
        from rayprice.serve.policy import ServedPolicy

        self.settings = ServeSettings(**settings)
        self.policy = ServedPolicy(self.settings.bundle, torch_threads=1)
        self.act.set_max_batch_size(self.settings.batch_size)  # type: ignore[attr-defined]
        self.act.set_batch_wait_timeout_s(self.settings.batch_wait_s)  # type: ignore[attr-defined]
        self.batches = 0
        self.largest_batch = 0
        logger.info("policy %s ready", self.policy.path)

    @serve.batch(
        max_batch_size=16,
        batch_wait_timeout_s=0.002,
        max_concurrent_batches=MAX_CONCURRENT_BATCHES,
    )
    async def act(self, observations: list[np.ndarray]) -> list[float]:
        """Mean actions in [-1, 1], one per observation."""
        self.batches += 1
        self.largest_batch = max(self.largest_batch, len(observations))
        actions = self.policy.act(np.stack(observations))
        return [float(a) for a in actions]

    def stats(self) -> dict[str, int]:
        """Batches run by this replica and the largest one."""
        return {"batches": self.batches, "largest_batch": self.largest_batch}


@serve.deployment(
    name="PricingAPI",
    ray_actor_options={"num_cpus": 0.5},
    max_ongoing_requests=100,
    autoscaling_config={
        "min_replicas": 1,
        "max_replicas": 2,
        "target_ongoing_requests": 32,
    },
)
@serve.ingress()
class PricingAPI:
    """The HTTP ingress: the FastAPI app over the shared database.

    Args:
        policy: handle of the ``PricingPolicy`` deployment.
        settings: the service settings, as a dict.
        keys: the API keys, resolved where the app was built.
    """

    def __init__(
        self, policy: DeploymentHandle, settings: dict[str, Any], keys: KeyRing
    ) -> None:
        from rayprice.serve.service import PricingService

        self.policy_handle = policy
        self.keys = keys
        self.service = PricingService(ServeSettings(**settings))

    async def _act(self, observation: np.ndarray) -> float:
        return float(await self.policy_handle.act.remote(observation))

    def __serve_build_asgi_app__(self) -> Any:
        from rayprice.serve.api import create_app

        return create_app(self.service, self.keys, act=self._act)
