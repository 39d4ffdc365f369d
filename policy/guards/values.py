"""Property values as policies read them: plain data, UNKNOWN for what a preview cannot know yet,
and ``pulumi_policy.Secret`` for what the program passed as a Pulumi secret."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi_policy.policy as _policy_runtime
from pulumi_policy import Secret
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

from service_infra.contract import SECRET_SIGNATURE, SECRET_SIGNATURE_KEY


class _Unknown:
    """A value the engine does not know yet (a preview of something not yet created)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
_UNKNOWN_SENTINELS = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)


def plain(value: Any) -> Any:
    """Properties as plain dicts and lists: unknowns become UNKNOWN, secrets stay `Secret`.

    The SDK hands policies proxies that raise on an unknown value; reading through this once
    lets a policy skip what it cannot know instead of failing the whole check.
    """
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key in list(value):
            try:
                item = value[key]
            except UnknownValueError:
                item = UNKNOWN
            result[str(key)] = plain(item)
        return result
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                item = value[index]
            except UnknownValueError:
                item = UNKNOWN
            items.append(plain(item))
        return items
    return value


def _mark_secrets(value: Any, deserialize: Callable[..., Any]) -> Any:
    if isinstance(value, dict):
        if value.get(SECRET_SIGNATURE_KEY) == SECRET_SIGNATURE:
            inner = _mark_secrets(value.get("value"), deserialize)
            return Secret(deserialize({"value": inner})["value"])
        return {key: _mark_secrets(item, deserialize) for key, item in value.items()}
    if isinstance(value, list):
        return [_mark_secrets(item, deserialize) for item in value]
    return value


def install_secret_markers() -> None:
    """Let policies tell a Pulumi secret from a plaintext value.

    pulumi_policy (1.21) unwraps every secret to its plaintext before a resource or stack
    validation sees it, so ``envs`` built with ``Output.secret`` looks exactly like a
    plaintext list. This wraps the SDK's property decoding (for validations only; remediation
    keeps its own secret handling) so that a secret arrives as a ``pulumi_policy.Secret``
    holding the value: the secrets policy skips those, and nothing else reads them.
    Idempotent. Fails loudly if the SDK no longer decodes where this expects, rather than
    letting every secret look like plaintext.
    """
    original = getattr(_policy_runtime, "deserialize_properties", None)
    if original is None or not callable(original):
        raise RuntimeError(
            "pulumi_policy.policy.deserialize_properties is gone: the secret-marker hook needs "
            "updating for this pulumi-policy version"
        )
    if getattr(original, "_service_infra_secret_markers", False):
        return

    def deserialize_properties(props: dict[str, Any], proxy_secrets: bool = False) -> Any:
        if proxy_secrets:
            return original(props, True)
        return original(_mark_secrets(props, original))

    deserialize_properties._service_infra_secret_markers = True  # type: ignore[attr-defined]
    _policy_runtime.deserialize_properties = deserialize_properties  # type: ignore[assignment]


def revealed(value: Any) -> Any:
    """The value with every `Secret` replaced by what it holds.

    For the guards that judge settings (a user, an address, a reviewer list): wrapping a value
    in a Pulumi secret must not hide it from them. Only the secrets policy cares what is secret.
    """
    if isinstance(value, Secret):
        return revealed(value.value)
    if isinstance(value, dict):
        return {key: revealed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [revealed(item) for item in value]
    return value
