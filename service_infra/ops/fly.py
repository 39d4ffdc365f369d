"""flyctl, as data and as the few multi-step operations the Fly app component runs.

Every flyctl invocation is built by a small pure function returning an argument list, so it
is unit-tested without running anything and never quoted by hand. The operations that need a
decision (adopt an app or volume that already exists) run as
``python3 -m service_infra.ops.fly <operation> ...``. Standard library only, and nothing from
the rest of service_infra, so any ``python3`` can run it; ``service_infra.commands.fly`` builds
the command lines of the Fly command resources. Secret values only ever travel on stdin.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence

FLY = "fly"
WAIT_TIMEOUT = "5m"


def apps_list() -> list[str]:
    return [FLY, "apps", "list", "--json"]


def apps_create(app: str, org: str) -> list[str]:
    return [FLY, "apps", "create", app, "--org", org, "--json"]


def apps_destroy(app: str) -> list[str]:
    return [FLY, "apps", "destroy", app, "--yes"]


def volumes_list(app: str) -> list[str]:
    return [FLY, "volumes", "list", "--app", app, "--json"]


def volumes_create(app: str, name: str, region: str, size_gb: int, vm_size: str, memory_mb: int) -> list[str]:
    # The machine's size places the volume on a host that can run it (flyctl's default is 256 MB).
    return [
        FLY, "volumes", "create", name, "--app", app, "--region", region, "--size", str(size_gb),
        "--vm-size", vm_size, "--vm-memory", str(memory_mb), "--yes", "--json",
    ]  # fmt: skip


# --app everywhere: without it a stray FLY_APP or ./fly.toml would pick the app.
# (app None: only for the delete command of state written before --app, which named no app.)
def volumes_show(app: str | None, volume_id: str) -> list[str]:
    return [FLY, "volumes", "show", volume_id, *_app_flag(app), "--json"]


def volumes_destroy(app: str | None, volume_id: str) -> list[str]:
    # By id: volume names are not unique on Fly.
    return [FLY, "volumes", "destroy", volume_id, *_app_flag(app), "--yes"]


def _app_flag(app: str | None) -> list[str]:
    return ["--app", app] if app else []


def secrets_import(app: str) -> list[str]:
    # NAME=VALUE lines on stdin; staged so machines restart once, at the next deploy.
    return [FLY, "secrets", "import", "--app", app, "--stage"]


def secrets_unset(app: str, names: Sequence[str]) -> list[str]:
    return [FLY, "secrets", "unset", *names, "--app", app, "--stage"]


def deploy(app: str, config_path: str, image: str) -> list[str]:
    return [
        FLY, "deploy", "--app", app, "--config", config_path, "--image", image,
        "--strategy", "rolling", "--wait-timeout", WAIT_TIMEOUT, "--yes",
    ]  # fmt: skip


# --- operations run by the command resources ------------------------------------------------


class FlyError(Exception):
    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr  # what flyctl printed on stderr, for the checks below


# "Name taken", as flyctl v0.4.87 reports it (exit 1, like any error): fly-go v0.9.5's
# IsNameTakenError reads the API's `name_taken` status code, which flyctl prints only as this
# suggestion (FlapsError.Suggestion); without any code it falls back on the API's message.
NAME_TAKEN_SUGGESTION = (
    "App names are unique across all of Fly.io, not just your organization, so this name may be held by an app "
    "you cannot see. Try a different name."
)
NAME_TAKEN_MESSAGE = "Validation failed: Name has already been taken"
_ERROR_IDS = re.compile(r"( \((Request|Trace) ID: [^)]*\))+$")


def name_taken(stderr: str) -> bool:
    """Whether `fly apps create` failed because the app name is taken (by anyone, anywhere)."""
    if NAME_TAKEN_SUGGESTION in stderr:
        return True
    errors = [line.removeprefix("Error: ") for line in stderr.splitlines() if line.startswith("Error: ")]
    # The message alone, exactly: one that merely quotes it ("retry gave up after: ...") is another failure.
    return bool(errors) and _ERROR_IDS.sub("", errors[0]) == NAME_TAKEN_MESSAGE


# flyctl's wording for what is already gone (session.go's app lookup; flaps' volume not_found).
APP_GONE = "Could not find App"
VOLUME_GONE = "not_found: volume not found"


def _run(argv: list[str], stdin: str | None = None) -> str:
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise FlyError(f"`{argv[0]}` is not on PATH: install flyctl (https://fly.io/docs/flyctl/install/)") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()
        raise FlyError(f"`{' '.join(argv[:3])}` failed: {detail}", done.stderr)
    return done.stdout


def ensure_app(app: str, org: str) -> dict[str, object]:
    """Adopt the app if this token already sees it; else create it."""
    listed = json.loads(_run(apps_list()) or "[]")
    for entry in listed:
        if entry.get("Name") == app:
            owner = (entry.get("Organization") or {}).get("Slug", "")
            if owner and owner != org:
                raise FlyError(f"Fly app {app} exists in organization {owner}, not {org}: set `fly.org: {owner}`")
            return {"app": app, "hostname": f"{app}.fly.dev", "adopted": True}
    try:
        _run(apps_create(app, org))
    except FlyError as error:
        if name_taken(error.stderr):
            raise FlyError(
                f"Fly app name {app} belongs to someone else (it is taken and not visible to this token): "
                f"choose another `fly.app`"
            ) from None
        raise
    return {"app": app, "hostname": f"{app}.fly.dev", "adopted": False}


def ensure_volume(app: str, name: str, region: str, size_gb: int, vm_size: str, memory_mb: int) -> dict[str, object]:
    """Adopt the app's volume of that name in that region, or create one: never a duplicate."""
    for volume in json.loads(_run(volumes_list(app)) or "[]"):
        if volume.get("name") == name and volume.get("region") == region and volume.get("state") != "destroyed":
            return {"id": volume["id"], "name": name, "adopted": True}
    created = json.loads(_run(volumes_create(app, name, region, size_gb, vm_size, memory_mb)))
    return {"id": created["id"], "name": name, "adopted": False}


def destroy_app(app: str) -> str:
    """Destroy the app; one already deleted outside Pulumi is not an error."""
    try:
        _run(apps_destroy(app))
    except FlyError as error:
        if APP_GONE in str(error):
            return f"Fly app {app} was already gone"
        raise
    return f"Fly app {app} destroyed"


def destroy_volume(app: str | None, volume_id: str) -> str:
    """Destroy the volume, unless a machine still holds it: then the app's own destroy removes it."""
    try:
        volume = json.loads(_run(volumes_show(app, volume_id)))
    except FlyError as error:
        if VOLUME_GONE in str(error) or APP_GONE in str(error):
            return f"volume {volume_id} of {app} was already gone"
        raise
    if volume.get("state") in ("pending_destroy", "destroying", "destroyed"):
        return f"volume {volume_id} of {app} was already gone ({volume['state']})"
    if volume.get("attached_machine_id"):
        return f"volume {volume_id} is attached to machine {volume['attached_machine_id']}; it goes with the app"
    _run(volumes_destroy(app, volume_id))
    return f"volume {volume_id} destroyed"


def release(app: str, image: str, toml: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as workdir:
        path = os.path.join(workdir, "fly.toml")
        with open(path, "w") as file:
            file.write(toml)
        _run(deploy(app, path, image))
    return {"app": app, "image": image}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m service_infra.ops.fly")
    ops = parser.add_subparsers(dest="op", required=True)
    op = ops.add_parser("ensure-app")
    op.add_argument("--app", required=True)
    op.add_argument("--org", required=True)
    op = ops.add_parser("ensure-volume")
    op.add_argument("--app", required=True)
    op.add_argument("--name", required=True)
    op.add_argument("--region", required=True)
    op.add_argument("--size", type=int, required=True)
    op.add_argument("--vm-size", required=True)
    op.add_argument("--vm-memory", type=int, required=True)
    op = ops.add_parser("delete-volume", help="destroys the volume whose id the create step printed")
    # Optional only for state written before it was passed (its stored delete command has none).
    op.add_argument("--app")
    op = ops.add_parser("delete-app", help="destroys the app; already gone is success")
    op.add_argument("--app", required=True)
    op = ops.add_parser("release", help="fly.toml on stdin")
    op.add_argument("--app", required=True)
    op.add_argument("--image", required=True)
    args = parser.parse_args(argv)
    try:
        result: object = None
        if args.op == "ensure-app":
            result = ensure_app(args.app, args.org)
        elif args.op == "ensure-volume":
            result = ensure_volume(args.app, args.name, args.region, args.size, args.vm_size, args.vm_memory)
        elif args.op == "delete-volume":
            # The command provider hands the create step's output to the delete step.
            created = json.loads(os.environ["PULUMI_COMMAND_STDOUT"])
            print(destroy_volume(args.app, str(created["id"])))
        elif args.op == "delete-app":
            print(destroy_app(args.app))
        elif args.op == "release":
            result = release(args.app, args.image, sys.stdin.read())
    except FlyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if result is not None:
        print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
