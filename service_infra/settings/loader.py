"""Where the config comes from: the running engine, or a stack file read offline."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from service_infra.contract import PROJECT
from service_infra.settings.base import NUL_IN_ENVIRONMENT
from service_infra.settings.errors import SettingsError
from service_infra.settings.fly_secrets import UnsafeSecretError, secret_line
from service_infra.settings.stack import Settings, parse_settings


def _decode(value: Any) -> Any:
    """The engine hands structured config to the program as JSON text."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _secure_leaves(value: Any, path: str) -> list[str]:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return [path]
        return [leaf for k, v in value.items() for leaf in _secure_leaves(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _secure_leaves(v, f"{path}[{i}]")]
    return []


def split_config(config: Mapping[str, Any], secret_keys: set[str]) -> tuple[dict[str, Any], dict[str, bool], list[str]]:
    """Split the project's raw config into settings data and the secret index.

    `config` holds full keys (``service-infra:services``); `secret_keys` the top-level keys
    that hold a secure value. Returns (settings data, secret index, problems).
    """
    data: dict[str, Any] = {}
    secrets: dict[str, bool] = {}
    problems: list[str] = []
    prefix = f"{PROJECT}:"
    for full_key, raw in config.items():
        if not full_key.startswith(prefix):
            continue  # provider config (github:token, docker:host, ...) is not ours to check
        key = full_key[len(prefix) :]
        value = _decode(raw)
        if key == "secrets":
            if not isinstance(value, dict):
                problems.append(f"{full_key}: must be a map of NAME: <secure value>")
                continue
            for name, secret in value.items():
                stored_secure = (isinstance(secret, dict) and set(secret) == {"secure"}) or (
                    full_key in secret_keys and not isinstance(secret, dict)
                )
                secrets[str(name)] = stored_secure
            continue
        leaves = _secure_leaves(value, full_key)
        if leaves or full_key in secret_keys:
            for leaf in leaves or [full_key]:
                problems.append(
                    f"{leaf}: secret values belong under {PROJECT}:secrets.<NAME> and are referenced by name here"
                )
            continue
        data[key] = value
    return data, secrets, problems


def stack_name_of(path: Path) -> str | None:
    """`prod` for Pulumi.prod.yaml; None for a file not named like a stack file."""
    name = path.name
    if name.startswith("Pulumi.") and name.endswith((".yaml", ".yml")):
        return name.removeprefix("Pulumi.").rsplit(".", 1)[0] or None
    return None


def stack_file_of(stack: str) -> Path:
    """Pulumi.prod.yaml for the stack `prod` (or `org/project/prod`), in the working directory."""
    return Path(f"Pulumi.{stack.rsplit('/', 1)[-1]}.yaml")


def load_settings(config: Mapping[str, Any], secret_keys: set[str], stack: str | None = None) -> Settings:
    data, secrets, problems = split_config(config, secret_keys)
    try:
        settings = parse_settings(data, secrets, stack)
    except SettingsError as error:
        raise SettingsError(problems + error.problems) from None
    if problems:
        raise SettingsError(problems)
    return settings


def load_stack_file(path: Path) -> Settings:
    """Check a Pulumi.<stack>.yaml offline: no CLI, no passphrase (secure values are checked for presence)."""
    import yaml

    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise SettingsError([f"{path}: cannot read the stack file: {error}"]) from None
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise SettingsError([f"{path}: `config` must be a map"])
    return load_settings(config, secret_keys=set(), stack=stack_name_of(path))


def load_runtime_settings() -> Settings:
    """Read the running stack's config from the Pulumi engine."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    config = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = {key for key in config if runtime_config.is_config_secret(key)}
    secret_keys |= set(runtime_config.get_config_secret_keys_env())
    return load_settings(config, secret_keys, stack=pulumi.get_stack())


def read_secrets(names: set[str]) -> dict[str, Any]:
    """The named secret values as Pulumi secret outputs (decrypted by the engine, never logged)."""
    import pulumi

    if not names:
        return {}
    values = pulumi.Config(PROJECT).require_secret_object("secrets")
    return {name: values.apply(lambda all_values, name=name: str(all_values[name])) for name in sorted(names)}


def read_plain_secrets(names: set[str]) -> dict[str, str]:
    """The named secret values as plain strings, for what must be known before any resource
    (registry lookups, the keyed hash in version names): never logged, never in a resource."""
    from pulumi.runtime import config as runtime_config

    raw = runtime_config.get_config(f"{PROJECT}:secrets")
    values = json.loads(raw) if isinstance(raw, str) else (raw or {})
    return {name: str(values[name]) for name in sorted(names) if name in values}


def check_secret_values(settings: Settings, values: Mapping[str, str]) -> None:
    """Refuse, before any resource, a secret value its service could not receive intact.

    `secret_env` reaches a container as environment variables, each a C string: a NUL byte would
    cut the value there. A Fly app's secrets go through flyctl's `secrets import` parser, which
    alters some values in every encoding (settings.fly_secrets.secret_line says which). Each problem names
    the secret and the service; the values themselves are never shown.
    """

    problems = [
        f"{PROJECT}:secrets.{secret}: "
        + NUL_IN_ENVIRONMENT.format(where=f"it is in {PROJECT}:services.{name}.secret_env")
        for name, service in sorted(settings.docker_services().items())
        for secret in service.secret_env
        if "\0" in values.get(secret, "")
    ]
    for name, service in sorted(settings.fly_services().items()):
        assert service.fly is not None
        for secret in sorted({*service.fly.secrets, *service.secret_env} & set(values)):
            try:
                secret_line(secret, values[secret])
            except UnsafeSecretError as unsafe:
                problems.append(f"{unsafe} (it is a secret of the Fly app of {PROJECT}:services.{name})")
    if problems:
        raise SettingsError(problems)
