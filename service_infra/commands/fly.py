"""The command lines of the Fly app's command resources, its fly.toml and its secrets' stdin.

flyctl's own argument lists are built in ``service_infra.ops.fly`` (the operations run them);
this module composes what each command resource runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tomli_w

from service_infra.ops.fly import REGISTRY_PASSWORD_ENV, apps_destroy, secrets_import, secrets_unset
from service_infra.settings.base import NUL_IN_ENVIRONMENT

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


# flyctl reads stdin with a bufio.Scanner: a longer line (and every line after it) is silently lost.
MAX_LINE_BYTES = 64 * 1024 - 1


class UnsafeSecretError(ValueError):
    """flyctl's `secrets import` parser cannot store this value byte-exact in any encoding."""

    def __init__(self, name: str, why: str) -> None:
        self.name = name
        super().__init__(f"service-infra:secrets.{name}: {why}; nothing was sent to Fly")


def _no_comment(encoded: str) -> bool:
    # parser.go cuts the value at the first "#" when an even number of '"' precede it.
    head, hashed, _ = encoded.partition("#")
    return not hashed or head.count('"') % 2 == 1


def _one_line(value: str) -> list[str]:
    """Encodings parser.go stores as `value` exactly, most readable first (flyctl v0.4.87)."""
    bare_kept = not (
        value.startswith((" ", '"""'))  # leading spaces are trimmed; """ opens a multi-line value
        or value.endswith("\r")  # the scanner drops a "\r" before the newline
        or (value[:1] in ('"', "'") and value.endswith(value[:1]))  # outer quotes go (a lone one panics)
    )
    double = f'"{value}"'  # "..." loses one pair of quotes; a value starting '""' reads as """
    double_kept = _no_comment(double) and not double.startswith('"""')
    candidates = [double] if double_kept and '"' not in value else []  # quoted, unless it holds quotes
    if bare_kept and _no_comment(value):
        candidates.append(value)
    if double_kept:
        candidates.append(double)
    if _no_comment(single := f"'{value}'"):
        candidates.append(single)
    if _no_comment(triple := f'"""{value}"""'):
        candidates.append(triple)
    return candidates


def _many_lines(name: str, value: str) -> str:
    """The only multi-line form, \"\"\"...\"\"\", or why parser.go would not store it exactly."""
    lines = value.split("\n")
    if any(line.endswith("\r") for line in lines[:-1]):
        raise UnsafeSecretError(name, "has CRLF line ends, and flyctl drops each line's \\r; convert it to LF")
    if not _no_comment('"""' + lines[0]):
        raise UnsafeSecretError(name, "flyctl would cut its first line at '#' (it follows an odd number of '\"')")
    if lines[0].endswith('"""') or any(line.endswith('"""') for line in lines[1:-1]):
        raise UnsafeSecretError(name, 'a line ending in """ would end the value there and corrupt the secrets after it')
    return f'"""{value}"""'


def secret_line(name: str, value: str) -> str:
    """The NAME=VALUE line that `fly secrets import` (flyctl v0.4.87) stores as exactly `value`.

    flyctl's parser (internal/command/secrets/parser.go) strips leading spaces and one pair of outer
    quotes, cuts at a "#" after an even number of '"', treats a leading \"\"\" as a multi-line
    value, drops "\r" at line ends, panics on a lone quote and silently stops at a line of 64 KiB.
    Each value gets an encoding that survives all of that, or UnsafeSecretError says why none does;
    a NUL byte, which the parser keeps, is refused too: no environment variable can hold it.
    tests/fakes/fly/secrets_table.json holds what the real parser stored for each case.
    """
    try:
        value.encode()
    except UnicodeEncodeError:
        raise UnsafeSecretError(name, "is not valid UTF-8") from None
    if "\0" in value:  # flyctl's parser keeps it, but the app could never read it back whole
        raise UnsafeSecretError(
            name, NUL_IN_ENVIRONMENT.format(where="the app gets each secret as an environment variable")
        )
    encodings = [_many_lines(name, value)] if "\n" in value else _one_line(value)
    lines = [f"{name}={encoded}" for encoded in encodings]
    fitting = [line for line in lines if max(len(part.encode()) for part in line.split("\n")) <= MAX_LINE_BYTES]
    if not fitting:
        raise UnsafeSecretError(name, f"flyctl silently drops a line longer than {MAX_LINE_BYTES} bytes, and the rest")
    return fitting[0]


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
