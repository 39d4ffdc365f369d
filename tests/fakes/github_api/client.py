"""A small REST client for tests: calls the stand-in as the provider does, redirects not followed."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from email.message import Message
from typing import Any

from nacl.public import PublicKey, SealedBox

from tests.fakes.github_api.server import DEFAULT_TOKEN, GithubApi


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 303 is an answer to look at, not to follow


OPENER = urllib.request.build_opener(_NoRedirect)


def call(
    api: GithubApi, method: str, path: str, body: Any = None, *, auth: str | None = f"Bearer {DEFAULT_TOKEN}"
) -> tuple[int, Any]:
    """METHOD /api/v3<path> (or `path` as is when it starts with /api/), with a JSON body."""
    status, answer, _ = request(api, method, path, body, auth=auth)
    return status, answer


def request(
    api: GithubApi,
    method: str,
    path: str,
    body: Any = None,
    *,
    auth: str | None = f"Bearer {DEFAULT_TOKEN}",
    headers: Mapping[str, str] | None = None,
) -> tuple[int, Any, Message]:
    """`call` with more request headers (e.g. If-None-Match), answering the response's headers too."""
    url = f"http://127.0.0.1:{api.port}{path if path.startswith('/api/') else '/api/v3' + path}"
    data = json.dumps(body).encode() if body is not None else None
    outgoing = urllib.request.Request(url, data=data, method=method)
    if auth:
        outgoing.add_header("Authorization", auth)
    if data is not None:
        outgoing.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        outgoing.add_header(name, value)
    try:
        with OPENER.open(outgoing, timeout=10) as response:
            raw, status, answered = response.read(), response.status, response.headers
    except urllib.error.HTTPError as error:
        raw, status, answered = error.read(), error.code, error.headers
    return status, json.loads(raw) if raw else None, answered


def seal(public_key_b64: str, value: str) -> str:
    """`value` sealed for a GitHub secrets public key, base64-encoded, as clients send it."""
    box = SealedBox(PublicKey(base64.b64decode(public_key_b64)))
    return base64.b64encode(box.encrypt(value.encode())).decode()


CHECK = "lint, types, unit tests, offline check"


def provider_protection_body(**overrides: Any) -> dict[str, Any]:
    """The ProtectionRequest buildProtectionRequest makes for the prod stack's BranchProtectionV3.

    go-github marshals it so: `restrictions` null (none declared), `required_conversation_resolution`
    false (a pointer, always set), `dismissal_restrictions` {} (an empty request struct: none),
    no `bypass_pull_request_allowances` (nil), and each check without app_id ("context" alone, no
    ":app_id" suffix in the declared name).
    """
    return {
        "required_status_checks": {"strict": True, "checks": [{"context": CHECK}]},
        "required_pull_request_reviews": {
            "dismissal_restrictions": {},
            "dismiss_stale_reviews": True,
            "require_code_owner_reviews": True,
            "required_approving_review_count": 1,
            "require_last_push_approval": True,
        },
        "enforce_admins": True,
        "restrictions": None,
        "required_conversation_resolution": False,
        **overrides,
    }
