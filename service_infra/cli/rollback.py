"""Roll a service back to its previous known-good tag, found in the stack's own update history.

Every `pulumi up` records the configuration it ran with, and whether it succeeded; an update
succeeds only when every rollout passed its health gate. So the previous known-good tag of a
service is its tag in the newest successful update that ran a tag other than the one configured
now: after a failed rollout, the version still running; after a good rollout, the one before.

    python -m service_infra rollback --stack prod --service llm-server [--dry-run]

sets `services.<service>.tag` in Pulumi.<stack>.yaml to that tag and runs `pulumi up` (a normal
rollout: the proxy switches with no failed request). Commit the changed stack file, or the next
deploy from git rolls forward again. Reads no secret: history entries carry secret config as
`{"secret": true}` only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service_infra.contract import PROJECT

SERVICES_KEY = f"{PROJECT}:services"


class RollbackError(Exception):
    pass


@dataclass(frozen=True)
class Update:
    started: str
    result: str
    tag: str | None


def service_tag(config: Mapping[str, Any], service: str) -> str | None:
    """The service's tag in one history entry's config (None if the service was not there)."""
    entry = config.get(SERVICES_KEY) or {}
    services = entry.get("objectValue")
    if services is None and isinstance(entry.get("value"), str):
        try:
            services = json.loads(entry["value"])
        except ValueError:
            services = None
    if not isinstance(services, dict):
        return None
    tag = (services.get(service) or {}).get("tag")
    return tag if isinstance(tag, str) and tag else None


def updates(history: Sequence[Mapping[str, Any]], service: str) -> list[Update]:
    """The stack's updates, newest first, with the service's tag in each."""
    found = [
        Update(
            str(entry.get("startTime", "")),
            str(entry.get("result", "")),
            service_tag(entry.get("config") or {}, service),
        )
        for entry in history
        if entry.get("kind") == "update"
    ]
    return sorted(found, key=lambda u: u.started, reverse=True)


def rollback_target(history: Sequence[Mapping[str, Any]], service: str, current_tag: str) -> Update:
    for update in updates(history, service):
        if update.result == "succeeded" and update.tag and update.tag != current_tag:
            return update
    raise RollbackError(
        f"no earlier successful update of this stack ran {service} with a tag other than {current_tag}: "
        f"nothing to roll back to (see `pulumi stack history`)"
    )


def _pulumi(args: list[str], capture: bool = True) -> str:
    try:
        done = subprocess.run(["pulumi", *args], capture_output=capture, text=True, check=False)
    except FileNotFoundError:
        raise RollbackError("`pulumi` is not on PATH: run scripts/rollback.sh, which installs it") from None
    if done.returncode != 0:
        detail = (done.stderr or "").strip() if capture else f"exit {done.returncode}"
        raise RollbackError(f"`pulumi {' '.join(args[:3])}` failed: {detail}")
    return done.stdout or ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service_infra rollback", description="Roll a service back to its previous known-good tag."
    )
    parser.add_argument("--stack", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--dry-run", action="store_true", help="only say which tag it would roll back to")
    args = parser.parse_args(argv)
    try:
        history = json.loads(_pulumi(["stack", "history", "--json", "--stack", args.stack]) or "[]")
        key = f"services.{args.service}.tag"
        current = _pulumi(["config", "get", "--path", key, "--stack", args.stack]).strip()
        target = rollback_target(history, args.service, current)
        print(
            f"{args.service} in {args.stack}: {current} -> {target.tag} (last ran successfully in the update of {target.started})"
        )
        if args.dry_run:
            return 0
        assert target.tag is not None
        _pulumi(["config", "set", "--path", key, target.tag, "--stack", args.stack])
        _pulumi(
            [
                "up",
                "--yes",
                "--non-interactive",
                "--stack",
                args.stack,
                "--message",
                f"rollback {args.service} to {target.tag}",
            ],
            capture=False,
        )
    except RollbackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"rolled back: commit Pulumi.{args.stack}.yaml ({key} = {target.tag}) so the next deploy keeps it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
