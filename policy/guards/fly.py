"""The Fly app's command resources, found by their place in the program; and their protection.

The FlyApp component declares its app, volumes and release as `command:local:Command` children
named after itself, that is after the Fly app (`<app>-app`, `<app>-volume-<volume>`, `<app>-release`). The
engine gives every resource a URN whose type chain names its parents' types, and the URN of its
parent, so a command is the Fly app's when its parent is a FlyApp and its name is the FlyApp's
name with the contract's suffix. No command line is parsed to find them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pulumi_policy import ResourceValidationArgs

from service_infra.contract import FLY_APP_SUFFIX, FLY_APP_TYPE, FLY_RELEASE_SUFFIX, FLY_VOLUME_SUFFIX

from .resources import COMMAND, label, urn_name, urn_types, words
from .target import LiveTarget, Target

FlyRole = Literal["app", "volume", "release"]


def fly_role(args: ResourceValidationArgs) -> FlyRole | None:
    """Which of a FlyApp's commands this resource is, or None when it is not one."""
    if urn_types(args.urn)[-2:] != (FLY_APP_TYPE, COMMAND) or not args.opts.parent:
        return None
    service = urn_name(args.opts.parent)
    if args.name == f"{service}{FLY_APP_SUFFIX}":
        return "app"
    if args.name.startswith(f"{service}{FLY_VOLUME_SUFFIX}"):
        return "volume"
    if args.name == f"{service}{FLY_RELEASE_SUFFIX}":
        return "release"
    return None


def release_image(create: str) -> str | None:
    """The image the release command deploys: its `--image` (None when missing or empty).

    The release's argv is the one place the program states the image Fly runs.
    """
    argv = words(create)
    for index, word in enumerate(argv):
        if word == "--image":
            value = argv[index + 1] if index + 1 < len(argv) else ""
            return value or None
        if word.startswith("--image="):
            return word.partition("=")[2] or None
    return None


def fly_protected_findings(args: ResourceValidationArgs, target: Target | LiveTarget) -> Iterator[str]:
    if args.resource_type != COMMAND or not target.is_prod:
        return
    role = fly_role(args)
    if role not in ("app", "volume") or args.opts.protect:
        return  # deleting the release loses no data
    yield (
        f"{label(args.resource_type, args.name)}: the Fly {role} is not protected from deletion in prod. "
        "Set service-infra:services.<service>.fly.protect to true (its prod default), so a destroy "
        "or a rename cannot delete it and its data."
    )
