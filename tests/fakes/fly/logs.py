"""`fly logs`, as flyctl v0.4.87 (tag v0.4.87, 3eb236fa) has it, read there:

- internal/command/logs/logs.go: flags --app/-a, --config/-c, --region/-r, --json/-j, --machine/-m
  (alias --instance), --select/-s, --no-tail/-n; no positional argument; --machine ignores --region.
- logs/polling.go Poll: asks the logs API (fly-go GetAppLogs, REST /api/v1/apps/<app>/logs) until it
  answers entries, backing off from 64 ms to 4.096 s while there are none; with --no-tail it returns
  after the first answer that has entries, so an empty buffer keeps it waiting. Without --no-tail
  it polls on (the NATS stream over WireGuard it tries first is out of a stand-in's reach, and
  flyctl falls back to polling when it cannot connect).
- internal/render/logs.go LogEntry with HideAllocID and HideRegion: `<time> <provider>[<instance>]
  <region> [<level>]<message>`, the time as RFC 3339 in seconds, colored by aurora (which colors
  whether or not the output is a terminal): the time faint, the region green, the level by
  levelColor; --json prints each entry as render.JSON does.

Entries come from the state's `logs` map, {app: [{timestamp, instance, region, level, message,
provider}]}, which tests seed. Who may read them: the token's orgs and an app-scoped token's own
apps, as for every other command; the API's refusal text is in no public source, so it is marked.
The state lock is let go while it waits, as flyctl holds nothing while it polls.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from typing import Any

from .core import FlyError, dump
from .session import Ctx, my_orgs, require_app, token_apps

LOGS = "logs"
MIN_WAIT, MAX_WAIT = 0.064, 4.096  # polling.go: minWait = 1ms << 6, maxWait = minWait << 6
LEVEL_COLORS = {"debug": 36, "info": 34, "warn": 33, "warning": 33}  # render.levelColor; default red
FRACTION = re.compile(r"\.\d+")


def paint(code: int, text: str) -> str:
    """aurora v2: `ESC[<code>m<text>ESC[0m`."""
    return f"\x1b[{code}m{text}\x1b[0m"


def render_entry(entry: dict[str, Any]) -> str:
    seconds = FRACTION.sub("", entry["timestamp"], count=1)  # format.Time: time.RFC3339
    source = entry.get("provider", "app")
    if entry.get("instance"):
        source = f"{source}[{entry['instance']}]" if source else entry["instance"]
    level = entry.get("level", "info")
    line = f"{paint(2, seconds)} {source} {paint(32, entry.get('region', ''))} [{paint(LEVEL_COLORS.get(level, 31), level)}]"
    return line + entry.get("message", "")


def as_json(entry: dict[str, Any]) -> dict[str, Any]:
    """logs.LogEntry as render.JSON prints it (Meta's fields carry no json tags but status_code)."""
    return {
        "level": entry.get("level", "info"),
        "instance": entry.get("instance", ""),
        "message": entry.get("message", ""),
        "region": entry.get("region", ""),
        "timestamp": entry["timestamp"],
        "meta": {
            "Instance": "",
            "Region": "",
            "Event": {"Provider": entry.get("provider", "app")},
            "HTTP": {"Request": {"ID": "", "Method": "", "Version": ""}, "Response": {"status_code": 0}},
            "Error": {"Code": 0, "Message": ""},
            "URL": {"Full": ""},
        },
    }


def _entries(st: dict[str, Any], app: str, region: str, machine: str) -> list[dict[str, Any]]:
    return [
        e
        for e in (st.get(LOGS) or {}).get(app, [])
        if (not machine or e.get("instance") == machine) and (machine or not region or e.get("region") == region)
    ]


def _reread(path: str) -> dict[str, Any]:
    with open(path) as fh:
        return json.load(fh)


def cmd_logs(x: Ctx) -> None:
    name = require_app(x)
    if x.f("select") and "machine" in x.vals:
        raise FlyError("--machine can't be used with -s/--select")
    scope, app = token_apps(x), x.st["apps"].get(name)
    if (scope is not None and name not in scope) or app is None or app["org"] not in my_orgs(x):
        raise FlyError(f"[stand-in] the logs API refused {name}: no app of that name this token may read")
    region, machine = x.f("region"), x.f("machine")
    shown = 0
    entries = _entries(x.st, name, region, machine)
    # From here on nothing changes the state: let other invocations in while this one waits.
    x.save_state = False
    if x.state_lock is not None:
        fcntl.flock(x.state_lock, fcntl.LOCK_UN)
    wait = MIN_WAIT
    while True:
        for entry in entries[shown:]:
            if x.f("json"):
                dump(as_json(entry))
            else:
                print(render_entry(entry), flush=True)
        if len(entries) > shown:
            shown, wait = len(entries), MIN_WAIT
            if x.f("no-tail"):
                return
        else:
            wait = min(wait * 2, MAX_WAIT)
        time.sleep(wait)
        entries = _entries(_reread(x.state_path), name, region, machine) if os.path.exists(x.state_path) else []
