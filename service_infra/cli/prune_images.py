"""Free a Docker host's disk of release images no rollback needs, and of nothing else.

    python -m service_infra prune-images --stack staging [--keep N] [--yes]

The program pulls each release by digest and never removes an image (`keep_locally`), so a
rollback to a recorded release runs from the host whatever the registry holds by then; over
months that fills the Mac Mini's disk. Per Docker service of the stack, this removes the images
of the service's repository that

- the program pulled: a reference by digest with no tag (a tagged image is someone's own:
  left alone),
- are not among the service's last N releases in the stack's `releases` output (default: all
  it records, the last 10), and
- no container uses, running or stopped, and
- no other stack of the project keeps, when it shares the host (the same SSH login or pinned
  engine: one engine for both, against docs/mac-mini.md's advice): every release that stack
  records stays, and if its outputs cannot be read, nothing on that host is removed.

Without --yes it only lists them. A service the stack has recorded no release of yet is left
alone. Reads the stack's outputs (no secrets) and asks the hosts with the docker CLI.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service_infra.cli.rollback import RollbackError, stack_outputs
from service_infra.commands.docker import docker_cli
from service_infra.contract import IMAGE_DIGEST, RELEASES_KEPT, RELEASES_OUTPUT
from service_infra.ops.rollout import Docker, RolloutError
from service_infra.settings import DockerHostSettings, Settings, SettingsError, load_stack_file, stack_file_of
from service_infra.settings.isolation import docker_host_identity, sibling_settings

# One line per image reference: repository, tag, digest, image id.
IMAGE_FORMAT = "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}"


@dataclass(frozen=True)
class ImageRef:
    repository: str
    tag: str
    digest: str
    image_id: str

    @property
    def ref(self) -> str:
        return f"{self.repository}@{self.digest}"


def parse_images(text: str) -> list[ImageRef]:
    refs = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) == 4:
            refs.append(ImageRef(*fields))
    return refs


def kept_digests(outputs: Mapping[str, Any], service: str, keep: int) -> list[str] | None:
    """The digests of the service's last KEEP releases, newest first; None when none is recorded."""
    releases = (outputs.get(RELEASES_OUTPUT) or {}).get(service)
    if not releases:
        return None
    digests = [
        str(r.get("digest")) for r in releases if isinstance(r, dict) and IMAGE_DIGEST.match(str(r.get("digest")))
    ]
    return digests[:keep]


def removable(refs: Sequence[ImageRef], repository: str, keep: Sequence[str], in_use: set[str]) -> list[ImageRef]:
    """The digest-only references of REPOSITORY that no kept release and no container needs."""
    tagged_ids = {r.image_id for r in refs if r.repository == repository and r.tag != "<none>"}
    return [
        r
        for r in refs
        if r.repository == repository
        and r.tag == "<none>"
        and IMAGE_DIGEST.match(r.digest)
        and r.digest not in keep
        and r.image_id not in in_use
        and r.image_id not in tagged_ids
    ]


def images_in_use(docker: Docker) -> set[str]:
    ids = docker.check("container", "ls", "--all", "--quiet", "--no-trunc").split()
    if not ids:
        return set()
    return set(docker.check("container", "inspect", "--format", "{{.Image}}", *ids).split())


def host_identities(host: DockerHostSettings) -> set[str]:
    """What tells one engine from another across stacks: its SSH login, its pinned ID."""
    return {i for i in (docker_host_identity(host.url), host.engine_id and f"engine {host.engine_id}") if i}


def sharers(settings: Settings, host_name: str, others: Mapping[str, Settings]) -> list[str]:
    """The other stacks that run on the same engine as SETTINGS' host HOST_NAME."""
    mine = host_identities(settings.docker_hosts[host_name])
    return sorted(
        name for name, other in others.items() if any(mine & host_identities(h) for h in other.docker_hosts.values())
    )


def digests_others_keep(
    services: Sequence[str], stacks: Sequence[str], read_outputs: Callable[[str], Mapping[str, Any]]
) -> set[str] | str:
    """Every digest those stacks record for SERVICES; or why they could not be read."""
    kept: set[str] = set()
    for stack in stacks:
        try:
            outputs = read_outputs(stack)
        except RollbackError as error:
            return f"stack {stack} shares this host and its releases could not be read ({error})"
        for service in services:
            kept.update(kept_digests(outputs, service, RELEASES_KEPT) or [])
    return kept


def prune(
    stack: str,
    outputs: Mapping[str, Any],
    keep: int,
    apply: bool,
    say: Any = print,
    read_outputs: Callable[[str], Mapping[str, Any]] = stack_outputs,
) -> int:
    """List (or, with APPLY, remove) what may go on each host; returns how many references."""
    settings = load_stack_file(stack_file_of(stack))
    others = sibling_settings(Path("."), stack)
    total = 0
    for name, service in sorted(settings.docker_services().items()):
        assert service.docker is not None
        digests = kept_digests(outputs, name, keep)
        if digests is None:
            say(f"{name}: the stack records no release of it yet: left alone")
            continue
        shared_with = sharers(settings, service.docker.host, others)
        if shared_with:
            theirs = digests_others_keep(sorted({name, *settings.docker_services()}), shared_with, read_outputs)
            if isinstance(theirs, str):
                say(f"{name} on {service.docker.host}: {theirs}: nothing removed there")
                continue
            digests = [*digests, *sorted(theirs - set(digests))]
        with Docker(docker_cli(settings.docker_hosts[service.docker.host])) as docker:
            refs = parse_images(
                docker.check("image", "ls", "--digests", "--no-trunc", "--format", IMAGE_FORMAT, service.image)
            )
            going = removable(refs, service.image, digests, images_in_use(docker))
            say(
                f"{name} on {service.docker.host}: keeps {len(digests)} release(s); {len(going)} image(s) no release needs"
            )
            for ref in going:
                if apply:
                    docker.check("image", "rm", ref.ref)
                say(f"  {'removed' if apply else 'would remove'} {ref.ref}")
        total += len(going)
    return total


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service_infra prune-images",
        description="Remove release images from the stack's Docker hosts that no kept release and no container needs.",
    )
    parser.add_argument("--stack", required=True)
    parser.add_argument(
        "--keep",
        type=int,
        default=RELEASES_KEPT,
        help="releases per service whose images stay, newest first (default: %(default)s, all the stack records)",
    )
    parser.add_argument("--yes", action="store_true", help="remove them (without it, only list)")
    args = parser.parse_args(argv)
    if args.keep < 1:
        parser.error("--keep: at least 1 (the live release's image always stays)")
    try:
        count = prune(args.stack, stack_outputs(args.stack), args.keep, args.yes)
    except (SettingsError, RollbackError, RolloutError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if count and not args.yes:
        print(f"nothing removed: run again with --yes to remove the {count} image(s) above")
    return 0


if __name__ == "__main__":
    sys.exit(main())
