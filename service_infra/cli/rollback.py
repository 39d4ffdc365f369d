"""Roll a service back to its previous known-good tag, found in the stack's own update history.

Every `pulumi up` records the configuration it ran with, and whether it succeeded; an update
succeeds only when every rollout passed its health gate. So the previous known-good tag of a
service is its tag in the newest successful update that ran a tag other than the one configured
now: after a failed rollout, the version still running; after a good rollout, the one before.

    python -m service_infra rollback --stack prod --service llm-server [--dry-run]
    python -m service_infra rollback --stack prod --service llm-server --list | --to N

sets `services.<service>.tag` in Pulumi.<stack>.yaml to that tag and runs `pulumi up` with the
policy pack (a normal rollout: the proxy switches with no failed request). A rollback changes the
tag and nothing else: when any other config differs from the stack's last update, it refuses and
names the keys, so it never ships an unreviewed edit under the name of a rollback. Commit the
changed stack file, or the next deploy from git rolls forward again. Reads no secret: history
entries and `pulumi config --json` carry secret config as `{"secret": true}` only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from service_infra.contract import IMAGE_DIGEST, PROJECT, RELEASES_OUTPUT

SERVICES_KEY = f"{PROJECT}:services"
STACK_TYPE = "pulumi:pulumi:Stack"
# The policy pack every `pulumi up` of this project runs with (the repository's policy/ folder).
POLICY_PACK = Path(__file__).resolve().parents[2] / "policy"


class RollbackError(Exception):
    pass


@dataclass(frozen=True)
class Update:
    started: str
    result: str
    tag: str | None
    # The image digest the update ran, when known (pinned in its config, or in the stack's releases).
    digest: str | None = None


def config_value(entry: Mapping[str, Any]) -> Any:
    """One config entry as `pulumi config --json` and the history print it, as a plain value
    (an object's value, parsed)."""
    if entry.get("objectValue") is not None:
        return entry["objectValue"]
    value = entry.get("value")
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def services_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The `services` map of one history entry's config (or of `pulumi config --json`)."""
    services = config_value(config.get(SERVICES_KEY) or {})
    return services if isinstance(services, dict) else {}


def _service_config(config: Mapping[str, Any], service: str) -> Mapping[str, Any]:
    found = services_config(config).get(service)
    return found if isinstance(found, dict) else {}


def service_tag(config: Mapping[str, Any], service: str) -> str | None:
    """The service's tag in one history entry's config (None if the service was not there)."""
    tag = _service_config(config, service).get("tag")
    return tag if isinstance(tag, str) and tag else None


def pinned_digest(config: Mapping[str, Any], service: str) -> str | None:
    """The digest a history entry's config pinned for its tag (`release_digests`, by rollback)."""
    settings = _service_config(config, service)
    digest = (settings.get("release_digests") or {}).get(settings.get("tag"))
    return digest if isinstance(digest, str) and IMAGE_DIGEST.match(digest) else None


def recorded_digests(outputs: Mapping[str, Any], service: str) -> dict[str, str]:
    """Tag -> digest of the service's releases in the stack's `releases` output, the newest per tag."""
    found: dict[str, str] = {}
    for release in (outputs.get(RELEASES_OUTPUT) or {}).get(service) or []:
        tag, digest = release.get("tag"), release.get("digest")
        if isinstance(tag, str) and isinstance(digest, str) and IMAGE_DIGEST.match(digest):
            found.setdefault(tag, digest)
    return found


def updates(
    history: Sequence[Mapping[str, Any]], service: str, digests: Mapping[str, str] | None = None
) -> list[Update]:
    """The stack's updates, newest first, with the service's tag in each, and its digest where
    the update's config pinned one or the stack's releases (`digests`, tag -> digest) record it."""
    found = []
    for entry in history:
        if entry.get("kind") != "update":
            continue
        config = entry.get("config") or {}
        tag = service_tag(config, service)
        digest = pinned_digest(config, service) or (digests or {}).get(tag or "")
        found.append(Update(str(entry.get("startTime", "")), str(entry.get("result", "")), tag, digest))
    return sorted(found, key=lambda u: u.started, reverse=True)


def rollback_target(
    history: Sequence[Mapping[str, Any]], service: str, current_tag: str, digests: Mapping[str, str] | None = None
) -> Update:
    for update in updates(history, service, digests):
        if update.result == "succeeded" and update.tag and update.tag != current_tag:
            return update
    raise RollbackError(
        f"no earlier successful update of this stack ran {service} with a tag other than {current_tag}: "
        f"nothing to roll back to (see `pulumi stack history`)"
    )


def releases(
    history: Sequence[Mapping[str, Any]], service: str, digests: Mapping[str, str] | None = None
) -> list[Update]:
    """Every update that ran the service, newest first: what `--list` numbers and `--to N` picks."""
    return [update for update in updates(history, service, digests) if update.tag]


def release_listing(found: Sequence[Update]) -> str:
    lines = [f"{'#':>3}  {'started':<24}  {'result':<10}  {'tag':<20}  digest"]
    lines += [
        f"{n:>3}  {u.started:<24}  {u.result:<10}  {u.tag or '':<20}  {u.digest or '-'}"
        for n, u in enumerate(found, start=1)
    ]
    return "\n".join(lines)


def chosen_release(found: Sequence[Update], number: int, current_tag: str) -> Update:
    """Release `number` of the listing, if it can be rolled back to."""
    if not 1 <= number <= len(found):
        raise RollbackError(f"there is no release {number}: `--list` numbers them 1 to {len(found)}")
    release = found[number - 1]
    if release.result != "succeeded":
        raise RollbackError(
            f"release {number} ({release.tag}, {release.started}) did not succeed ({release.result}): "
            "pick one that did from `--list`"
        )
    if release.tag == current_tag:
        raise RollbackError(f"release {number} runs {release.tag}, which is the tag configured now: nothing to do")
    return release


def _comparable(entry: Mapping[str, Any]) -> Any:
    """A config entry's plain value; a secret is only known to be there."""
    return "[secret]" if entry.get("secret") else config_value(entry)


def _differences(old: Any, new: Any, path: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            d
            for key in sorted(old.keys() | new.keys())
            for d in _differences(old.get(key), new.get(key), f"{path}.{key}")
        ]
    return [] if old == new else [path]


def config_drift(last: Mapping[str, Any], current: Mapping[str, Any], service: str) -> list[str]:
    """The config keys that differ between the stack's last update and now, but the service's tag
    and its pinned digests (what a rollback sets)."""
    tag_key = f"{SERVICES_KEY}.{service}.tag"
    pins = f"{SERVICES_KEY}.{service}.release_digests"
    drift = []
    for key in sorted(last.keys() | current.keys()):
        old = _comparable(last[key]) if key in last else None
        new = _comparable(current[key]) if key in current else None
        drift += [
            path
            for path in _differences(old, new, key)
            if path != tag_key and path != pins and not path.startswith(f"{pins}.")
        ]
    return drift


def last_update_config(history: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    updates = sorted((e for e in history if e.get("kind") == "update"), key=lambda e: str(e.get("startTime", "")))
    if not updates:
        raise RollbackError("the stack has no update in its history: nothing to roll back")
    return updates[-1].get("config") or {}


def run_pulumi(args: list[str], capture: bool = True, stdout: TextIO | None = None) -> str:
    """Pulumi's stdout, or with CAPTURE false its output shown (on STDOUT, by default ours)."""
    try:
        if capture:
            done = subprocess.run(["pulumi", *args], capture_output=True, text=True, check=False)
        else:
            done = subprocess.run(["pulumi", *args], stdout=stdout, text=True, check=False)
    except FileNotFoundError:
        raise RollbackError(
            "`pulumi` is not on PATH: run the command through its script in scripts/, which installs it"
        ) from None
    if done.returncode != 0:
        detail = (done.stderr or "").strip() if capture else f"exit {done.returncode}"
        raise RollbackError(f"`pulumi {' '.join(args[:3])}` failed: {detail}")
    return done.stdout or ""


def deployment_outputs(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """The outputs of the stack's last update, from its exported state (no decryption: a secret
    output stays an encrypted value)."""
    for resource in deployment.get("resources") or []:
        if resource.get("type") == STACK_TYPE:
            return dict(resource.get("outputs") or {})
    return {}


def stack_outputs(stack: str) -> dict[str, Any]:
    """The stack's outputs, from `pulumi stack export`: it needs the backend but no passphrase."""
    exported = json.loads(run_pulumi(["stack", "export", "--stack", stack]) or "{}")
    return deployment_outputs(exported.get("deployment") or {})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service_infra rollback", description="Roll a service back to its previous known-good tag."
    )
    parser.add_argument("--stack", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--dry-run", action="store_true", help="only say which tag it would roll back to")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--list", action="store_true", help="list the service's releases, numbered, newest first")
    choice.add_argument(
        "--to", type=int, metavar="N", help="roll back to release N of --list (default: the previous good)"
    )
    args = parser.parse_args(argv)
    try:
        history = json.loads(run_pulumi(["stack", "history", "--json", "--stack", args.stack]) or "[]")
        outputs = stack_outputs(args.stack)
        digests = recorded_digests(outputs, args.service)
        if args.list:
            print(release_listing(releases(history, args.service, digests)))
            return 0
        key = f"services.{args.service}.tag"
        current = run_pulumi(["config", "get", "--path", key, "--stack", args.stack]).strip()
        target = (
            chosen_release(releases(history, args.service, digests), args.to, current)
            if args.to is not None
            else rollback_target(history, args.service, current, digests)
        )
        drift = config_drift(
            last_update_config(history),
            json.loads(run_pulumi(["config", "--json", "--stack", args.stack]) or "{}"),
            args.service,
        )
        if drift:
            raise RollbackError(
                f"the config of {args.stack} differs from its last update in {', '.join(drift)}: a rollback "
                f"changes {key} only. Deploy or revert those changes first (`git diff Pulumi.{args.stack}.yaml`)"
            )
        if not (POLICY_PACK / "PulumiPolicy.yaml").is_file():
            raise RollbackError(f"the policy pack is missing at {POLICY_PACK}: a rollback runs with it, as every up")
        pinned = f" ({target.digest})" if target.digest else " (no recorded digest: the tag as the registry has it now)"
        print(
            f"{args.service} in {args.stack}: {current} -> {target.tag}{pinned} "
            f"(last ran successfully in the update of {target.started})"
        )
        if args.dry_run:
            return 0
        assert target.tag is not None
        if target.digest:
            # The bits the release ran, even if the tag was pushed again since.
            pin = f"services.{args.service}.release_digests[{json.dumps(target.tag)}]"
            run_pulumi(["config", "set", "--path", pin, target.digest, "--stack", args.stack])
        run_pulumi(["config", "set", "--path", key, target.tag, "--stack", args.stack])
        run_pulumi(
            [
                "up",
                "--yes",
                "--non-interactive",
                "--stack",
                args.stack,
                "--message",
                f"rollback {args.service} to {target.tag}",
                "--policy-pack",
                str(POLICY_PACK),
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
