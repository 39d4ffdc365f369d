"""The command lines of the Fly app's command resources, its fly.toml and its secrets' stdin.

flyctl's own argument lists are built in ``service_infra.ops.fly`` (the operations run them);
this module composes what each command resource runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from service_infra.ops.fly import apps_destroy, secrets_import, secrets_unset

__all__ = [
    "FlyMount",
    "apps_destroy",
    "delete_volume_operation",
    "ensure_app_operation",
    "ensure_volume_operation",
    "fly_toml",
    "release_operation",
    "secrets_import",
    "secrets_stdin",
    "secrets_unset",
]

# The operations below (ensure-app, ...) as the command resources run them.
OPERATION = ["python3", "-m", "service_infra.ops.fly"]


def ensure_app_operation(app: str, org: str) -> list[str]:
    return [*OPERATION, "ensure-app", "--app", app, "--org", org]


def ensure_volume_operation(app: str, name: str, region: str, size_gb: int) -> list[str]:
    return [*OPERATION, "ensure-volume", "--app", app, "--name", name, "--region", region, "--size", str(size_gb)]


def delete_volume_operation() -> list[str]:
    return [*OPERATION, "delete-volume"]


def release_operation(app: str, image: str) -> list[str]:
    return [*OPERATION, "release", "--app", app, "--image", image]


def secrets_stdin(values: dict[str, str]) -> str:
    """The stdin of `fly secrets import`: one NAME="VALUE" line each.

    flyctl cuts an unquoted value at `#` and strips one pair of quotes, so every value is
    quoted: "..." on one line, triple double quotes across lines. A value flyctl cannot carry intact
    is refused rather than sent corrupted.
    """
    lines = []
    for name in sorted(values):
        value = values[name]
        if "\n" in value:
            if '"""' in value:
                raise ValueError(f"secret {name}: a multi-line value cannot contain three double quotes")
            lines.append(f'{name}="""{value}"""')
        elif '"' not in value:
            lines.append(f'{name}="{value}"')
        elif "#" not in value and not (value.startswith("'") and value.endswith("'")):
            lines.append(f"{name}={value}")
        else:
            raise ValueError(f"secret {name}: flyctl cannot import this value intact (a '\"' with '#' or outer quotes)")
    return "\n".join(lines) + "\n"


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
    mounts: Sequence[FlyMount],
) -> str:
    """The app's fly.toml: one place for its region, VM, mounts, env and health check."""

    def q(value: str) -> str:
        return json.dumps(value)  # a JSON string is a valid TOML basic string

    lines = [f"app = {q(app)}", f"primary_region = {q(region)}", ""]
    if env:
        lines.append("[env]")
        lines += [f"  {name} = {q(value)}" for name, value in sorted(env.items())]
        lines.append("")
    for mount in mounts:
        lines += ["[[mounts]]", f"  source = {q(mount.source)}", f"  destination = {q(mount.destination)}", ""]
    lines += [
        "[http_service]",
        f"  internal_port = {internal_port}",
        "  force_https = true",
        "  auto_stop_machines = 'off'",
        "  min_machines_running = 1",
        "",
        "[[http_service.checks]]",
        "  grace_period = '10s'",
        "  interval = '15s'",
        "  method = 'GET'",
        "  timeout = '5s'",
        f"  path = {q(health_path)}",
        "",
        "[[vm]]",
        f"  size = {q(vm_size)}",
        f"  memory = '{memory_mb}mb'",
    ]
    return "\n".join(lines) + "\n"
