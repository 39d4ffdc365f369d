"""The command lines of a rollout's command resources: configure the proxy, activate a version,
retire the old one.

They run ``service_infra.ops.rollout`` (standard library only) on the machine that runs Pulumi.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service_infra.ops.rollout import LIVE_ALIAS

OPERATION = ["python3", "-m", "service_infra.ops.rollout"]


@dataclass(frozen=True)
class Activation:
    """What `activate` needs to know about the new version and how to judge it."""

    service: str
    tag: str
    container: str
    network: str
    proxy: str
    port: int
    health_path: str
    start_period: int
    timeout: int
    secret_env: Sequence[str] = ()


def activate_operation(a: Activation) -> list[str]:
    argv = [
        *OPERATION, "activate", "--service", a.service, "--tag", a.tag, "--container", a.container,
        "--network", a.network, "--alias", LIVE_ALIAS, "--timeout", str(a.timeout),
        "--proxy", a.proxy, "--port", str(a.port), "--health-path", a.health_path,
        "--start-period", str(a.start_period),
    ]  # fmt: skip
    for name in sorted(a.secret_env):
        argv += ["--secret-env", name]
    return argv


def retire_operation(container: str, drain_seconds: int) -> list[str]:
    return [*OPERATION, "retire", "--container", container, "--drain-seconds", str(drain_seconds)]


def configure_proxy_operation(proxy: str, path: str) -> list[str]:
    """The configuration itself comes on standard input."""
    return [*OPERATION, "configure-proxy", "--proxy", proxy, "--path", path]
