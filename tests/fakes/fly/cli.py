"""The command tree (cobra's rules for finding a command, its flags and its arguments) and `main`."""

from __future__ import annotations

import fcntl
import json
import os
import sys
from collections.abc import Callable
from typing import NamedTuple

from .app_secrets import cmd_secrets_import, cmd_secrets_list, cmd_secrets_unset
from .apps import (
    cmd_apps_create,
    cmd_apps_destroy,
    cmd_apps_list,
    cmd_releases,
    cmd_status,
)
from .core import VERSION, FlyError, PanicError, err, now, out, rid
from .deploy import cmd_deploy
from .flags import APP, DEPLOY, GLOBAL, JSONF, SECRETS, VM, YES, flags, parse_args
from .logs import cmd_logs
from .session import Ctx, app_name, load_config, load_state, my_orgs, save_state, token_apps
from .volumes import (
    cmd_volumes_create,
    cmd_volumes_destroy,
    cmd_volumes_extend,
    cmd_volumes_list,
    cmd_volumes_show,
)

NO_TOKEN = "no access token available. Please login with 'flyctl auth login'"


def cmd_version(x: Ctx) -> None:
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    if x.f("json"):
        return print(
            json.dumps(
                {
                    "Name": x.prog,
                    "Version": VERSION,
                    "Commit": "standin",
                    "OS": sys.platform,
                    "Architecture": arch,
                    "BuildDate": "2026-08-21T00:00:00Z",
                }
            )
        )
    return out(f"{x.prog} v{VERSION} {sys.platform}/{arch} Commit: standin BuildDate: 2026-08-21T00:00:00Z")


class Arity(NamedTuple):
    """cobra's Args validators: any (the default, cobra's legacyArgs), none, exact, max, min, range."""

    rule: str
    low: int = 0
    high: int = 0


class Command(NamedTuple):
    handler: Callable[[Ctx], None]
    flags: str
    arity: Arity
    session: bool  # needs a token and the state file


ANY, NONE = Arity("any"), Arity("none")
LEAF = {  # the command path, after aliases
    "apps list": Command(cmd_apps_list, f"{JSONF} org/o:s quiet/q:b", ANY, True),
    "apps create": Command(
        cmd_apps_create,
        f"name:s generate-name:b network:s machines:b {YES} save:b org/o:s {JSONF}",
        Arity("range", 0, 1),
        True,
    ),
    "apps destroy": Command(cmd_apps_destroy, YES, ANY, True),
    "apps releases": Command(cmd_releases, f"{APP} {JSONF} image:b", NONE, True),
    "releases": Command(cmd_releases, f"{APP} {JSONF} image:b", NONE, True),
    "status": Command(cmd_status, f"{APP} {JSONF} all:b deployment:b watch:b rate:i=5", NONE, True),
    "volumes list": Command(cmd_volumes_list, f"{APP} all:b {JSONF}", ANY, True),
    "volumes create": Command(
        cmd_volumes_create,
        f"{APP} region/r:s size/s:i=1 snapshot-retention:i=5 scheduled-snapshots:b=true no-encryption:b "
        f"require-unique-zone:b=true unique-zone-app-wide:b snapshot-id:s fs-type:s=ext4 {YES} count/n:i=1 {VM} "
        f"{JSONF}",
        Arity("exact", 1),
        True,
    ),
    "volumes destroy": Command(cmd_volumes_destroy, f"{YES} {APP}", ANY, True),
    "volumes extend": Command(cmd_volumes_extend, f"{APP} size/s:s {YES} {JSONF}", Arity("max", 1), True),
    "volumes show": Command(cmd_volumes_show, f"{JSONF} {APP}", Arity("max", 1), True),
    "secrets list": Command(cmd_secrets_list, f"{APP} {JSONF}", ANY, True),
    "secrets import": Command(cmd_secrets_import, SECRETS, ANY, True),
    "secrets unset": Command(cmd_secrets_unset, SECRETS, Arity("min", 1), True),
    "deploy": Command(cmd_deploy, DEPLOY, Arity("max", 1), True),
    "logs": Command(cmd_logs, f"{APP} region/r:s {JSONF} machine/m:s select/s:b no-tail/n:b", NONE, True),
    "version": Command(cmd_version, f"saveinstall/s:s {JSONF}", ANY, False),
}
ALIASES = {
    "app": "apps",
    "ls": "list",
    "delete": "destroy",
    "remove": "destroy",
    "rm": "destroy",
    "volume": "volumes",
    "vol": "volumes",
    "v": "volumes",
}
GROUPS = {"", "apps", "volumes", "secrets"}
BOOL_GLOBALS = ("--verbose", "--debug", "-h", "--help")


def check_args(x: Ctx, arity: Arity) -> None:
    n, low, high = len(x.args), arity.low, arity.high
    if arity.rule == "none" and n:
        message = f'unknown command "{x.args[0]}" for "{x.path}"'
    elif arity.rule == "exact" and n != low:
        message = f"accepts {low} arg(s), received {n}"
    elif arity.rule == "max" and n > low:
        message = f"accepts at most {low} arg(s), received {n}"
    elif arity.rule == "min" and n < low:
        message = f"requires at least {low} arg(s), only received {n}"
    elif arity.rule == "range" and not low <= n <= high:
        message = f"accepts between {low} and {high} arg(s), received {n}"
    else:
        return
    raise FlyError(message, usage=True)


def usage_text(x: Ctx) -> str:
    key = x.path.partition(" ")[2]
    subs = sorted({k[len(key) :].split()[0] for k in LEAF if k.startswith(key) and k != key})
    return (
        f"Usage:\n  {x.path} {'[flags]' if key in LEAF else '[command]'}\n\n"
        + ("" if key in LEAF else "Available Commands:\n" + "".join(f"  {s}\n" for s in subs) + "\n")
        + "Flags:\n"
        + "".join(f"  {f'-{v.short},' if v.short else '   '} --{k}\n" for k, v in x.spec.items())
    )


def run(x: Ctx, argv: list[str]) -> None:
    words: list[str] = []
    rest: list[str] = []
    for a in argv:  # cobra's Find: the leading non-flag words name the command
        key, word = " ".join(words), ALIASES.get(a, a)
        takes_value = rest and rest[-1].startswith("-") and "=" not in rest[-1] and rest[-1] not in BOOL_GLOBALS
        if key in LEAF or a.startswith("-") or takes_value:  # cobra's stripFlags: "-x value" skips the value
            rest.append(a)
        elif key in GROUPS and (f"{key} {word}".strip() in LEAF or f"{key} {word}".strip() in GROUPS):
            words.append(word)
        elif not key:  # the root rejects unknown subcommands; a group (fly apps nope) just prints its help
            raise FlyError(
                f'unknown command "{a}" for "{x.prog}"',
                hint=f"Run '{x.prog} --help' for usage.\n",
            )
        else:
            rest.append(a)
    key = " ".join(words)
    command = LEAF.get(key)
    x.path, x.spec = (
        f"{x.prog} {key}".strip(),
        flags(f"{GLOBAL} {command.flags if command else ''}"),
    )
    x.vals, x.args = parse_args(rest, x.spec)
    if command is None or x.f("help"):
        return print(usage_text(x))
    check_args(x, command.arity)
    if not command.session:
        return command.handler(x)
    x.token = x.f("access-token") or os.environ.get("FLY_ACCESS_TOKEN") or os.environ.get("FLY_API_TOKEN", "")
    if not x.token:
        raise FlyError(NO_TOKEN)
    x.st, x.state_path, x.state_lock = load_state()
    try:
        x.token_orgs = sorted(my_orgs(x))  # checks the token against the state's tokens map
        scope = token_apps(x)
        x.token_apps = None if scope is None else sorted(scope)
        if key == "deploy" and x.args:  # ChangeWorkingDirectoryToFirstArgIfPresent
            wd = os.path.abspath(x.args[0])
            try:
                os.chdir(wd)
            except OSError as e:
                raise FlyError(f"failed changing working directory: chdir {wd}: {(e.strerror or '').lower()}") from None
        if "config" in x.spec:
            load_config(x)
        command.handler(x)
    finally:
        if x.save_state:
            save_state(x.st, x.state_path)


def main() -> int:
    x, code = Ctx(os.path.basename(sys.argv[0])), 0
    try:
        run(x, sys.argv[1:])
    except FlyError as e:
        code = 1
        if e.usage:  # cobra prints usage (stdout) for flag and argument errors
            print(usage_text(x))
        sys.stdout.flush()
        request = f" (Request ID: {rid(26, '0123456789ABCDEFGHJKMNPQRSTVWXYZ')}-iad)" if e.request_id else ""
        err(f"Error: {e}{request}")
        if e.suggestion:
            sys.stderr.write(f"{e.suggestion}\n\n")
        if e.hint:
            print(e.hint)
    except PanicError as panic:
        code = 3
        out("Oops, something went wrong! Could you try that again?", "", str(panic), "goroutine 1 [running]:")
    finally:
        if os.environ.get("FLY_STANDIN_LOG"):
            token_in_env = bool(os.environ.get("FLY_API_TOKEN") or os.environ.get("FLY_ACCESS_TOKEN"))
            entry = {
                "argv": sys.argv[1:],
                "prog": sys.argv[0],
                "env_token_present": token_in_env,
                # Who acted on what, without the token itself: its orgs, the apps an app-scoped deploy
                # token is limited to (None: an org token), and the app that --app, FLY_APP or the
                # fly.toml named (None where the command takes no app).
                "token_orgs": x.token_orgs,
                "token_apps": x.token_apps,
                "app": (app_name(x) or None) if "app" in x.spec and x.st else None,
                "stdin_bytes": x.stdin_bytes,
                "exit_code": code,
                "ts": now(),
            }
            with open(os.environ["FLY_STANDIN_LOG"], "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                fh.write(json.dumps(entry) + "\n")
    return code
