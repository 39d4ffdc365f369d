"""`python -m service_infra preview open|close|reap|list`: a preview environment per pull request.

- `open N` makes (or updates) the stack `pr-N` from the template Pulumi.preview.yaml and runs
  `pulumi up` with the policy pack; it prints the pull request's comment (the URLs), Markdown
  under a marker line the workflow finds to update the comment instead of adding one. A new
  preview takes the lowest free slot of the template's port pool, and is refused when
  `preview.max_previews` are open already.
- `close N` destroys everything the preview made and removes its stack.
- `reap [--open N,M,...] [--ttl-hours H]` closes every preview not updated within the template's
  `preview.ttl_hours`, and with `--open` every preview whose pull request is not in the list;
  it says what it removed.
- `list [--json]` the previews, their slots and ages.

The stack file Pulumi.pr-N.yaml is the template's, with `preview.pull_request` and
`preview.slot` added, and written again at every `open`: a workflow's fresh checkout has none.
It keeps the template's `encryptionsalt`, so the preview passphrase opens the template's
secrets and nothing else. The slot also lives in the stack's tags, where `open` finds the slots
other previews hold without their files or the passphrase.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from service_infra.cli.rollback import POLICY_PACK, RollbackError, run_pulumi, stack_outputs
from service_infra.contract import PROJECT, pull_request_of
from service_infra.settings import Settings, SettingsError, Tier, load_stack_file, stack_file_of
from service_infra.settings.preview import PREVIEW_TEMPLATE, preview_stack_name

TEMPLATE_FILE = stack_file_of(PREVIEW_TEMPLATE)
SLOT_TAG = f"{PROJECT}:preview-slot"
OPENED_TAG = f"{PROJECT}:preview-opened"
# The first line of a preview's pull-request comment: how the workflow finds it to update it.
COMMENT_MARKER = "<!-- service-infra preview {stack} -->"


class PreviewError(Exception):
    pass


@dataclass(frozen=True)
class Preview:
    stack: str
    pull_request: int
    slot: int | None
    last_change: datetime | None  # the last update, else when `open` made it

    def age(self, now: datetime) -> timedelta | None:
        return now - self.last_change if self.last_change else None


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def template_settings(path: Path = TEMPLATE_FILE) -> Settings:
    if not path.is_file():
        raise PreviewError(f"{path} is missing: previews are made from it (docs/delivery.md)")
    try:
        settings = load_stack_file(path)
    except SettingsError as error:
        raise PreviewError(f"{path} does not pass the settings rules:\n{error}") from None
    if settings.environment is not Tier.PREVIEW or settings.preview is None:
        raise PreviewError(f"{path}: set `{PROJECT}:environment: preview` and the `{PROJECT}:preview` section")
    return settings


def previews() -> list[Preview]:
    """Every pr-<n> stack of the backend, with its slot (a stack tag) and when it last changed.

    Listed by their tag: on a bucket, a plain `stack ls` reads every stack's state, which the
    previews' identity may not (docs/delivery.md); with a tag filter Pulumi reads only the
    stacks' tags, and skips those it may not read."""
    found: list[Preview] = []
    for entry in json.loads(run_pulumi(["stack", "ls", "--json", "--tag", SLOT_TAG]) or "[]"):
        name = str(entry.get("name", "")).rsplit("/", 1)[-1]
        number = pull_request_of(name)
        if number is None:
            continue
        tags = json.loads(run_pulumi(["stack", "tag", "ls", "--json", "--stack", name]) or "{}")
        slot = tags.get(SLOT_TAG)
        changes = [t for t in (_time(entry.get("lastUpdate")), _time(tags.get(OPENED_TAG))) if t]
        found.append(
            Preview(name, number, int(slot) if str(slot).isdigit() else None, max(changes) if changes else None)
        )
    return sorted(found, key=lambda p: p.pull_request)


def choose_slot(pull_request: int, existing: Sequence[Preview], max_previews: int) -> int:
    """The preview's own slot if it has one, else the lowest free one; refused past the limit."""
    stack = preview_stack_name(pull_request)
    own = next((p for p in existing if p.stack == stack), None)
    if own is not None and own.slot is not None and own.slot < max_previews:
        return own.slot
    others = [p for p in existing if p.stack != stack]
    if own is None and len(others) >= max_previews:
        listing = ", ".join(p.stack for p in others)
        raise PreviewError(
            f"{max_previews} previews are open already ({listing}), the most {PROJECT}:preview.max_previews in "
            f"{TEMPLATE_FILE} allows: close one (remove its pull request's `preview` label) or raise the limit"
        )
    taken = {p.slot for p in others}
    free = [slot for slot in range(max_previews) if slot not in taken]
    if not free:
        raise PreviewError(
            f"every slot of {PROJECT}:preview.ports is held ({', '.join(p.stack for p in others)}): close a preview"
        )
    return free[0]


def preview_document(template: Mapping[str, Any], pull_request: int, slot: int) -> dict[str, Any]:
    """Pulumi.pr-N.yaml: the template's document (its salt and secrets too), with the pull
    request and slot in its `preview` section."""
    document = json.loads(json.dumps(template))  # a deep copy of plain YAML data
    config = document.setdefault("config", {})
    key = f"{PROJECT}:preview"
    section = dict(config.get(key) or {})
    section.update(pull_request=pull_request, slot=slot)
    config[key] = section
    return document


def write_stack_file(pull_request: int, slot: int) -> Path:
    template = yaml.safe_load(TEMPLATE_FILE.read_text()) or {}
    path = stack_file_of(preview_stack_name(pull_request))
    header = (
        f"# Made by `python -m service_infra preview open {pull_request}` from {TEMPLATE_FILE}: never edit or commit.\n"
    )
    path.write_text(header + yaml.safe_dump(preview_document(template, pull_request, slot), sort_keys=False))
    try:
        load_stack_file(path)
    except SettingsError as error:
        raise PreviewError(f"{path} does not pass the settings rules:\n{error}") from None
    return path


def comment(stack: str, pull_request: int, outputs: Mapping[str, Any], ttl_hours: int) -> str:
    """The pull request's comment: a marker line, then each service's URL."""
    urls = outputs.get("service_urls") or {}
    rows = "\n".join(f"| {name} | {url} |" for name, url in sorted(urls.items())) or "| (none) | |"
    return (
        f"{COMMENT_MARKER.format(stack=stack)}\n"
        f"### Preview environment `{stack}` of #{pull_request}\n\n"
        f"| service | URL |\n|---|---|\n{rows}\n\n"
        f"Updated with every push while the pull request has the `preview` label; destroyed when it closes, "
        f"loses the label, or goes {ttl_hours} h without an update.\n"
    )


def open_preview(pull_request: int) -> str:
    template = template_settings()
    assert template.preview is not None
    stack = preview_stack_name(pull_request)
    existing = previews()
    slot = choose_slot(pull_request, existing, template.preview.max_previews)
    write_stack_file(pull_request, slot)
    if all(p.stack != stack for p in existing):
        run_pulumi(["stack", "init", stack])
        run_pulumi(["stack", "tag", "set", SLOT_TAG, str(slot), "--stack", stack])
        run_pulumi(["stack", "tag", "set", OPENED_TAG, datetime.now(UTC).isoformat(), "--stack", stack])
    else:
        run_pulumi(["stack", "tag", "set", SLOT_TAG, str(slot), "--stack", stack])
    run_pulumi(
        ["up", "--yes", "--non-interactive", "--skip-preview", "--stack", stack, "--policy-pack", str(POLICY_PACK)],
        capture=False,
        stdout=sys.stderr,
    )
    return comment(stack, pull_request, stack_outputs(stack), template.preview.ttl_hours)


def close_preview(pull_request: int) -> str:
    stack = preview_stack_name(pull_request)
    try:  # by its name: a stack whose `open` died before its tags were set is closed too
        run_pulumi(["stack", "tag", "ls", "--json", "--stack", stack])
    except RollbackError as error:
        if "no stack named" in str(error).lower():
            return f"{stack}: no such preview (closed already)"
        raise
    run_pulumi(
        ["destroy", "--yes", "--non-interactive", "--skip-preview", "--stack", stack], capture=False, stdout=sys.stderr
    )
    run_pulumi(["stack", "rm", "--yes", "--remove-backups", "--stack", stack])
    stack_file_of(stack).unlink(missing_ok=True)
    return f"{stack}: destroyed and removed"


def expired(
    found: Sequence[Preview], now: datetime, ttl: timedelta, open_pull_requests: set[int] | None
) -> list[tuple[Preview, str]]:
    """The previews to close, each with why."""
    chosen: list[tuple[Preview, str]] = []
    for preview in found:
        age = preview.age(now)
        if open_pull_requests is not None and preview.pull_request not in open_pull_requests:
            chosen.append((preview, f"pull request #{preview.pull_request} is closed or has no `preview` label"))
        elif age is None or age > ttl:
            hours = f"{age.total_seconds() / 3600:.1f} h" if age else "an unknown time"
            chosen.append((preview, f"not updated for {hours}, past its {ttl.total_seconds() / 3600:g} h"))
    return chosen


def _numbers(text: str) -> set[int]:
    if not re.fullmatch(r"\s*(\d+\s*(,\s*\d+\s*)*)?", text):
        raise argparse.ArgumentTypeError(f"--open takes pull request numbers like 12,57; got {text!r}")
    return {int(n) for n in re.findall(r"\d+", text)}


def _pull_request(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a pull request number (1 or more), got {text!r}")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service_infra preview", description="A preview environment per pull request."
    )
    commands = parser.add_subparsers(dest="action", required=True)
    opening = commands.add_parser("open", help="make or update pr-N and deploy it")
    opening.add_argument("pull_request", type=_pull_request)
    opening.add_argument("--comment", type=Path, metavar="FILE", help="write the comment here (default: stdout)")
    commands.add_parser("close", help="destroy pr-N, remove its stack").add_argument("pull_request", type=_pull_request)
    reap = commands.add_parser("reap", help="close expired previews, and those of closed pull requests")
    reap.add_argument("--open", type=_numbers, metavar="N,M", help="the open pull requests with the preview label")
    reap.add_argument("--ttl-hours", type=float, help="override the template's preview.ttl_hours")
    listing = commands.add_parser("list", help="the previews, their slots and ages")
    listing.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.action == "open":
            text = open_preview(args.pull_request)
            if args.comment:
                args.comment.write_text(text)
            else:
                print(text, end="")
        elif args.action == "close":
            print(close_preview(args.pull_request))
        elif args.action == "reap":
            template = template_settings()
            assert template.preview is not None
            hours = args.ttl_hours if args.ttl_hours is not None else template.preview.ttl_hours
            ttl = timedelta(hours=hours)
            chosen = expired(previews(), datetime.now(UTC), ttl, args.open)
            for preview, why in chosen:
                print(f"{close_preview(preview.pull_request)}: {why}")
            print(f"reaped {len(chosen)} preview(s)")
        else:
            found = previews()
            now = datetime.now(UTC)
            if args.json:
                rows = [
                    {"stack": p.stack, "pull_request": p.pull_request, "slot": p.slot, "age_hours": _hours(p, now)}
                    for p in found
                ]
                print(json.dumps(rows, indent=2))
            else:
                for p in found:
                    print(f"{p.stack:<12} slot {p.slot if p.slot is not None else '?':<3} {_hours(p, now)} h")
    except (PreviewError, RollbackError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _hours(preview: Preview, now: datetime) -> float | None:
    age = preview.age(now)
    return round(age.total_seconds() / 3600, 1) if age else None


if __name__ == "__main__":
    sys.exit(main())
