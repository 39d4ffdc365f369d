"""The command lines of the Fly app's command resources, its fly.toml and its secrets' stdin.

flyctl's own argument lists are built in ``service_infra.ops.fly`` (the operations run them);
this module composes what each command resource runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tomli_w

from service_infra.ops.fly import REGISTRY_PASSWORD_ENV, apps_destroy, secrets_import, secrets_unset
from service_infra.settings.fly_secrets import UnsafeSecretError, secret_line

__all__ = [
    "REGISTRY_PASSWORD_ENV",
    "FlyMount",
    "UnsafeSecretError",
    "apps_destroy",
    "delete_app_operation",
    "delete_volume_operation",
    "ensure_app_operation",
    "ensure_volume_operation",
    "fly_toml",
    "release_operation",
    "resize_volume_operation",
    "secret_line",
    "secrets_import",
    "secrets_stdin",
    "secrets_unset",
    "token_environment",
]


def token_environment(token: str) -> dict[str, str]:
    """What the Fly commands get in their environment, over the caller's: the stack's token.

    flyctl prefers FLY_ACCESS_TOKEN to FLY_API_TOKEN, so both are set: a caller's own cannot win.
    """
    return {"FLY_API_TOKEN": token, "FLY_ACCESS_TOKEN": token}


# The operations below (ensure-app, ...) as the command resources run them.
OPERATION = ["python3", "-m", "service_infra.ops.fly"]


def ensure_app_operation(app: str, org: str) -> list[str]:
    return [*OPERATION, "ensure-app", "--app", app, "--org", org]


def ensure_volume_operation(app: str, name: str, region: str, size_gb: int, vm_size: str, memory_mb: int) -> list[str]:
    return [
        *OPERATION, "ensure-volume", "--app", app, "--name", name, "--region", region, "--size", str(size_gb),
        "--vm-size", vm_size, "--vm-memory", str(memory_mb),
    ]  # fmt: skip


def resize_volume_operation(app: str, name: str, region: str, size_gb: int) -> list[str]:
    return [*OPERATION, "resize-volume", "--app", app, "--name", name, "--region", region, "--size", str(size_gb)]


def delete_volume_operation(app: str) -> list[str]:
    return [*OPERATION, "delete-volume", "--app", app]


def delete_app_operation(app: str) -> list[str]:
    return [*OPERATION, "delete-app", "--app", app]


def release_operation(app: str, image: str, pull_from: tuple[str, str] | None = None) -> list[str]:
    """`pull_from` (registry server, user name): a private image, pulled where this runs."""
    pull = ["--pull-from", pull_from[0], "--pull-user", pull_from[1]] if pull_from else []
    return [*OPERATION, "release", "--app", app, "--image", image, *pull]


def secrets_stdin(values: dict[str, str]) -> str:
    """The stdin of `fly secrets import`: one line per secret, sorted, each stored byte-exact.

    Raises UnsafeSecretError (naming the secret) for a value flyctl cannot store intact.
    """
    return "".join(f"{secret_line(name, values[name])}\n" for name in sorted(values))


@dataclass(frozen=True)
class FlyMount:
    source: str
    destination: str


def fly_toml(
    app: str,
    region: str,
    vm_size: str,
    memory_mb: int,
    internal_port: int,
    health_path: str,
    env: dict[str, str],
    mount: FlyMount | None,
) -> str:
    """The app's fly.toml: one place for its region, VM, mount, env and health check.

    Written by a TOML library, which quotes and escapes every key and value as TOML wants: an env
    name cannot open a table and any value reads back as itself. One mount: a Fly Machine mounts
    one volume.
    """
    config: dict[str, Any] = {"app": app, "primary_region": region}
    if env:
        config["env"] = dict(sorted(env.items()))
    if mount is not None:
        config["mounts"] = [{"source": mount.source, "destination": mount.destination}]
    check = {"grace_period": "10s", "interval": "15s", "method": "GET", "timeout": "5s", "path": health_path}
    config["http_service"] = {
        "internal_port": internal_port,
        "force_https": True,
        "auto_stop_machines": "off",
        "min_machines_running": 1,
        "checks": [check],
    }
    config["vm"] = [{"size": vm_size, "memory": f"{memory_mb}mb"}]
    return tomli_w.dumps(config)
