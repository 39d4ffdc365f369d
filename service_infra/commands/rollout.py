"""The command lines of a rollout's command resources: configure the proxy, activate a version,
retire the old one.

They run ``service_infra.ops.rollout`` (standard library only) on the machine that runs Pulumi.
"""

from __future__ import annotations

from service_infra.boundary import Activation

OPERATION = ["python3", "-m", "service_infra.ops.rollout"]


def activate_operation(a: Activation) -> list[str]:
    argv = [
        *OPERATION, "activate", "--service", a.service, "--tag", a.tag, "--container", a.container,
        "--network", a.network, "--timeout", str(a.timeout),
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
