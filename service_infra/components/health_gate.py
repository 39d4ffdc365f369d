"""The health gate a rollout ends with: the service must answer its health URL."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_command import local

from service_infra.commands.probe import probe_command
from service_infra.contract import HEALTH_GATE_TYPE


@dataclass(frozen=True)
class HealthGateArgs:
    service: str
    url: str
    # The values that identify a rollout (container, release, ...): the probe runs again when one changes.
    rollout: Sequence[pulumi.Input[object]]


class HealthGate(pulumi.ComponentResource):
    """Probes the URL (5 tries, exponential backoff) after each rollout; fails the update if unhealthy."""

    def __init__(
        self,
        name: str,
        args: HealthGateArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(HEALTH_GATE_TYPE, name, None, opts)
        url = args.url
        self.url = url
        self.probe = local.Command(
            f"{name}-probe",
            create=shlex.join(probe_command(args.service, url)),
            triggers=list(args.rollout),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"url": url, "result": self.probe.stdout})
