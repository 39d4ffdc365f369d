"""containers-healthcheck-restart-logs: every container heals, restarts and caps its logs."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs

from service_infra.contract import LOG_OPTIONS, RESTART_POLICY

from .resources import CONTAINER, label, props
from .values import UNKNOWN


def container_runtime_findings(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type != CONTAINER:
        return
    inputs = props(args)
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
