"""`fly apps list|create|destroy`, `fly releases` and `fly status`, and the release history they read."""

from __future__ import annotations

import random

from .core import NAME_TAKEN, NAME_TAKEN_SUGGESTION, FlyError, Json, dump, err, now, out, rid, table
from .session import Ctx, confirm, get_app, my_orgs, require_app, token_apps
from .shapes import app_json, current_release, machine_json, org_json, release_json
from .tokens import refusal


def cmd_apps_list(x: Ctx) -> None:
    orgs = my_orgs(x)
    if x.f("org"):
        if x.f("org") not in orgs:
            raise FlyError(f'error getting organization: Could not find Organization "{x.f("org")}"')
        orgs = {x.f("org")}
    scope = token_apps(x)  # an app-scoped token sees its own apps only
    names = sorted(n for n, a in x.st["apps"].items() if a["org"] in orgs and (scope is None or n in scope))
    if x.f("json"):
        return dump([app_json(x, n) for n in names])
    if x.f("quiet"):
        return out(*names) if names else None
    if not names:
        return out("No apps found")
    rows = [
        (
            n,
            x.st["apps"][n]["org"],
            x.st["apps"][n]["status"],
            (current_release(x, n) or {}).get("created_at", ""),
        )
        for n in names
    ]
    table(("NAME", "OWNER", "STATUS", "LATEST DEPLOY"), rows)


def cmd_apps_create(x: Ctx) -> None:
    arg, flag_name = (x.args or [""])[0], x.f("name")
    if arg and flag_name and arg != flag_name:
        raise FlyError(f"two app names specified {arg} and {flag_name}, only one may be specified")
    name = arg or flag_name or (f"standin-{rid(6)}" if x.f("generate-name") else "")
    if not name:
        raise FlyError("name argument or flag must be specified when not running interactively")
    orgs, slug = my_orgs(x), x.f("org")
    if not slug:  # prompt.Org
        if len(orgs) != 1 or x.st["orgs"].get(min(orgs), {}).get("type") != "PERSONAL":
            raise FlyError("org slug must be specified when not running interactively")
        slug = min(orgs)
        err(f"automatically selected personal organization: {x.st['orgs'][slug]['name']}")
    known = x.st["orgs"].get(slug)
    if slug not in orgs and (x.st.get("tokens") is not None or (known and known.get("member") is False)):
        raise FlyError(f"organization {slug} not found")
    if token_apps(x) is not None:  # the Machines API's CreateApp refuses a deploy token, before any validation
        raise refusal(x.command)
    x.st["orgs"].setdefault(slug, {"name": slug, "type": "SHARED"})
    if name in x.st["apps"]:  # app names are global: taken in any org, yours included (flaps CreateApp: 422)
        raise FlyError(NAME_TAKEN, suggestion=NAME_TAKEN_SUGGESTION, request_id=True)
    x.st["apps"][name] = {
        "name": name,
        "org": slug,
        "status": "pending",
        "deployed": False,
        "network": x.f("network"),
        "machines": [],
        "current_release": None,
        "numeric_id": random.randint(100000, 999999),
    }
    return dump(app_json(x, name)) if x.f("json") else out(f"New app created: {name}")


def cmd_apps_destroy(x: Ctx) -> None:
    if not x.args:
        raise FlyError("no app names provided")
    for name in x.args:
        if not x.f("yes"):
            err("Destroying an app is not reversible.")
            if not confirm(f"Destroy app {name}?"):
                return
        get_app(x, name)
        x.st["volumes"] = {k: v for k, v in x.st["volumes"].items() if v["app"] != name}
        for key in ("apps", "secrets", "releases"):
            x.st[key].pop(name, None)
        out(f"Destroyed app {name}")


def cmd_releases(x: Ctx) -> None:
    name = require_app(x)
    get_app(x, name)
    rels = sorted(x.st["releases"].get(name, []), key=lambda r: -r["version"])
    if x.f("json"):
        return dump([release_json(r) for r in rels])
    rows = [
        (
            f"v{r['version']}",
            r["status"],
            r["description"],
            r["created_at"],
            *[r["image"]] * x.f("image"),
        )
        for r in rels
    ]
    table(
        ("VERSION", "STATUS", "DESCRIPTION", "DATE", *["DOCKER IMAGE"] * x.f("image")),
        rows,
    )


def cmd_status(x: Ctx) -> None:
    name = require_app(x)
    try:
        app = get_app(x, name)
    except FlyError as e:
        raise FlyError(f"failed to get app: {e}") from None
    ms = sorted(app["machines"], key=lambda m: m["id"], reverse=True)
    if x.f("json"):  # a Go map: keys come out sorted
        o = org_json(x, app["org"])  # fly.OrganizationBasic
        org = {k: o[k] for k in ("ID", "InternalNumericID", "Name", "Slug", "RawSlug", "PaidPlan")}
        status = {
            "AppURL": "",
            "Deployed": app["deployed"],
            "Hostname": f"{name}.fly.dev",
            "ID": name,
            "Machines": [machine_json(m) for m in ms],
            "Name": name,
            "Organization": org,
            "PlatformVersion": "machines",
            "Status": app["status"],
            "Version": app["current_release"] or 0,
        }
        if app["network"]:
            status["Network"] = app["network"]
        return dump(dict(sorted(status.items())))
    image = max(ms, key=lambda m: m["release_version"])["image"] if ms else "-"
    out(
        "App",
        f"  Name     = {name}",
        f"  Owner    = {app['org']}",
        f"  Hostname = {name}.fly.dev",
        f"  Image    = {image}",
        "",
        *(["Machines"] if ms else []),
    )
    rows = [
        (
            "app",
            m["id"],
            m["release_version"],
            m["region"],
            m["state"],
            "",
            f"{sum(c['status'] == 'passing' for c in m['checks'])} total passing",
            m["updated_at"],
        )
        for m in ms
    ]
    if ms:
        table(
            (
                "PROCESS",
                "ID",
                "VERSION",
                "REGION",
                "STATE",
                "ROLE",
                "CHECKS",
                "LAST UPDATED",
            ),
            rows,
        )


def add_release(
    x: Ctx,
    name: str,
    image: str,
    strategy: str,
    snap: Json,
    status: str,
    description: str,
) -> Json:
    """A new release of the app; `snap` holds what it deploys: config, fly_toml, mounts, http_checks."""
    rels = x.st["releases"].setdefault(name, [])
    rels.append(
        {
            "id": rid(12).upper(),
            "version": len(rels) + 1,
            "image": image,
            "strategy": strategy,
            "status": status,
            "description": description,
            "error": "",
            "created_at": now(),
            **{k: snap[k] for k in ("config", "fly_toml", "mounts", "http_checks")},
        }
    )
    return rels[-1]
