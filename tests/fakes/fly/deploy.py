"""`fly deploy`: validate fly.toml, record a release, place volumes, create or update machines, gate on
health checks."""

from __future__ import annotations

import copy
import os
import random
import re
import subprocess
import sys
from typing import Any

from .apps import add_release
from .core import NEED_YES, FlyError, Json, err, now, out, rid
from .session import Ctx, check_app, get_app, require_app
from .shapes import current_release
from .volumes import live_volumes, new_volume

STRATEGIES = ["canary", "rolling", "immediate", "bluegreen"]
GO_DURATION = re.compile(r"^([0-9]*(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$")


def as_list(
    v: Any,
) -> list[Any]:  # fly.toml sections may be a table or an array of tables
    return v if isinstance(v, list) else [v] if isinstance(v, dict) else []


def http_checks(
    c: Json,
) -> list[Json]:  # machine check names as Fly derives them from fly.toml
    found = []
    for svc in as_list(c.get("http_service")) + as_list(c.get("services")):
        port = svc.get("internal_port")
        for i, ch in enumerate(as_list(svc.get("checks")) + as_list(svc.get("http_checks"))):
            found.append(
                {
                    "name": f"servicecheck-{i:02d}-http-{port}",
                    "port": port,
                    "path": ch.get("path", "/"),
                    "method": ch.get("method", "GET").upper(),
                    **{k: ch[k] for k in ("interval", "timeout", "grace_period") if k in ch},
                }
            )
    for name, ch in (c.get("checks") or {}).items():
        found.append(
            {
                "name": name,
                "port": ch.get("port"),
                "path": ch.get("path", "/"),
                "type": ch.get("type"),
            }
        )
    return found


def validate(c: Json, path: str | None) -> tuple[bool, str]:  # appconfig.Config.Validate: (ok, text flyctl prints)
    strategy, mounts, problems = (
        (c.get("deploy") or {}).get("strategy", ""),
        as_list(c.get("mounts")),
        [],
    )
    if strategy and strategy not in STRATEGIES:
        problems.append(
            f"unsupported deployment strategy '{strategy}'; Apps v2 supports the following strategies: "
            + ", ".join(STRATEGIES)
        )
    if strategy == "canary" and mounts:
        problems.append("error canary deployment strategy is not supported when using mounted volumes")
    for svc in as_list(c.get("http_service")):
        if not isinstance(svc.get("internal_port"), int) or svc["internal_port"] <= 0:
            problems.append("[stand-in] http_service.internal_port must be a positive integer\n")
    if len(mounts) > 1:  # validation.go validateMounts, on the config flattened for the group
        problems.append("group 'app' has more than one [[mounts]] section defined\n")
    if any(not m.get("source") or not m.get("destination") for m in mounts):
        problems.append("[stand-in] every [[mounts]] needs a source and a destination\n")
    for ch in http_checks(c):
        for k in ("interval", "timeout", "grace_period"):
            if isinstance(ch.get(k), str) and not GO_DURATION.match(ch[k]) and ch[k] != "0":
                problems.append(f'time: invalid duration "{ch[k]}"\n')
    if problems:
        return False, f"Validating {path}\n" + "".join(problems) + "\n   ✘invalid app configuration\n"
    return True, f"Validating {path}\n✓ Configuration is valid\n"


def new_machine(region: str, rel: Json, mounts: list[Json], checks: list[Json]) -> Json:
    return {
        "id": rid(14, "0123456789abcdef"),
        "name": f"{random.choice(['calm', 'red', 'bold'])}-"
        f"{random.choice(['leaf', 'sky', 'sea'])}-{random.randint(1000, 9999)}",
        "state": "started",
        "region": region,
        "image": rel["image"],
        "release_version": rel["version"],
        "release_id": rel["id"],
        "mounts": mounts,
        "checks": copy.deepcopy(checks),
        "standbys": [],
        "created_at": now(),
        "updated_at": now(),
        "instance_id": rid(26).upper(),
        "private_ip": f"fdaa:0:1:a7b:{random.randint(1, 65535):x}::2",
    }


class Rollout:
    """The machine side of a deploy: place volumes, create or update machines."""

    def __init__(
        self,
        x: Ctx,
        app: Json,
        rel: Json,
        mounts: list[Json],
        checks: list[Json],
        failing: bool,
    ) -> None:
        self.x, self.app, self.rel, self.mounts, self.checks, self.failing = (
            x,
            app,
            rel,
            mounts,
            checks,
            failing,
        )
        self.free = [v for v in live_volumes(x, app["name"]) if not v["attached_machine_id"]]

    def attach(self, m: Json, region: str, first: bool) -> None:  # machines_launchinput.go: popVolumeFor(name, region)
        src = self.mounts[0]["source"]
        vol = next(
            (v for v in self.free if v["name"] == src and region in ("", v["region"])),
            None,
        )
        if vol is None:
            raise FlyError(
                ("error creating machine configuration: New machine" if first else "machine")
                + f" in group 'app' needs an unattached volume named '{src}' in region '{region}'"
            )
        self.free.remove(vol)
        vol["attached_machine_id"] = m["id"]
        mount = {
            "volume": vol["id"],
            "name": src,
            "path": self.mounts[0]["destination"],
        }
        m.update(region=vol["region"], mounts=[mount])

    def first_deploy(self, region: str, ha: bool, services: bool, initial_size: int) -> list[Json]:
        x, app, mounts = self.x, self.app, self.mounts
        if mounts and not any(v["name"] == mounts[0]["source"] for v in self.free):  # provisionVolumesOnFirstDeploy
            out(
                f"Creating a {initial_size} GB volume named '{mounts[0]['source']}' for process group 'app'. "
                "Use 'fly vol extend' to increase its size"
            )
            self.free.append(
                new_volume(
                    x,
                    app["name"],
                    mounts[0]["source"],
                    region or default_region(),
                    initial_size,
                    auto_created=True,
                )
            )
        count = 1 if mounts or not ha else 2  # HA: a spare for services, a standby otherwise, none with mounts
        plan = (
            '1 "app" machine'
            if count == 1
            else '2 "app" machines'
            if services
            else ('1 "app" machine and 1 standby machine for it')
        )
        out(
            "This deployment will:",
            f" * create {plan}",
            "",
            "No machines in group app, launching a new machine",
        )
        for i in range(1 if self.failing else count):
            m = new_machine(region or default_region(), self.rel, [], self.checks)
            if mounts:
                self.attach(m, region, True)
            if i and not services:
                m.update(standbys=[app["machines"][0]["id"]], state="stopped")
            app["machines"].append(m)
        return app["machines"]

    def update(self) -> list[Json]:
        out(f"Updating existing machines in '{self.app['name']}' with {self.rel['strategy']} strategy")
        todo = self.app["machines"]
        if self.failing:  # rolling stops at the first bad machine; bluegreen/canary leave the old ones alone
            todo = todo[:1] if self.rel["strategy"] == "rolling" else []
        for m in todo:
            if self.mounts and not any(mt["name"] == self.mounts[0]["source"] for mt in m["mounts"]):
                self.attach(m, m["region"], False)
            m.update(
                image=self.rel["image"],
                release_version=self.rel["version"],
                release_id=self.rel["id"],
                updated_at=now(),
                checks=copy.deepcopy(self.checks),
                instance_id=rid(26).upper(),
            )
        return todo


def validate_volume_config(app: Json, mounts: list[Json]) -> None:
    """machines.go validateVolumeConfig (NewMachineDeployment, before any release): what an existing
    machine's volume allows. A machine's volume cannot be detached without a prompt (that --yes does
    not answer) nor swapped for another."""
    src = mounts[0]["source"] if mounts else ""
    for m in app["machines"]:
        if not src and m["mounts"]:
            err(
                f"Warning! machine {m['id']} [app] has a volume mounted but app config does not specify a volume.\n"
                "This usually indicates a misconfiguration."
            )
            raise FlyError(NEED_YES)  # prompt.Confirm: non-interactive, whatever --yes says
        if m["mounts"] and src and m["mounts"][0]["name"] and m["mounts"][0]["name"] != src:
            old = m["mounts"][0]
            # flyctl's own argument order: the new source, then the attached volume's id and name
            raise FlyError(
                f"machine {m['id']} [app] can't update the attached volume {src} with name '{old['volume']}' "
                f"by '{old['name']}'"
            )


def resolve_image(x: Ctx, app: str, image: str) -> str:
    """imgsrc.Resolver.ResolveReference: the local engine first (only with --local-only: by default
    flyctl takes a remote builder and skips it), then Fly's API, which cannot see a private registry
    (the state's "private_registries"). Found locally, the image is pushed to Fly's registry as
    registry.fly.io/<app>:<--image-label or deployment-ULID>, and that is what machines run."""
    if x.f("local-only"):
        try:
            found = subprocess.run(
                ["docker", "image", "inspect", "--format", "{{.Id}}", image],
                capture_output=True,
                text=True,
                check=False,
            )
        except FileNotFoundError:
            raise FlyError("no docker daemon available") from None
        if found.returncode != 0 and "No such image" not in found.stderr:
            raise FlyError("no docker daemon available")  # the local factory found no engine to talk to
        out(f"Searching for image '{image}' locally...")  # flyctl: stderr (the stand-in keeps stdout)
        if found.returncode == 0:
            tag = f"registry.fly.io/{app}:{x.f('image-label') or 'deployment-' + rid(26).upper()}"
            out(f"image found: {found.stdout.strip()}", "==> Pushing image to fly", "--> Pushing image done")
            x.st.setdefault("registry", {})[tag] = {"source": image, "id": found.stdout.strip()}  # [stand-in]
            return tag
    out(f"Searching for image '{image}' remotely...")
    head = image.split("/", 1)[0]
    host = head if "/" in image and ("." in head or ":" in head) else ""  # docker's rule for a registry host
    if host in x.st.get("private_registries", []):
        raise FlyError(f'could not find image "{image}"')
    out(f"image found: img_{rid(16)}")
    return image


def default_region() -> str:
    return os.environ.get("FLY_STANDIN_DEFAULT_REGION", "iad")


def cmd_deploy(x: Ctx) -> None:
    name = require_app(x)
    check_app(x, name)  # an app-scoped token: refused before anything of another app is read
    c = copy.deepcopy(x.cfg)
    if c is None:  # no fly.toml: flyctl deploys the current release's config
        cur = name in x.st["apps"] and current_release(x, name)
        if not cur:
            raise FlyError("App config file not found")
        c, x.cfg_path, x.cfg_text = (
            copy.deepcopy(cur["config"]),
            "remote config",
            cur["fly_toml"],
        )
    c["app"] = name  # --app always wins over fly.toml's app
    out("==> Verifying app config")
    ok, info = validate(c, x.cfg_path)
    sys.stdout.write(info)
    if not ok:
        raise FlyError("App configuration is not valid")
    out("--> Verified app config")
    app = get_app(x, name)
    for flag in ("wait-timeout", "release-command-timeout", "lease-timeout"):
        v = x.f(flag)
        if flag in x.vals and v != "none" and not GO_DURATION.match(v) and not v.isdigit():
            raise FlyError(
                f"invalid duration value {v} used for --{flag} flag: valid options are a number of "
                "seconds, number with time unit (i.e.: 5m, 180s) or 'none'"
            )
    image = x.f("image") or (c.get("build") or {}).get("image", "")
    if not image:
        raise FlyError("[stand-in] building from source is not supported; pass --image or set [build] image")
    out("==> Building image")
    image = resolve_image(x, name, image)
    out(
        "",
        f"Watch your deployment at https://fly.io/apps/{name}/monitoring",
        "",
    )
    if x.f("strategy"):
        c.setdefault("deploy", {})["strategy"] = x.f("strategy")
    if x.f("primary-region"):
        c["primary_region"] = x.f("primary-region")
    ok, info = validate(c, x.cfg_path)  # flags applied: NewMachineDeployment validates again, to stderr
    if not ok:
        err(info)
        raise FlyError("App configuration is not valid")
    strategy = (c.get("deploy") or {}).get("strategy") or "rolling"
    mounts, checks = as_list(c.get("mounts")), http_checks(c)
    snap = {
        "config": c,
        "fly_toml": x.cfg_text,
        "http_checks": checks,
        "mounts": [{"source": m["source"], "destination": m["destination"]} for m in mounts],
    }
    bad = "unhealthy" in image
    failing = bool(bad and checks and strategy != "immediate" and not x.f("detach"))  # immediate/--detach skip checks
    status = [
        {
            "name": ch["name"],
            "status": "critical" if bad else "passing",
            "output": "[stand-in] " + ("HTTP 503 Service Unavailable" if bad else "200 OK"),
            "updated_at": now(),
        }
        for ch in checks
    ]
    services = bool(c.get("http_service") or c.get("services"))
    validate_volume_config(app, mounts)
    rel = add_release(x, name, image, strategy, snap, "failed" if failing else "complete", "Release")
    first, roll = not app["machines"], Rollout(x, app, rel, mounts, status, failing)
    try:
        if first:
            done = roll.first_deploy(
                c.get("primary_region", ""),
                x.f("ha"),
                services,
                x.f("volume-initial-size") or 1,
            )
        else:
            done = roll.update()
    except FlyError as e:
        rel.update(status="failed", error=str(e))
        raise
    if failing:
        mid = (done or app["machines"])[0]["id"]
        out(
            f"  [1/{len(app['machines'])}] Waiting for {mid} [app] to become healthy: 0/{len(checks)}",
            f"  [stand-in] health check '{checks[0]['name']}' ({checks[0].get('method', 'GET')} {checks[0]['path']}) "
            "is critical",
        )
        msg = (
            f"timeout reached waiting for health checks to pass for machine {mid}: failed to get VM {mid}: Get "
            f'"https://api.machines.dev/v1/apps/{name}/machines/{mid}": net/http: request canceled'
        )
        rel["error"] = msg if first else f"failed to update machine {mid}: Unrecoverable error: {msg}"
        raise FlyError(rel["error"])
    for i, m in enumerate(done, 1):
        out(f"  [{i}/{len(done)}] Machine {m['id']} [app] update finished: success")
    app.update(status="deployed", deployed=True, current_release=rel["version"])
    for s in x.st["secrets"].get(name, {}).values():
        s["deployed"] = True  # machines now run with every secret set so far
    if services and not x.f("no-public-ips") and not x.f("flycast"):
        out("", f"Visit your newly deployed app at https://{name}.fly.dev/", "")
