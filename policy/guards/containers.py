"""The docker Container rules: every container heals, restarts and caps its logs
(containers-healthcheck-restart-logs), never runs as root (containers-non-root), and in prod
publishes its ports only on the address the stack names (published-ports-explicit)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs

from service_infra.contract import DEFAULT_CONTAINER_USER, LOG_OPTIONS, RESTART_POLICY, root_user_problem

from .resources import CONTAINER, docker_key, docker_service, label, settings
from .target import LiveTarget, Target
from .values import UNKNOWN


def container_runtime_findings(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type != CONTAINER:
        return
    inputs = settings(args)
    name = label(args.resource_type, args.name)

    healthcheck = inputs.get("healthcheck")
    if healthcheck is not UNKNOWN:
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
    if not isinstance(ip, str):
        return False
    try:
        return ipaddress.ip_address(ip.strip("[]")).is_unspecified
    except ValueError:
        return False  # not an address: Docker refuses it, nothing is published


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
