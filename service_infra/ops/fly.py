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
import tomllib
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


def volumes_extend(app: str, volume_id: str, size_gb: int) -> list[str]:
    return [FLY, "volumes", "extend", volume_id, "--app", app, "--size", str(size_gb), "--yes", "--json"]


def _app_flag(app: str | None) -> list[str]:
    return ["--app", app] if app else []


def secrets_import(app: str) -> list[str]:
    # NAME=VALUE lines on stdin; staged so machines restart once, at the next deploy.
    return [FLY, "secrets", "import", "--app", app, "--stage"]


def secrets_unset(app: str, names: Sequence[str]) -> list[str]:
    return [FLY, "secrets", "unset", *names, "--app", app, "--stage"]


def deploy(app: str, config_path: str, image: str, local_image: bool = False) -> list[str]:
    # --local-only: flyctl v0.4.87 then finds --image in the local Docker engine and pushes it to
    # Fly's registry as registry.fly.io/<app>:<label> (imgsrc/local_image_resolver.go), with the
    # Fly token; the tag is the label, so Fly's image is named like the source.
    local = ["--local-only", "--image-label", image.rsplit(":", 1)[1]] if local_image else []
    return [
        FLY, "deploy", "--app", app, "--config", config_path, "--image", image, *local,
        "--strategy", "rolling", "--wait-timeout", WAIT_TIMEOUT, "--yes",
    ]  # fmt: skip


DOCKER = "docker"
# The registry password of a private image: in the release's (secret) environment, on docker's stdin.
REGISTRY_PASSWORD_ENV = "SERVICE_INFRA_REGISTRY_PASSWORD"


def docker_login(config_dir: str, server: str, username: str) -> list[str]:
    return [DOCKER, "--config", config_dir, "login", server, "--username", username, "--password-stdin"]


def docker_pull(config_dir: str, image: str) -> list[str]:
    return [DOCKER, "--config", config_dir, "pull", image]


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


# How flyctl v0.4.87 reports a token the Machines API refuses (fly-go v0.9.5 flaps: the body's
# "error", `unauthorized` for a 401; flyctl's printError adds "Error: " and the request id).
_UNAUTHORIZED = re.compile(r"^Error: (?:[\w ]+: )?unauthorized(?: \((?:Request|Trace) ID: [^)]*\))*$", re.MULTILINE)


def unauthorized(stderr: str) -> bool:
    """Whether the API refused the token for this (a deploy token asked about another app)."""
    return bool(_UNAUTHORIZED.search(stderr))


# flyctl's wording for what is already gone (session.go's app lookup; flaps' volume not_found).
APP_GONE = "Could not find App"
VOLUME_GONE = "not_found: volume not found"


def _run(argv: list[str], stdin: str | None = None) -> str:
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        where = "flyctl (https://fly.io/docs/flyctl/install/)" if argv[0] == FLY else "the Docker CLI"
        raise FlyError(f"`{argv[0]}` is not on PATH: install {where}") from None
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
        if unauthorized(error.stderr):
            raise FlyError(
                f"Fly app {app} is not one this stack's token reaches, and the token cannot create apps (a deploy "
                f"token reaches its own app alone; making one takes the organization's token). If {app} is this "
                f"stack's, create it once with the organization's token: fly apps create {app} --org {org}, and "
                f"set secrets.FLY_API_TOKEN to `fly tokens create deploy -a {app}` (docs/delivery.md); if it is "
                "another stack's, set this stack's own `fly.app`"
            ) from None
        raise
    return {"app": app, "hostname": f"{app}.fly.dev", "adopted": False}


# How to change what flyctl will not change non-interactively (docs/operations.md, Fly volumes).
VOLUME_HOWTO = "see docs/operations.md#changing-a-fly-volume"
# A volume soft-deleted on Fly: fly-go v0.9.5's destroyedVolumeStates (flaps/flaps_volumes.go), the
# states `volumes list` hides; `volumes show` reports them as they are.
GONE_STATES = ("scheduling_destroy", "fork_cleanup", "waiting_for_detach", "pending_destroy", "destroying")


def _attached(app: str) -> list[dict[str, object]]:
    """The app's volumes a machine mounts."""
    listed = json.loads(_run(volumes_list(app)) or "[]")
    return [v for v in listed if v.get("attached_machine_id") and v.get("state") not in GONE_STATES]


def ensure_volume(app: str, name: str, region: str, size_gb: int, vm_size: str, memory_mb: int) -> dict[str, object]:
    """Adopt the app's volume of that name in that region, or create one: never a duplicate.

    Refused, before anything changes, while a machine mounts a volume of another name: flyctl
    v0.4.87 cannot swap a machine's volume ("can't update the attached volume").
    """
    listed = json.loads(_run(volumes_list(app)) or "[]")
    for volume in listed:
        if volume.get("name") == name and volume.get("region") == region and volume.get("state") not in GONE_STATES:
            return {"id": volume["id"], "name": name, "adopted": True}
    for volume in listed:
        if volume.get("attached_machine_id") and volume.get("state") not in GONE_STATES:
            raise FlyError(
                f"Fly app {app}: machine {volume['attached_machine_id']} mounts volume {volume['name']} "
                f"({volume['id']}), and flyctl cannot swap a machine's volume for {name} (\"can't update the attached "
                f"volume\"); nothing was changed. Keep the volume's name {volume['name']}, or {VOLUME_HOWTO}"
            )
    created = json.loads(_run(volumes_create(app, name, region, size_gb, vm_size, memory_mb)))
    return {"id": created["id"], "name": name, "adopted": False}


def resize_volume(app: str, volume_id: str, name: str, region: str, size_gb: int) -> dict[str, object]:
    """A changed volume setting: grow it with `fly volumes extend`; what Fly cannot do is refused."""
    volume = json.loads(_run(volumes_show(app, volume_id)))
    if volume.get("state") in GONE_STATES:
        raise FlyError(f"volume {name} ({volume_id}) of {app} was destroyed outside Pulumi: `pulumi refresh`, then up")
    if volume.get("region") != region:
        raise FlyError(
            f"volume {name} ({volume_id}) is in {volume.get('region')}, not {region}: a Fly volume cannot move "
            f"between regions; nothing was changed. Keep the region, or {VOLUME_HOWTO}"
        )
    current = int(volume.get("size_gb") or 0)
    if size_gb < current:
        raise FlyError(
            f"volume {name} ({volume_id}) is {current} GB and Fly volumes only grow: set size_gb to {current} or "
            f"more; nothing was changed"
        )
    if size_gb > current:
        _run(volumes_extend(app, volume_id, size_gb))
    return {"id": volume_id, "name": name, "adopted": True}


def check_mount(app: str, toml: str) -> None:
    """Refuse, before the deploy, the volume change flyctl would refuse or stop on: a machine's
    volume detached (a prompt --yes does not answer) or swapped for another."""
    mounts = tomllib.loads(toml).get("mounts") or []
    wanted = mounts[0]["source"] if mounts else None
    for volume in _attached(app):
        if volume.get("name") == wanted:
            continue
        machine = volume["attached_machine_id"]
        change = f"swapped for {wanted}" if wanted else "removed"
        raise FlyError(
            f"Fly app {app}: machine {machine} mounts volume {volume['name']} ({volume['id']}), which the config "
            f"has {change}; flyctl detaches a machine's volume only after a prompt that --yes does not answer, "
            f"and swaps none. Nothing was deployed: keep volume {volume['name']} in fly.volumes, or {VOLUME_HOWTO}"
        )


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
    if volume.get("state") in GONE_STATES:
        return f"volume {volume_id} of {app} was already gone ({volume['state']})"
    if volume.get("attached_machine_id"):
        return f"volume {volume_id} is attached to machine {volume['attached_machine_id']}; it goes with the app"
    _run(volumes_destroy(app, volume_id))
    return f"volume {volume_id} destroyed"


def pull_private_image(workdir: str, image: str, server: str, username: str) -> None:
    """Pull the image into the local Docker engine with the registry's credentials, kept in a
    throwaway docker config (never the user's) and sent on stdin."""
    password = os.environ.get(REGISTRY_PASSWORD_ENV, "")
    if not password:
        raise FlyError(f"{REGISTRY_PASSWORD_ENV} is empty: the registry password must come in the environment")
    config_dir = os.path.join(workdir, "docker")
    os.mkdir(config_dir, 0o700)
    _run(docker_login(config_dir, server, username), stdin=password)
    _run(docker_pull(config_dir, image))


def release(app: str, image: str, toml: str, pull_from: tuple[str, str] | None = None) -> dict[str, object]:
    """Deploy the image with this fly.toml; `pull_from` (server, username): a private image, pulled
    here and pushed to Fly's registry by flyctl, as Fly's builders cannot pull it."""
    check_mount(app, toml)
    with tempfile.TemporaryDirectory() as workdir:
        path = os.path.join(workdir, "fly.toml")
        with open(path, "w") as file:
            file.write(toml)
        if pull_from:
            pull_private_image(workdir, image, *pull_from)
        _run(deploy(app, path, image, local_image=pull_from is not None))
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
    op = ops.add_parser("resize-volume", help="grows the volume whose id the create step printed")
    op.add_argument("--app", required=True)
    op.add_argument("--name", required=True)
    op.add_argument("--region", required=True)
    op.add_argument("--size", type=int, required=True)
    op = ops.add_parser("delete-volume", help="destroys the volume whose id the create step printed")
    # Optional only for state written before it was passed (its stored delete command has none).
    op.add_argument("--app")
    op = ops.add_parser("delete-app", help="destroys the app; already gone is success")
    op.add_argument("--app", required=True)
    op = ops.add_parser("release", help="fly.toml on stdin")
    op.add_argument("--app", required=True)
    op.add_argument("--image", required=True)
    op.add_argument("--pull-from", help="a private image's registry: pulled here, pushed to Fly's")
    op.add_argument("--pull-user", help="the user name for --pull-from; the password in " + REGISTRY_PASSWORD_ENV)
    args = parser.parse_args(argv)
    try:
        result: object = None
        if args.op == "ensure-app":
            result = ensure_app(args.app, args.org)
        elif args.op == "ensure-volume":
            result = ensure_volume(args.app, args.name, args.region, args.size, args.vm_size, args.vm_memory)
        elif args.op == "resize-volume":
            previous = json.loads(os.environ["PULUMI_COMMAND_STDOUT"])
            result = resize_volume(args.app, str(previous["id"]), args.name, args.region, args.size)
        elif args.op == "delete-volume":
            # The command provider hands the create step's output to the delete step.
            created = json.loads(os.environ["PULUMI_COMMAND_STDOUT"])
            print(destroy_volume(args.app, str(created["id"])))
        elif args.op == "delete-app":
            print(destroy_app(args.app))
        elif args.op == "release":
            pull = (args.pull_from, args.pull_user or "") if args.pull_from else None
            result = release(args.app, args.image, sys.stdin.read(), pull)
    except FlyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if result is not None:
        print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
