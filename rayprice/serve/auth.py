"""API keys: each key belongs to a tenant, and a tenant sees only its own markets.

Keys come from an environment variable (``RAYPRICE_API_KEYS="shopA:key1,shopB:key2"``)
and/or a file with one ``tenant:key`` per line. A request presents its key in the
``X-API-Key`` header (or ``Authorization: Bearer KEY``). Every configured key is
compared with :func:`hmac.compare_digest`, all of them on every request, so the
time taken says nothing about which key, or how much of one, matched.
"""

from __future__ import annotations

import hmac
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from rayprice.serve.settings import ServeSettings

#: The tenant of every request when the service runs without keys.
PUBLIC_TENANT = "public"
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Keys shorter than this are refused: they could be guessed.
MIN_KEY_LENGTH = 16


class AuthConfigError(ValueError):
    """API keys are missing or malformed; the message says how to give them."""


@dataclass(frozen=True)
class KeyRing:
    """The configured keys, as (tenant, key bytes) pairs.

    Attributes:
        keys: tenant and key of each configured key.
        open: True when the service runs without keys (``--insecure-no-auth``).
    """

    keys: tuple[tuple[str, bytes], ...] = field(default_factory=tuple)
    open: bool = False

    def tenant_for(self, presented: str | None) -> str | None:
        """The tenant whose key this is, or ``None``; constant time over all keys."""
        if self.open:
            return PUBLIC_TENANT
        if not presented:
            return None
        candidate = presented.encode("utf-8", "surrogateescape")
        found: str | None = None
        for tenant, key in self.keys:
            # No early exit: every key is compared whether or not one matched.
            if hmac.compare_digest(candidate, key):
                found = tenant
        return found

    @property
    def tenants(self) -> list[str]:
        return sorted({t for t, _ in self.keys})


def parse_keys(text: str, where: str) -> list[tuple[str, str]]:
    """``tenant:key`` pairs separated by commas or new lines; ``#`` comments.

    Raises:
        AuthConfigError: a pair without a tenant, with a short key, or a repeated key.
    """
    pairs: list[tuple[str, str]] = []
    for n, raw in enumerate(re.split(r"[,\n]", text), start=1):
        item = raw.split("#", 1)[0].strip()
        if not item:
            continue
        tenant, sep, key = item.partition(":")
        tenant, key = tenant.strip(), key.strip()
        if not sep or not _TENANT.match(tenant):
            raise AuthConfigError(
                f"{where}: entry {n} is not 'tenant:key' (tenant: letters, digits, "
                "'_.-')"
            )
        if len(key) < MIN_KEY_LENGTH:
            raise AuthConfigError(
                f"{where}: the key of tenant {tenant!r} has {len(key)} characters; "
                f"use at least {MIN_KEY_LENGTH} (e.g. `openssl rand -hex 24`)"
            )
        pairs.append((tenant, key))
    keys = [k for _, k in pairs]
    if len(set(keys)) != len(keys):
        raise AuthConfigError(f"{where}: the same key is given twice")
    return pairs


def load_keys(settings: ServeSettings) -> KeyRing:
    """The key ring the settings describe.

    Raises:
        AuthConfigError: no keys configured and ``insecure_no_auth`` not set, or a
            malformed key source.
    """
    if settings.insecure_no_auth:
        return KeyRing(open=True)
    pairs: list[tuple[str, str]] = []
    env_text = os.environ.get(settings.api_keys_env, "")
    if env_text.strip():
        pairs += parse_keys(env_text, settings.api_keys_env)
    if settings.api_keys_file is not None:
        file = Path(settings.api_keys_file)
        if not file.is_file():
            raise AuthConfigError(f"api_keys_file: {file} does not exist")
        pairs += parse_keys(file.read_text(), str(file))
    if not pairs:
        raise AuthConfigError(
            f"no API keys: set {settings.api_keys_env}='tenant:key,...' or give a "
            "key file (--api-keys-file), or run with --insecure-no-auth for a local "
            "trial"
        )
    return KeyRing(keys=tuple((t, k.encode("utf-8")) for t, k in pairs))
