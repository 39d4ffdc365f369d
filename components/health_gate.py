"""The health gate a rollout ends with: the service must answer its health URL."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

import pulumi
from pulumi_command import local

from components.probe import probe_command


class HealthGate(pulumi.ComponentResource):
    """Probes `url` (5 tries, exponential backoff) after each rollout; fails the update if unhealthy.

    `rollout` holds the values that identify a rollout (image, container id, release); the probe
    runs again whenever one of them changes.
    """

    def __init__(
        self,
        name: str,
        service: str,
        url: str,
        rollout: Sequence[pulumi.Input[object]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("service-infra:health_gate:HealthGate", name, None, opts)
        self.url = url
        self.probe = local.Command(
            f"{name}-probe",
            create=shlex.join(probe_command(service, url)),
            triggers=list(rollout),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"url": url, "result": self.probe.stdout})
