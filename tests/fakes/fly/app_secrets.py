"""`fly secrets import|unset|list`: values arrive on stdin and are kept only as digests."""

from __future__ import annotations

import hashlib
import sys

from .apps import add_release
from .core import FlyError, Json, PanicError, dump, now, out, rid, table
from .session import Ctx, get_app, require_app
from .shapes import current_release

# bufio.Scanner's default buffer: a line (with its "\r") longer than this stops the scan, and
# flyctl never checks scanner.Err(), so that secret and every later one are silently dropped.
MAX_LINE_BYTES = 64 * 1024 - 1


def parse_secrets(raw: bytes) -> dict[str, str]:
    """A port of internal/command/secrets/parser.go (v0.4.87), quirks included.

    secrets_table.json holds what the real parser stores for every case in secret_cases.py;
    tests/fakes/test_fly_standin.py checks this port against it. Lines are bytes, as in Go: values
    keep undecodable bytes as surrogate escapes.
    """
    lines = raw.split(b"\n")
    if raw.endswith(b"\n") or not raw:
        lines.pop()
    secrets: dict[str, str] = {}
    key: str | None = None
    buf: list[str] = []
    for raw_line in lines:
        if len(raw_line) > MAX_LINE_BYTES:
            break
        line = raw_line.removesuffix(b"\r").decode("utf-8", "surrogateescape")
        if key is not None:  # inside a """ value
            if line.endswith('"""'):
                secrets[key], key = "".join(buf) + line[:-3], None
            else:
                buf.append(line + "\n")
            continue
        if line.startswith("#") or not line.strip():
            continue
        if "=" not in line:
            raise FlyError(
                f"Failed to parse secrets from stdin: Secrets must be provided as NAME=VALUE pairs ({line} is invalid)"
            )
        name, value = line.split("=", 1)
        name, value = name.strip(), value.lstrip(" ")
        head, hashed, _ = value.partition("#")
        if hashed and head.count('"') % 2 == 0:  # a "#" after an even number of '"' starts a comment
            value = head.rstrip(" ")
        if value.startswith('"""') and value.endswith('"""') and len(value) >= 6:
            secrets[name] = value[3:-3]
        elif value.startswith('"""'):
            key, buf = name, [value[3:] + "\n"]
        elif value[:1] in ('"', "'") and value.endswith(value[:1]):
            if len(value) == 1:
                raise PanicError("runtime error: slice bounds out of range [1:0]")  # value[1:0]
            secrets[name] = value[1:-1]
        else:
            secrets[name] = value
    return secrets  # an unterminated """ value is silently dropped, as in flyctl


def apply_secrets(x: Ctx, name: str, app: Json) -> None:  # secrets.DeploySecrets
    if x.f("stage"):
        return out(
            "Secrets have been staged, but not set on VMs. Deploy or update machines in this app for the "
            "secrets to take effect."
        )
    cur = current_release(x, name) or (x.st["releases"].get(name) or [None])[-1]
    if not app["machines"] or cur is None:
        return out("Secrets are staged for the first deployment")
    rel = add_release(x, name, cur["image"], "rolling", cur, "complete", "Secrets updated")
    out(f"Updating existing machines in '{name}' with rolling strategy")
    for i, m in enumerate(app["machines"], 1):
        m.update(
            release_version=rel["version"],
            release_id=rel["id"],
            updated_at=now(),
            instance_id=rid(26).upper(),
        )
        out(f"  [{i}/{len(app['machines'])}] Machine {m['id']} [app] update finished: success")
    app["current_release"] = rel["version"]
    for s in x.st["secrets"].get(name, {}).values():
        s["deployed"] = True


def cmd_secrets_import(x: Ctx) -> None:
    name = require_app(x)
    app = get_app(x, name)
    raw = sys.stdin.buffer.read()
    x.stdin_bytes = len(raw)
    secrets = parse_secrets(raw)
    if not secrets:
        raise FlyError("requires at least one SECRET=VALUE pair")
    for key, value in secrets.items():
        digest = hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        x.st["secrets"].setdefault(name, {})[key] = {
            "digest": digest,
            "updated_at": now(),
            "deployed": False,
        }
    apply_secrets(x, name, app)


def cmd_secrets_unset(x: Ctx) -> None:
    name = require_app(x)
    app = get_app(x, name)
    for key in x.args:  # unsetting a secret that does not exist is not an error (appsecrets.Update)
        x.st["secrets"].get(name, {}).pop(key, None)
    apply_secrets(x, name, app)


def cmd_secrets_list(x: Ctx) -> None:
    name = require_app(x)
    app = get_app(x, name)
    rows = [
        {
            "name": k,
            "digest": s["digest"],
            "status": "Deployed" if s["deployed"] and app["machines"] else "Staged",
        }
        for k, s in sorted(x.st["secrets"].get(name, {}).items())
    ]
    if x.f("json"):
        return dump(rows)
    table(
        ("NAME", "DIGEST", "STATUS"),
        [("* " * (r["status"] == "Staged") + r["name"], r["digest"], r["status"]) for r in rows],
    )
    staged = sum(r["status"] == "Staged" for r in rows)
    if staged:
        out(
            f"There {'is' if staged == 1 else 'are'} {staged} secret{'s' * (staged > 1)} not deployed. Deploy with "
            "`fly secrets deploy` to make them available."
        )
