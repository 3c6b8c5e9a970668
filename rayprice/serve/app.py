"""The Serve application: ``build_app(settings)``, and ``app`` for ``serve run``.

``serve run rayprice/serve/serve_config.yaml`` (or ``serve run
rayprice.serve.app:app``) imports :data:`app`, built on first access from
:meth:`ServeSettings.from_env` (``RAYPRICE_*`` variables), so importing this
module reads no keys and loads no policy.
"""

from __future__ import annotations

from typing import Any

from ray.serve.deployment import Application

from rayprice.serve.auth import load_keys
from rayprice.serve.policy import check_servable
from rayprice.serve.settings import ServeSettings


def build_app(settings: ServeSettings) -> Application:
    """The pricing service as a Serve application.

    Checks in the caller's process that the bundle can be served and that API
    keys are configured (or ``insecure_no_auth`` set), so a bad setting fails
    before any replica starts. The resolved keys travel to the ingress replicas
    with the application.

    Raises:
        rayprice.policy.bundle.BundleError: the bundle cannot be served.
        rayprice.serve.auth.AuthConfigError: no usable API keys.
    """
    from rayprice.serve.deployments import PricingAPI, PricingPolicy

    check_servable(settings.bundle)
    keys = load_keys(settings)
    # Replicas need not share this process's working directory.
    settings = settings.model_copy(
        update={
            "db_path": settings.db_path.resolve(),
            "bundle": None if settings.bundle is None else settings.bundle.resolve(),
        }
    )
    replicas = {
        "min_replicas": settings.min_replicas,
        "max_replicas": max(settings.max_replicas, settings.min_replicas),
    }
    common: dict[str, Any] = {
        "ray_actor_options": {"num_cpus": settings.replica_cpus},
        "logging_config": {"enable_access_log": settings.access_log},
    }
    config = settings.model_dump(mode="json")
    # A batch fills only if a replica takes at least max_batch_size requests at
    # once; scale out when a replica holds a batch's worth.
    batch_room = max(64, 2 * settings.batch_size)
    # @serve.deployment turns the classes into Deployments, which mypy cannot see.
    policy = PricingPolicy.options(  # type: ignore[attr-defined]
        **common,
        max_ongoing_requests=batch_room,
        autoscaling_config={**replicas, "target_ongoing_requests": settings.batch_size},
    ).bind(config)
    return PricingAPI.options(  # type: ignore[attr-defined]
        **common,
        max_ongoing_requests=100,
        autoscaling_config={**replicas, "target_ongoing_requests": 32},
    ).bind(policy, config, keys)


def __getattr__(name: str) -> Any:
    # `app` is built when asked for, so importing the module has no side effects.
    if name == "app":
        return build_app(ServeSettings.from_env())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
