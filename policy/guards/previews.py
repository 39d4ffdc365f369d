"""The rules for a pull request's preview (a `pr-<n>` stack, or one configured as `preview`: see
target): whatever it makes expires, keeps no data past its close, and runs on Fly's smallest
machine.

The program does all three by itself for a stack `python -m service_infra preview open <n>` made:
settings.stack.preview_instance labels every container, network and volume with the preview and
its time to live, and the settings refuse `retain_volumes`, `fly.protect` and any Fly machine but
the smallest. A preview runs its branch's code, though, so the pack checks what that code
declares, not the settings: the labels on each Docker resource, the `protect` of each volume and
Fly command (the engine hands a pack `protect` but not `retainOnDelete`: see volumes), the Fly
volume command's `delete`, and the VM the Fly release's fly.toml (its stdin) asks for.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs

from service_infra.contract import (
    LABEL_PREVIEW,
    LABEL_PREVIEW_TTL_HOURS,
    PREVIEW_MEMORY_MB,
    PREVIEW_VM_SIZE,
    PROJECT,
    pull_request_of,
)

from .fly import fly_role
from .resources import (
    COMMAND,
    CONTAINER,
    DOCKER_NETWORK,
    DOCKER_VOLUME,
    docker_key,
    docker_labels,
    docker_service,
    label,
    settings,
    words,
)
from .target import LiveTarget, Target
from .values import UNKNOWN

# What a preview makes on a Docker host: each carries the preview's labels.
PREVIEW_DOCKER_TYPES = (CONTAINER, DOCKER_NETWORK, DOCKER_VOLUME)
PREVIEW_KEY = f"{PROJECT}:preview"
FLY_KEY = f"{PROJECT}:services.<service>.fly"
_HOURS = re.compile(r"^[0-9]+$")
# fly.toml's [[vm]] memory: a number of megabytes, or a size with a unit ("256mb", "1gb").
_MEMORY = re.compile(r"^\s*([0-9]+)\s*(mb|gb)?\s*$", re.IGNORECASE)


def _kind(resource_type: str) -> str:
    """`docker:index/network:Network` -> `Docker network`."""
    return f"Docker {resource_type.rsplit(':', 1)[-1].lower()}"


def _label_problems(labels: dict[str, Any], stack: str | None) -> Iterator[str]:
    """What is wrong with a Docker resource's preview labels (nothing for a value not known yet)."""
    preview = labels.get(LABEL_PREVIEW)
    if preview is None:
        yield f"lacks the label {LABEL_PREVIEW} (the preview's stack, pr-<n>)"
    elif preview is not UNKNOWN:
        pull_request = pull_request_of(preview) if isinstance(preview, str) else None
        if pull_request is None:
            yield f"has {LABEL_PREVIEW}={preview!r}, not a preview's stack name (pr-<n>)"
        elif pull_request_of(stack) not in (None, pull_request):
            yield f"has {LABEL_PREVIEW}={preview!r}, another preview's than this stack's ({stack})"
    ttl = labels.get(LABEL_PREVIEW_TTL_HOURS)
    if ttl is None:
        yield f"lacks the label {LABEL_PREVIEW_TTL_HOURS} (its time to live, in hours)"
    elif ttl is not UNKNOWN and not (isinstance(ttl, str) and _HOURS.match(ttl) and int(ttl) > 0):
        yield f"has {LABEL_PREVIEW_TTL_HOURS}={ttl!r}, not a positive whole number of hours"


def preview_expiry_findings(args: ResourceValidationArgs, target: Target | LiveTarget) -> Iterator[str]:
    """preview-resources-expire: every container, network and volume of a preview names the
    preview and its time to live."""
    if args.resource_type not in PREVIEW_DOCKER_TYPES or not target.is_preview:
        return
    inputs = settings(args)
    if inputs.get("labels") is UNKNOWN:
        return
    problems = list(_label_problems(docker_labels(inputs), target.stack))
    if problems:
        yield (
            f"{label(args.resource_type, args.name)}: the preview's {_kind(args.resource_type)} "
            f"{'; it '.join(problems)}. The program labels every container, network and volume of a "
            f"preview from {PREVIEW_KEY}.pull_request and {PREVIEW_KEY}.ttl_hours, which "
            "`python -m service_infra preview open <n>` writes into Pulumi.pr-<n>.yaml: make the stack "
            "with it, and keep the program's labels (a stack made by hand must not drop them)."
        )


def preview_retained_data_findings(args: ResourceValidationArgs, target: Target | LiveTarget) -> Iterator[str]:
    """preview-no-retained-data: closing a preview deletes its data, on the Docker host and on Fly."""
    if not target.is_preview:
        return
    name = label(args.resource_type, args.name)
    if args.resource_type == DOCKER_VOLUME:
        if args.opts.protect:
            key = docker_key(docker_service(args, settings(args)), "volumes")
            yield (
                f"{name}: the preview's Docker volume is protected, so closing the preview cannot delete "
                f"it and its data outlives the pull request. DockerService protects the volumes of "
                f"{key} in prod only: set {PROJECT}:environment to preview (and leave "
                f"{docker_key('<service>', 'retain_volumes')} unset)."
            )
        return
    role = fly_role(args) if args.resource_type == COMMAND else None
    if role in ("app", "volume") and args.opts.protect:
        yield (
            f"{name}: the preview's Fly {role} is protected, so closing the preview cannot delete it "
            f"and its data. Remove {FLY_KEY}.protect: a preview may not set it."
        )
    if role == "volume":
        delete = settings(args).get("delete")
        if delete is not UNKNOWN and not (isinstance(delete, str) and "delete-volume" in words(delete)):
            yield (
                f"{name}: the preview's Fly volume has no delete-volume command, so closing the preview "
                "leaves the volume and its data on Fly. The FlyApp component declares one for every "
                f"volume of {FLY_KEY}.volumes; keep it."
            )


def _megabytes(value: Any) -> int | None:
    """fly.toml's memory in MB (an integer is megabytes), or None when it is no size."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _MEMORY.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    return int(match.group(1)) * (1024 if (match.group(2) or "").lower() == "gb" else 1)


def _machine_problems(fly_toml: str) -> Iterator[str]:
    """How the VM a release's fly.toml asks for differs from Fly's smallest machine."""
    try:
        config = tomllib.loads(fly_toml)
    except tomllib.TOMLDecodeError:
        yield "its fly.toml (stdin) is not TOML, so its machine cannot be read"
        return
    vms = config.get("vm")
    vms = [vms] if isinstance(vms, dict) else vms
    if not isinstance(vms, list) or not vms:
        yield "its fly.toml states no [[vm]], which leaves the machine to Fly"
        return
    for vm in vms:
        vm = vm if isinstance(vm, dict) else {}
        if vm.get("size") != PREVIEW_VM_SIZE:
            yield f"its VM size is {vm.get('size')!r}"
        memory = [_megabytes(vm[key]) for key in ("memory", "memory_mb") if key in vm]
        if not memory:
            yield "it states no memory"
        elif any(mb != PREVIEW_MEMORY_MB for mb in memory):
            shown = ", ".join(repr(vm[key]) for key in ("memory", "memory_mb") if key in vm)
            yield f"its memory is {shown}"
        for key, smallest in (("cpus", 1), ("cpu_kind", "shared")):
            if key in vm and vm[key] != smallest:
                yield f"its {key} is {vm[key]!r}"


def preview_machine_findings(args: ResourceValidationArgs, target: Target | LiveTarget) -> Iterator[str]:
    """preview-smallest-machine: the Fly release of a preview runs on shared-cpu-1x with 256 MB,
    as the fly.toml the release command deploys (its stdin) states it."""
    if args.resource_type != COMMAND or not target.is_preview or fly_role(args) != "release":
        return
    fly_toml = settings(args).get("stdin")
    if fly_toml is UNKNOWN:
        return
    problems = list(_machine_problems(fly_toml)) if isinstance(fly_toml, str) else ["it has no fly.toml (stdin)"]
    if problems:
        yield (
            f"{label(args.resource_type, args.name)}: the preview's Fly release is not on Fly's smallest "
            f"machine: {'; '.join(problems)}. A preview runs on {PREVIEW_VM_SIZE} with {PREVIEW_MEMORY_MB} MB: "
            f"set {FLY_KEY}.vm_size to {PREVIEW_VM_SIZE} and {FLY_KEY}.memory_mb to {PREVIEW_MEMORY_MB}."
        )
