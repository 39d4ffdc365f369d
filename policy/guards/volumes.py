"""docker-volumes-protected: in prod, Docker volumes hold the services' data, so Pulumi may not
delete them.

The program declares each volume of `services.<service>.docker.volumes` with `protect` in prod
(and `retain_on_delete` from `retain_volumes`, which prod cannot switch off). The engine hands a
policy pack `protect` but not `retainOnDelete` (neither pulumi_policy 1.21's
PolicyResourceOptions nor the analyzer protocol carries it), so `protect` is what is enforced.
"""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs

from .resources import DOCKER_VOLUME, docker_key, docker_service, label, settings
from .target import LiveTarget, Target


def docker_volume_protected_findings(args: ResourceValidationArgs, target: Target | LiveTarget) -> Iterator[str]:
    if args.resource_type != DOCKER_VOLUME or not target.is_prod or args.opts.protect:
        return
    key = docker_key(docker_service(args, settings(args)), "volumes")
    yield (
        f"{label(args.resource_type, args.name)}: the Docker volume is not protected, so a destroy or a "
        f"replacement deletes prod's data. Volumes under {key} are declared with protect=True in prod "
        "(DockerService does); no config key turns that off."
    )
