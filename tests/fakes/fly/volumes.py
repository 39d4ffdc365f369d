"""`fly volumes list|create|destroy|show`: volumes belong to an app, are pinned to a region, soft-deleted."""

from __future__ import annotations

import os
import re

from service_infra.contract import FLY_MEMORY_RULES, FLY_REGIONS, FLY_VM_CPUS
from service_infra.ops.fly import GONE_STATES

from .core import FlyError, Json, dump, err, now, out, rid, table
from .session import Ctx, app_name, check_app, confirm, get_app, my_orgs, require_app, token_apps
from .shapes import volume_json
from .tokens import GET_APP_NAME_FROM_VOLUME, graphql_refusal

# Fly's regions, the list the program validates against (a state file's "regions" replaces it).
REGIONS = sorted(FLY_REGIONS)

# fly-go v0.9.5 flaps_volumes.go destroyedVolumeStates: the soft-deleted states `volumes list` hides
# (GetVolumes) and `--all` shows (GetAllVolumes). There is no "destroyed" volume state. One reading of
# fly-go, the program's (as FLY_REGIONS is). The stand-in writes "pending_destroy" on destroy; a test
# may seed any of the others.
DESTROYED_STATES = GONE_STATES
SOFT_DELETE_STATE = "pending_destroy"
DEFAULT_VM_SIZE = "shared-cpu-1x"  # fly-go v0.9.5 DefaultVMSize


def is_destroyed(volume: Json) -> bool:
    return volume["state"] in DESTROYED_STATES


def live_volumes(x: Ctx, app: str, include_destroyed: bool = False) -> list[Json]:
    vols = [v for v in x.st["volumes"].values() if v["app"] == app]
    vols = [v for v in vols if include_destroyed or not is_destroyed(v)]
    return sorted(vols, key=lambda v: v["created_at"])


def new_volume(
    x: Ctx,
    app: str,
    name: str,
    region: str,
    size: int,
    encrypted: bool = True,
    retention: int = 5,
    backups: bool = True,
    auto_created: bool = False,
    compute: Json | None = None,
) -> Json:
    if not re.fullmatch(r"[a-z0-9_]{1,30}", name):  # enforced by the API; exact server wording not in flyctl
        raise FlyError(
            "failed to create volume: name must consist of only lowercase letters, numbers and "
            "underscores, and be at most 30 characters long"
        )
    vid = "vol_" + rid(16)
    x.st["volumes"][vid] = {
        "id": vid,
        "name": name,
        "app": app,
        "state": "created",
        "size_gb": size,
        "region": region,
        "zone": rid(4, "0123456789abcdef"),
        "encrypted": encrypted,
        "attached_machine_id": None,
        "attached_alloc_id": None,
        "created_at": now(),
        "host_dedication_id": "",
        "snapshot_retention": retention,
        "auto_backup_enabled": backups,
        "host_status": "ok",
        "auto_created": auto_created,
        # What the create request asked of the host (CreateVolumeRequest.ComputeRequirements).
        "compute": compute or machine_guest(x),
    }
    return x.st["volumes"][vid]


def machine_guest(x: Ctx) -> Json:
    """The guest flyctl v0.4.87 sends as a volume's compute requirements (internal/flag/machines.go
    GetMachineGuest): fly-go v0.9.5's preset for --vm-size (default shared-cpu-1x; machine_types.go
    MachinePresets: per CPU 256 MB shared, 2048 MB performance), then --vm-cpus and --vm-memory (MB)."""
    size = x.f("vm-size") or DEFAULT_VM_SIZE
    if size not in FLY_VM_CPUS:
        kind = next((k for k in ("shared", "performance") if size.startswith(k)), None)
        if kind is None:
            raise FlyError(
                f"invalid machine preset requested, '{size}', expected to start with 'shared' or 'performance'"
            )
        valid = ", ".join(sorted(s for s in FLY_VM_CPUS if s.startswith(kind)))
        raise FlyError(f"'{size}' is an invalid machine size, choose one of: [{valid}]")
    kind = "shared" if size.startswith("shared") else "performance"
    per_cpu = FLY_MEMORY_RULES[kind][1]  # fly-go's MIN_MEMORY_MB_PER_(SHARED_)CPU, the presets' memory
    guest: Json = {"cpu_kind": kind, "cpus": FLY_VM_CPUS[size], "memory_mb": FLY_VM_CPUS[size] * per_cpu}
    if x.f("vm-cpus"):
        guest["cpus"] = x.f("vm-cpus")
    memory = x.f("vm-memory")
    if memory:
        if not str(memory).isdigit():  # flyctl also reads units (1gb); the program passes MB
            raise FlyError(f"invalid size {memory!r} (the stand-in reads MB only)")
        if int(memory) == 0:
            raise FlyError("--vm-memory cannot be zero")
        guest["memory_mb"] = int(memory)
    return guest


def print_volume(v: Json, app: str) -> None:  # volumes.printVolume
    for label, val in (
        ("ID", v["id"]),
        ("Name", v["name"]),
        ("App", app),
        ("Region", v["region"]),
        ("Zone", v["zone"]),
        ("Size GB", v["size_gb"]),
        ("Encrypted", str(v["encrypted"]).lower()),
        ("Created at", v["created_at"]),
        ("Snapshot retention", v["snapshot_retention"]),
        ("Scheduled snapshots", str(v["auto_backup_enabled"]).lower()),
    ):
        out(f"{label:>20}: {val}")


def cmd_volumes_list(x: Ctx) -> None:
    name = require_app(x)
    get_app(x, name)
    vols = live_volumes(x, name, x.f("all"))
    if x.f("json"):
        return dump([volume_json(v) for v in vols])
    rows = [
        (
            v["id"],
            v["state"],
            v["name"],
            f"{v['size_gb']}GB",
            v["region"],
            v["zone"],
            str(v["encrypted"]).lower(),
            v["attached_machine_id"] or "",
            v["created_at"],
        )
        for v in vols
    ]
    table(
        (
            "ID",
            "STATE",
            "NAME",
            "SIZE",
            "REGION",
            "ZONE",
            "ENCRYPTED",
            "ATTACHED VM",
            "CREATED AT",
        ),
        rows,
    )


def cmd_volumes_create(x: Ctx) -> None:
    name, vname = require_app(x), x.args[0]
    if not x.f("yes") and x.f("count") <= 1 and not any(v["name"] == vname for v in live_volumes(x, name)):
        err(
            "Warning! Every volume is pinned to a specific physical host. You should create two or more volumes "
            "per application to avoid downtime. Learn more at https://fly.io/docs/volumes/overview/"
        )
        if not confirm("Do you still want to use the volumes feature?"):
            return
    get_app(x, name)
    region = x.f("region") or os.environ.get("FLY_REGION", "")
    if not region:
        raise FlyError("region code must be specified when not running interactively")
    if region not in x.st.get("regions", REGIONS):
        raise FlyError(f"region {region} not found")
    if x.f("fs-type") not in ("ext4", "raw"):
        raise FlyError(f'filesystem "{x.f("fs-type")}" must be either "ext4" or "raw"')
    for _ in range(max(x.f("count"), 1)):
        v = new_volume(
            x,
            name,
            vname,
            region,
            x.f("size"),
            not x.f("no-encryption"),
            x.f("snapshot-retention"),
            x.f("scheduled-snapshots"),
        )
        dump(volume_json(v)) if x.f("json") else print_volume(v, name)


def find_volume(x: Ctx, vid: str) -> tuple[Json | None, str]:  # the volume (None if not the app's), its app
    app, vol = app_name(x), x.st["volumes"].get(vid)
    if not app:  # no app in context: flyctl asks GraphQL which app owns the id
        if vol is None or x.st["apps"].get(vol["app"], {}).get("org") not in my_orgs(x):
            raise FlyError(f"failed to run {GET_APP_NAME_FROM_VOLUME}: Could not find Volume with id '{vid}'")
        scope = token_apps(x)
        if scope is not None and vol["app"] not in scope:  # another app's volume, to an app-scoped token
            raise graphql_refusal(GET_APP_NAME_FROM_VOLUME)
        app = vol["app"]
    else:  # GetAppBasic
        check_app(x, app)
    if not x.args:
        raise FlyError("volume ID must be specified when not running interactively")
    return (vol if vol and vol["app"] == app else None), app


def cmd_volumes_destroy(x: Ctx) -> None:
    if not x.args and not app_name(x):
        raise FlyError("volume ID or app required")
    for vid in x.args or [""]:
        vol, _ = find_volume(x, vid)
        if not x.f("yes"):  # confirmVolumeDelete: fly-go's GetVolume, which filters no state
            if vol is None:
                raise FlyError(f"failed to get volume {vid}: not_found: volume not found")
            err("Deleting a volume is not reversible.")
            if not confirm("Are you sure you want to destroy this volume?"):
                return
        prefix = f"failed destroying volume: failed to destroy volume {vid}:"
        # [stand-in] flaps' answer to a DELETE of a soft-deleted volume is in neither flyctl nor fly-go:
        # here it is that of an unknown id, not_found.
        if vol is None or is_destroyed(vol):
            raise FlyError(f"{prefix} not_found: volume not found")
        if vol["attached_machine_id"]:
            raise FlyError(
                f"{prefix} failed_precondition: volume is currently bound to machine: {vol['attached_machine_id']}"
            )
        vol["state"] = SOFT_DELETE_STATE  # soft delete, as on Fly; `volumes list --all` still shows it
        out(f"Destroyed volume ID: {vid} name: {vol['name']}")


def cmd_volumes_show(x: Ctx) -> None:
    if not x.args and not app_name(x):
        raise FlyError("volume ID or app required")
    vid = (x.args or [""])[0]
    vol, app = find_volume(x, vid)
    if vol is None:
        raise FlyError(f"failed retrieving volume: failed to get volume {vid}: not_found: volume not found")
    # A soft-deleted volume is shown with its state: fly-go's GetVolume, unlike GetVolumes, filters no state.
    return dump(volume_json(vol)) if x.f("json") else print_volume(vol, app)


def cmd_volumes_extend(x: Ctx) -> None:  # volumes/extend.go
    name = require_app(x)
    get_app(x, name)
    raw = x.f("size")
    if not re.fullmatch(r"[+-]?[0-9]+", raw or "0"):
        raise FlyError(f"[stand-in] invalid size: {raw!r} (only whole GB here)")
    size = int(raw or "0")
    if size == 0:
        raise FlyError("Volume size must be specified")
    if not x.args:
        raise FlyError("volume ID must be specified when not running interactively")
    vid = x.args[0]
    vol = x.st["volumes"].get(vid)
    if vol is None or vol["app"] != name or is_destroyed(vol):
        raise FlyError(f"failed to extend volume: failed to extend volume {vid}: not_found: volume not found")
    size += vol["size_gb"] if raw.startswith("+") else 0
    if size <= vol["size_gb"]:  # Fly volumes only grow; the server's exact wording is not in flyctl
        raise FlyError(
            f"failed to extend volume: [stand-in] volume {vid} is {vol['size_gb']} GB: a volume can only grow"
        )
    vol["size_gb"] = size
    if x.f("json"):
        return dump(volume_json(vol))
    print_volume(vol, name)
    out("Your Machine got its volume size extended without needing a restart")
