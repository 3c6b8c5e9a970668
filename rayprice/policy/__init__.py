"""The context-encoder pricing policy: networks, the RLlib module and policy bundles.

:mod:`rayprice.policy.networks` and :mod:`rayprice.policy.bundle` need only torch;
:mod:`rayprice.policy.module` (the RLlib RLModule) imports Ray.
"""

from pathlib import Path

#: The shipped default bundle, trained on ``retail-v1`` (see its README.md).
DEFAULT_BUNDLE = Path(__file__).parent / "default"
