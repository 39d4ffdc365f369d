"""`python -m service_infra promote --service N [--from staging] [--to prod]`: the bits staging
runs, pinned into prod's stack file, as a diff for a pull request.

It reads what the source stack runs now: its `releases` output names the live release of the
service (tag and digest; the live one passed its health gate when it went live, and after a
failed rollout it is the one that kept serving) and one GET of its health URL must answer 200.
It then sets `services.<service>.tag` and `services.<service>.release_digests` (that tag's
digest, and no other pin) in Pulumi.<to>.yaml, checks the file against the settings rules, and
prints the diff. It deploys nothing: the change goes through review like any other, and prod's
`up` runs exactly those bits: it refuses when the registry's tag names another digest than the
pin (service_infra.releases.image_digests).

Needs no passphrase: the source's outputs come from `pulumi stack export` (secret values stay
encrypted), and the target's values it sets are plain.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service_infra.boundary import Progress
from service_infra.cli.rollback import RollbackError, run_pulumi, stack_outputs
from service_infra.contract import IMAGE_DIGEST, RELEASES_OUTPUT
from service_infra.ops.probe import get_once
from service_infra.settings import Service, SettingsError, load_stack_file, stack_file_of


class PromoteError(Exception):
    pass


@dataclass(frozen=True)
class Release:
    tag: str
    digest: str


def live_release(outputs: Mapping[str, Any], stack: str, service: str) -> Release:
    """The release of SERVICE that STACK runs now: the first of its `releases` output."""
    found = (outputs.get(RELEASES_OUTPUT) or {}).get(service) or []
    live = found[0] if found and isinstance(found[0], dict) else {}
    tag, digest = live.get("tag"), live.get("digest")
    if not isinstance(tag, str) or not tag:
        raise PromoteError(f"{stack} has no release of {service}: deploy it there first (`pulumi up -s {stack}`)")
    if not isinstance(digest, str) or not IMAGE_DIGEST.match(digest):
        raise PromoteError(
            f"{stack} runs {service} {tag} without a recorded digest (an image not on the stack's registry): "
            "only bits known by their digest can be promoted"
        )
    return Release(tag, digest)


def check_services(service: str, source: str, target: str, ours: Service | None, theirs: Service | None) -> None:
    """Both stacks run SERVICE on a Docker host, from the same image repository."""
    for stack, settings in ((source, ours), (target, theirs)):
        if settings is None:
            raise PromoteError(f"{stack_file_of(stack)} has no service {service} (service-infra:services.{service})")
        if settings.docker is None:
            raise PromoteError(
                f"{stack_file_of(stack)}: services.{service} runs on Fly, whose releases record no image digest: "
                f"promote pins digests, so set services.{service}.tag by hand"
            )
    assert ours is not None and theirs is not None
    if ours.image != theirs.image:
        raise PromoteError(
            f"services.{service}.image is {ours.image} in {source} but {theirs.image} in {target}: promote moves "
            "bits between stacks of one image repository; make the two the same first"
        )


def unified_diff(path: Path, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    return "".join(lines)


def write_pins(target: str, service: str, release: Release, had_pins: bool) -> None:
    """Set the tag and pin its digest (the only pin: others would be dead entries)."""
    if had_pins:
        run_pulumi(["config", "rm", "--path", f"services.{service}.release_digests", "--stack", target])
    run_pulumi(["config", "set", "--path", f"services.{service}.tag", release.tag, "--stack", target])
    pin = f"services.{service}.release_digests[{json.dumps(release.tag)}]"
    run_pulumi(["config", "set", "--path", pin, release.digest, "--stack", target])


def promote(service: str, source: str, target: str) -> str:
    """Pin what SOURCE runs of SERVICE into TARGET's stack file; the diff it made ('' if none)."""
    source_file, target_file = stack_file_of(source), stack_file_of(target)
    ours = load_stack_file(source_file).services.get(service)
    theirs = load_stack_file(target_file).services.get(service)
    check_services(service, source, target, ours, theirs)
    assert ours is not None and theirs is not None
    progress = Progress(f"promote {service}")
    progress.phase(f"reading what {source} runs from its state")
    outputs = stack_outputs(source)
    release = live_release(outputs, source, service)
    url = (outputs.get("service_urls") or {}).get(service)
    if not isinstance(url, str):
        raise PromoteError(f"{source} has no URL for {service} in its outputs: deploy it there first")
    progress.phase(f"{source} runs {release.tag} ({release.digest}); probing its health URL")
    failed = get_once(ours.health_url(url))
    if failed is not None:
        raise PromoteError(f"{source}'s {service} does not answer its health URL now ({failed}): nothing to promote")
    if (theirs.tag, theirs.pinned_digest) == (release.tag, release.digest):
        return ""
    before = target_file.read_text()
    progress.phase(f"healthy; writing {target_file}")
    write_pins(target, service, release, had_pins=bool(theirs.release_digests))
    after = target_file.read_text()
    try:
        load_stack_file(target_file)
    except SettingsError as error:
        target_file.write_text(before)
        raise PromoteError(
            f"{target_file} would not pass its settings rules with {release.tag} (left as it was): "
            + "; ".join(error.problems)
        ) from None
    return unified_diff(target_file, before, after)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service_infra promote",
        description="pin the tag and digest one stack runs into another's stack file (deploys nothing)",
    )
    parser.add_argument("--service", required=True)
    parser.add_argument(
        "--from", dest="source", default="staging", help="the stack whose live release (default staging)"
    )
    parser.add_argument("--to", dest="target", default="prod", help="the stack file to write (default prod)")
    args = parser.parse_args(argv)
    try:
        diff = promote(args.service, args.source, args.target)
    except (PromoteError, RollbackError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except SettingsError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return 2
    if not diff:
        print(f"{stack_file_of(args.target)} already runs what {args.source} runs of {args.service}: nothing to change")
        return 0
    print(diff, end="")
    print(
        f"\n{stack_file_of(args.target)} changed (nothing deployed): commit it in a pull request; "
        f"`pulumi up -s {args.target}` then runs exactly these bits",
        file=sys.stderr,
    )
    return 0
