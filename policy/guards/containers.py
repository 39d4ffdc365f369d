"""The docker Container rules: every container heals, restarts and caps its logs
(containers-healthcheck-restart-logs), an app version goes live only through an activation that
probes its health (app-versions-health-gated), never runs as root (containers-non-root), and in
prod publishes its ports only on the address the stack names (published-ports-explicit)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from service_infra.contract import (
    DEFAULT_CONTAINER_USER,
    LABEL_VERSION,
    LOG_OPTIONS,
    RESTART_POLICY,
    every_interface,
    root_user_problem,
)

from .resources import COMMAND, CONTAINER, docker_key, docker_labels, docker_service, label, settings, words
from .target import LiveTarget, Target
from .values import UNKNOWN


def container_runtime_findings(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type != CONTAINER:
        return
    inputs = settings(args)
    name = label(args.resource_type, args.name)

    healthcheck = inputs.get("healthcheck")
    # An app version's health is judged by its activation, from the proxy (app-versions-health-gated).
    if healthcheck is not UNKNOWN and _app_version(inputs) is None:
        tests = healthcheck.get("tests") if isinstance(healthcheck, dict) else None
        if tests is not UNKNOWN:
            if not isinstance(tests, list) or not tests:
                yield (
                    f"{name}: no healthcheck. Give the container a healthcheck with a test command "
                    "(healthcheck.tests, e.g. ['CMD', 'curl', '-fsS', 'http://127.0.0.1:<port>/health'])."
                )
            elif tests[0] == "NONE":
                yield f"{name}: the healthcheck is disabled (tests ['NONE']). Give it a real test command."

    restart = inputs.get("restart")
    if restart is not UNKNOWN and restart != RESTART_POLICY:
        shown = "unset" if restart is None else f"'{restart}'"
        yield f"{name}: restart policy is {shown}. Set restart='{RESTART_POLICY}'."

    log_opts = inputs.get("logOpts")
    if log_opts is not UNKNOWN:
        opts = log_opts if isinstance(log_opts, dict) else {}
        missing = [key for key in LOG_OPTIONS if opts.get(key) in (None, "")]
        if missing:
            yield f"{name}: logs are not capped (log_opts lacks {', '.join(missing)}). Set log_opts={LOG_OPTIONS!r}."


def _app_version(inputs: dict[str, Any]) -> str | None:
    labels = docker_labels(inputs)
    return str(labels[LABEL_VERSION]) if LABEL_VERSION in labels else None


def _activated_containers(args: StackValidationArgs) -> set[str] | None:
    """The containers an activation command puts live after probing their health URL (None when a
    command line is not known yet)."""
    found: set[str] = set()
    for resource in args.resources:
        if resource.resource_type != COMMAND:
            continue
        create = settings(resource).get("create")
        if create is UNKNOWN:
            return None
        argv = words(create) if isinstance(create, str) else []
        if "service_infra.ops.rollout" in argv and "activate" in argv and "--health-path" in argv:
            at = argv.index("--container") + 1 if "--container" in argv else len(argv)
            found.update(argv[at : at + 1])
    return found


def app_version_gate_findings(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    """Every app version container goes live only through an activation that probes its health."""
    activated = _activated_containers(args)
    if activated is None:
        return
    for resource in args.resources:
        if resource.resource_type != CONTAINER:
            continue
        inputs = settings(resource)
        name = inputs.get("name")
        if _app_version(inputs) is None or not isinstance(name, str) or name in activated:
            continue
        yield (
            f"{label(resource.resource_type, resource.name)}: an app version with no activation that probes "
            "its health before it goes live. Declare it through DockerService, which pairs each version "
            "with its activation.",
            resource.urn,
        )


def container_user_findings(args: ResourceValidationArgs) -> Iterator[str]:
    """The container's user is not root in any spelling Docker accepts (the settings' own rule)."""
    if args.resource_type != CONTAINER:
        return
    inputs = settings(args)
    user = inputs.get("user")
    if user is UNKNOWN:
        return
    # No user at all runs the image's user, as an empty user part does.
    problem = root_user_problem(user if isinstance(user, str) else "")
    if problem:
        key = docker_key(docker_service(args, inputs), "user")
        yield (
            f"{label(args.resource_type, args.name)}: the container would run as root ({problem}). "
            f"Set {key} to a non-root uid:gid, e.g. '{DEFAULT_CONTAINER_USER}'."
        )


def _every_interface(ip: Any) -> bool:
    """Whether a port binding's `ip` publishes on every interface: absent, empty, 0.0.0.0 or ::."""
    if ip is None or ip == "":
        return True
    return isinstance(ip, str) and every_interface(ip)


def published_port_findings(args: ResourceValidationArgs, target: Target | LiveTarget) -> Iterator[str]:
    """In prod, a published port binds the address the stack chose, never every interface."""
    if args.resource_type != CONTAINER or not target.is_prod:
        return
    inputs = settings(args)
    ports = inputs.get("ports")
    if not isinstance(ports, list):
        return  # none published, or not known yet
    for port in ports:
        if not isinstance(port, dict) or port.get("ip") is UNKNOWN:
            continue
        if _every_interface(port.get("ip")):
            key = docker_key(docker_service(args, inputs), "bind")
            external = port.get("external")
            shown = f"port {int(external)}" if isinstance(external, int | float) else "a port"
            yield (
                f"{label(args.resource_type, args.name)}: {shown} is published on every interface. "
                f"Prod publishes only where you say: set {key} to the address clients use "
                "(e.g. the Mac Mini's Tailscale or LAN address, or 127.0.0.1 behind a tunnel)."
            )
