"""Each environment reaches only itself: prod's Docker hosts are no other stack's.

docker-host-own-identity (at stack level, in prod): every Docker provider's `host`
(`ssh://user@host:port`) is compared with what the project's other stack files name, the same
comparison `python -m service_infra check` and the program's preflight make
(``service_infra.settings.isolation``). The project is the folder above this pack's (`policy/`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pulumi_policy import StackValidationArgs

from .resources import props
from .target import LiveTarget, Target

PROJECT_DIR = Path(__file__).resolve().parents[2]
DOCKER_PROVIDER = "pulumi:providers:docker"


def shared_docker_identity_findings(
    args: StackValidationArgs, target: Target | LiveTarget, project_dir: Path = PROJECT_DIR
) -> Iterator[tuple[str, str | None]]:
    if not target.is_prod:
        return
    # Imported here, in prod alone: the settings models are most of the pack's start-up (0.37 of
    # 0.58 s of imports), which every other stack's preview would wait for (benchmarks/staging.py).
    from service_infra.settings.isolation import docker_host_identity, reached, sibling_settings

    theirs = {
        item.what: (name, item)
        for name, settings in sibling_settings(project_dir, target.stack or "").items()
        for item in reached(settings)
    }
    for resource in args.resources:
        if resource.resource_type != DOCKER_PROVIDER:
            continue
        host = props(resource).get("host")
        identity = docker_host_identity(host) if isinstance(host, str) else None
        if identity in theirs:
            other, item = theirs[identity]
            yield (
                f"{identity} is also the {other} stack's ({item.key}): its key would open prod's engine. "
                f"Each environment reaches only itself: {item.how_to}.",
                resource.urn,
            )
