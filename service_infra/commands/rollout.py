"""The command lines of a rollout's command resources: activate a version, retire the old one.

They run ``service_infra.ops.rollout`` (standard library only) on the machine that runs Pulumi.
"""

from __future__ import annotations

from service_infra.ops.rollout import LIVE_ALIAS

OPERATION = ["python3", "-m", "service_infra.ops.rollout"]


def activate_operation(service: str, tag: str, container: str, network: str, timeout: int) -> list[str]:
    return [
        *OPERATION, "activate", "--service", service, "--tag", tag, "--container", container,
        "--network", network, "--alias", LIVE_ALIAS, "--timeout", str(timeout),
    ]  # fmt: skip


def retire_operation(container: str, drain_seconds: int) -> list[str]:
    return [*OPERATION, "retire", "--container", container, "--drain-seconds", str(drain_seconds)]
