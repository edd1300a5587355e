"""API keys: writes need `Authorization: Bearer <key>` with a key from `QA_API_KEYS` or
`QA_API_KEYS_FILE`; with no key configured every write answers 403 (safe by default). With
`QA_READ_REQUIRES_KEY=1` questions and articles need a key too; probes, the OpenAPI document
and the page stay open (a browser page cannot keep a secret: put it behind your own proxy).

Keys are compared in constant time, each against every configured key, and never logged."""

from __future__ import annotations

import hmac

from flask import current_app, request

from qa.api.errors import ApiError
from qa.config import Settings

# OpenAPI: a bearer key is needed (writes; every read too with QA_READ_REQUIRES_KEY), or none (probes).
WRITE_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]
NO_KEY: list[dict[str, list[str]]] = []
WRITES = ("PUT", "POST", "DELETE")


def _settings() -> Settings:
    return current_app.config["QA_SETTINGS"]


def _presented_key() -> str | None:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


def _check_key() -> None:
    keys = _settings().api_keys
    presented = _presented_key()
    # Every configured key is compared, so the time taken says nothing about which one nearly matched.
    matches = [hmac.compare_digest(presented.encode(), key.encode()) for key in keys] if presented else []
    if not any(matches):
        raise ApiError(
            401,
            "unauthorized",
            "Send a valid API key: Authorization: Bearer <key>.",
            headers={"WWW-Authenticate": 'Bearer realm="article-qa"'},
        )


def require_write_key() -> None:
    """Before every write route: 403 when writes are off, 401 without a valid key."""
    if request.method not in WRITES:
        return
    if not _settings().api_keys:
        raise ApiError(
            403,
            "writes_disabled",
            "Writes are off: the server has no API key configured (QA_API_KEYS or QA_API_KEYS_FILE).",
        )
    _check_key()


def require_read_key() -> None:
    """Before every read route when `QA_READ_REQUIRES_KEY` is on (settings refuse it without a key)."""
    if _settings().read_requires_key and request.method != "OPTIONS":
        _check_key()
