"""`python -m service_infra history --stack S [--service N] [--json]`: each release, newest first.

A release is an update that ran a service with another tag (or digest) than the update before
it. Each row: the update's number and time, who ran it (the CI run's URL when CI ran it, else
the git author Pulumi recorded, else "not recorded": a file or S3 backend keeps no user), the
tag and digest, and what became of it:

  live       the newest successful release: what runs now
  replaced   a successful release a later one took over from
  failed     the update failed and the running version kept serving (a failed rollout never
             takes the running one down)
  rollback   made by `rollback` (its update's message says so); "live, rollback" when it runs now

Read-only; reads `pulumi stack history` and the stack's `releases` output, as `rollback --list`
does, so it needs what that needs (the backend; no secret is read).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from service_infra.boundary import Progress
from service_infra.cli.rollback import (
    RollbackError,
    pinned_digest,
    recorded_digests,
    run_pulumi,
    service_tag,
    services_config,
    stack_outputs,
)
from service_infra.cli.text import fit, short_digest, short_time


@dataclass(frozen=True)
class Release:
    update: int | None
    started: str
    by: str
    service: str
    tag: str
    digest: str | None
    outcome: str


def ran_by(environment: Mapping[str, Any]) -> str:
    """Who ran an update, from what the Pulumi CLI recorded in its environment."""
    if environment.get("ci.build.url"):
        return str(environment["ci.build.url"])
    if environment.get("git.author"):
        return str(environment["git.author"])
    return "not recorded"


def releases(
    history: Sequence[Mapping[str, Any]], digests: Mapping[str, Mapping[str, str]], only: str | None = None
) -> list[Release]:
    """Every release in the history, newest first. DIGESTS: per service, tag -> digest recorded
    in the stack's `releases` output (for updates whose config pinned none)."""
    entries = sorted((e for e in history if e.get("kind") == "update"), key=lambda e: str(e.get("startTime", "")))
    found: list[Release] = []
    running: dict[str, tuple[str, str | None]] = {}  # service -> what the last good update ran
    for entry in entries:
        config = entry.get("config") or {}
        result, message = str(entry.get("result", "")), str(entry.get("message") or "")
        for service in sorted(services_config(config)) if only is None else [only]:
            tag = service_tag(config, service)
            if tag is None:
                continue
            digest = pinned_digest(config, service) or (digests.get(service) or {}).get(tag)
            if running.get(service) == (tag, digest) and result == "succeeded":
                continue  # no release: the same bits as before
            outcome = "failed" if result == "failed" else result
            if result == "succeeded":
                outcome = "rollback" if message.startswith(f"rollback {service} to ") else "replaced"
                running[service] = (tag, digest)
            elif running.get(service) == (tag, digest):
                continue  # a failed update that did not change this service
            version = entry.get("version")
            found.append(
                Release(
                    version if isinstance(version, int) else None,
                    str(entry.get("startTime", "")),
                    ran_by(entry.get("environment") or {}),
                    service,
                    tag,
                    digest,
                    outcome,
                )
            )
    # The newest successful release of each service is what runs now.
    newest = {r.service: i for i, r in enumerate(found) if r.outcome in {"replaced", "rollback"}}
    for index in newest.values():
        found[index] = replace(found[index], outcome="live" if found[index].outcome == "replaced" else "live, rollback")
    # Newest first; within one update, by service (a stable sort keeps that order).
    return sorted(found, key=lambda r: (r.started, r.update or 0), reverse=True)


def stack_releases(
    history: Sequence[Mapping[str, Any]], outputs: Mapping[str, Any], only: str | None = None
) -> list[Release]:
    """`releases` of a stack, with the digests its `releases` output recorded."""
    services = {name for entry in history for name in services_config(entry.get("config") or {})}
    return releases(history, {name: recorded_digests(outputs, name) for name in services}, only)


def render(rows: Sequence[Release]) -> str:
    """A table of 100 columns: a release on two lines, its digest and who ran it (a CI run's URL
    is long) on the second."""
    service_width = max([len("service"), *(len(r.service) for r in rows)])
    lines = [f"{'#':>4}  {'started':<19}  {'outcome':<14}  {'service':<{service_width}}  tag"]
    for r in rows:
        lines.append(
            f"{r.update or '-':>4}  {short_time(r.started):<19}  {r.outcome:<14}  {r.service:<{service_width}}  {r.tag}"
        )
        lines.append(f"{'':>4}  {short_digest(r.digest)}  by {r.by}")
    return "\n".join(fit(line) for line in lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service_infra history", description="each release, newest first")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--service", help="only this service's releases")
    parser.add_argument("--json", action="store_true", help="a JSON list (docs/operations.md)")
    args = parser.parse_args(argv)
    progress = Progress(f"history {args.stack}")
    progress.phase("reading the stack's updates and releases")
    try:
        history = json.loads(run_pulumi(["stack", "history", "--json", "--stack", args.stack]) or "[]")
        outputs = stack_outputs(args.stack)
    except RollbackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows = stack_releases(history, outputs, args.service)
    print(json.dumps([asdict(r) for r in rows], indent=2) if args.json else render(rows))
    return 0
