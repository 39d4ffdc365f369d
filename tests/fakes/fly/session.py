"""One invocation: its command path and flags, the locked state file, the caller's orgs, the app config."""

from __future__ import annotations

import fcntl
import json
import os
import random
import sys
import tomllib
from typing import IO, Any

from .core import NEED_YES, FlyError, Json
from .flags import GLOBAL, Spec, convert, flags, zero
from .tokens import refusal

NOT_AUTHENTICATED = "You must be authenticated to view this."


class Ctx:
    """What a command handler works with; `st` is the whole state, saved when the command returns."""

    def __init__(self, prog: str) -> None:
        self.prog, self.path = prog, prog
        self.spec: Spec = flags(GLOBAL)
        self.vals: dict[str, Any] = {}
        self.args: list[str] = []
        self.st: Json = {}
        self.token = ""
        self.token_orgs: list[str] | None = None  # the orgs the token was found to belong to, for the log
        self.token_apps: list[str] | None = None  # an app-scoped token's apps (None: an org token), for the log
        self.stdin_bytes = 0
        self.cfg: Json | None = None
        self.cfg_path: str | None = None
        self.cfg_text = ""
        self.state_path = ""
        self.state_lock: IO[str] | None = None
        self.save_state = True  # False once a read-only command let go of the lock (`logs` waiting)

    def f(self, name: str) -> Any:
        """A flag's value: as given, else its default, else its kind's zero value."""
        if name in self.vals:
            return self.vals[name]
        kind, _, default = self.spec[name]
        return zero(kind) if default is None else convert(kind, default)

    @property
    def command(self) -> str:
        """The command path without the program's name: "secrets import"."""
        return self.path.partition(" ")[2]


def load_state() -> tuple[Json, str, IO[str]]:
    """The state, with the lock that serialises invocations (held until the process exits)."""
    path = os.environ.get("FLY_STANDIN_STATE")
    if not path:
        raise FlyError("FLY_STANDIN_STATE is not set: the fly stand-in needs a JSON state file path")
    lock = open(path + ".lock", "a+")  # noqa: SIM115 - held until the process exits
    fcntl.flock(lock, fcntl.LOCK_EX)
    st: Json = {}
    if os.path.exists(path) and os.path.getsize(path):
        with open(path) as fh:
            st = json.load(fh)
    for key in ("orgs", "apps", "volumes", "secrets", "releases"):
        st.setdefault(key, {})
    st["orgs"].setdefault("personal", {"name": "Personal", "type": "PERSONAL"})
    for name, app in st["apps"].items():  # tests may seed minimal apps: fill in the rest
        defaults = {
            "org": "personal",
            "status": "pending",
            "deployed": False,
            "network": "",
            "machines": [],
            "current_release": None,
            "numeric_id": random.randint(100000, 999999),
        }
        app.update({**defaults, **app, "name": name})
    return st, path, lock


def save_state(st: Json, path: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        json.dump(st, fh, indent=2, sort_keys=True, default=str)  # TOML dates
    os.replace(tmp, path)


def token_apps(x: Ctx) -> set[str] | None:
    """The apps an app-scoped deploy token (``{"apps": [...]}`` in the tokens map) is limited to; None for
    an org token (a list of org slugs), or when the state has no tokens map."""
    tokens = x.st.get("tokens")
    if tokens is None:
        return None
    if x.token not in tokens:
        raise FlyError(NOT_AUTHENTICATED)
    entry = tokens[x.token]
    return set(entry["apps"]) if isinstance(entry, dict) else None


def my_orgs(x: Ctx) -> set[str]:
    tokens = x.st.get("tokens")
    if tokens is None:
        return {slug for slug, o in x.st["orgs"].items() if o.get("member", True)}
    apps = token_apps(x)
    if apps is not None:  # an app-scoped token belongs to its apps' org
        return {x.st["apps"][a]["org"] for a in apps if a in x.st["apps"]}
    return set(tokens[x.token])


def check_app(x: Ctx, name: str) -> None:
    """An app-scoped token is refused any app but its own, in the words of the API the command asks first."""
    apps = token_apps(x)
    if apps is not None and name not in apps:
        raise refusal(x.command)


def get_app(x: Ctx, name: str) -> Json:
    check_app(x, name)
    app = x.st["apps"].get(name)
    if app is None or app["org"] not in my_orgs(x):
        raise FlyError(f'Could not find App "{name}"')
    return app


def app_name(x: Ctx) -> str:  # --app, then $FLY_APP, then the app config
    return x.f("app") or os.environ.get("FLY_APP") or (x.cfg or {}).get("app", "")


def require_app(x: Ctx) -> str:
    if not app_name(x):
        raise FlyError(
            "the config for your app is missing an app name, add an app field to the fly.toml file "
            "or specify with the -a flag"
        )
    return app_name(x)


def load_config(
    x: Ctx,
) -> None:  # command.LoadAppConfigIfPresent: --config (file or dir), else ./fly.toml
    p = x.f("config")
    for cand in [p, os.path.join(p, "fly.toml")] if p else ["fly.toml"]:
        if os.path.isfile(cand):
            with open(cand, "rb") as fh:
                x.cfg_text = fh.read().decode("utf-8", "replace")
            try:
                x.cfg, x.cfg_path = tomllib.loads(x.cfg_text), os.path.abspath(cand)
            except tomllib.TOMLDecodeError as e:
                raise FlyError(f"failed loading app config from {cand}: {e}") from None
            return
    if p:
        raise FlyError(f"config file not found at specified path: {p} (also tried: {os.path.join(p, 'fly.toml')})")


def confirm(question: str) -> bool:
    if sys.stdin.isatty() and sys.stdout.isatty():
        return input(f"? {question} (y/N) ").strip().lower() in ("y", "yes")
    raise FlyError(NEED_YES)
