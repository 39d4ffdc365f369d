"""Bring a stack back after an update died half-way (SIGKILL, a CI timeout, a laptop that slept).

    python -m service_infra recover --stack staging [--force]

1. Backs up the state: `pulumi stack export` to state-backups/<stack>-<UTC time>.json
   (`pulumi stack import --file` puts it back). First, in a file:// backend, a metadata file the
   dead update was killed while writing, which leaves the stack or its history unreadable (see
   FileBackend), is moved into the backup folder, once every holder of the stack's lock is gone.
2. Resolves what the dead update left pending, from that export. Whatever it was creating on a
   Docker host was never used: everything that uses a resource (the activation that puts a
   container live, a container that mounts a volume) waits for its creation to finish. So a
   container it was creating that exists on the host (found by name and the stack's environment
   label) is removed, and so is such a network when no container is attached to it; a volume is
   left as it is, since Docker adopts a volume of that name, data and all, when the next `up`
   creates it. Every pending create is then cleared; the next `up` makes them again (the
   program's operations are idempotent). The v3.259 CLI's `refresh --import-pending-creates`
   is not used: that refresh drops the imported operations instead of reading them.
3. Refreshes the state from what runs: `pulumi refresh --clear-pending-creates`, which also
   clears pending updates and deletes. When the stack is locked, the CLI names each holder
   (user@host, pid, since when); a lock is cleared (`pulumi cancel`) only when its holder is
   known to be gone: taken on this host by this user, and its pid is dead. Another host's lock,
   or another user's, needs --force, naming the holder: no clock or age says an update elsewhere
   is over. Since `cancel` clears every lock of the stack, the locks are read again right before
   it, and an update that took the lock meanwhile keeps it. Once a lock was cleared, step 2's
   plan is made again from the state as it is then. Then the removals of step 2, each skipped if
   the state (read again) now holds that name: another update made it since.
4. Ends with `pulumi preview`: what the next `up` will do.

Works with any backend the CLI does (file://, s3://, ...): it reads locks from the CLI's own
message, not from the backend's files, except in a file:// backend whose stack the CLI cannot
read (step 1). Needs the stack's passphrase, as `pulumi up` does.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from service_infra.commands.docker import docker_cli
from service_infra.contract import DOCKER_PROVIDER_SUFFIX, LABEL_ENVIRONMENT
from service_infra.ops.rollout import Docker
from service_infra.settings import Settings, SettingsError, load_stack_file, stack_file_of

BACKUP_DIR = Path("state-backups")
CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
# What `pulumi up` and friends print for each holder of a locked DIY (file://, s3://) backend stack
# (pkg/backend/diy/lock.go): "  <lock url>: created by <user>@<host> (pid <pid>) at <RFC 3339>".
_LOCK_LINE = re.compile(r"^\s*(?P<url>\S+): created by (?P<user>.*)@(?P<host>\S+) \(pid (?P<pid>\d+)\) at (?P<at>\S+)$")
_LOCKED = "the stack is currently locked"

Run = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class RecoverError(Exception):
    pass


@dataclass(frozen=True)
class LockHolder:
    url: str
    user: str
    host: str
    pid: int
    since: datetime

    def __str__(self) -> str:
        return f"{self.user}@{self.host} (pid {self.pid}) since {self.since.isoformat()}"


def lock_holders(message: str) -> list[LockHolder]:
    """The holders a locked-stack error names; [] when the message is about something else."""
    if _LOCKED not in message:
        return []
    holders = []
    for line in message.splitlines():
        match = _LOCK_LINE.match(line)
        if match:
            since = datetime.fromisoformat(match["at"].replace("Z", "+00:00"))
            holders.append(LockHolder(match["url"], match["user"], match["host"], int(match["pid"]), since))
    return holders


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@dataclass(frozen=True)
class Clock:
    """What deciding whether a holder is gone needs to know of the world (tests script it)."""

    hostname: str = field(default_factory=socket.gethostname)
    alive: Callable[[int], bool] = pid_alive
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    # The name Pulumi writes in a lock (Go's user.Current(): the uid's passwd entry, not $USER).
    user: str = field(default_factory=lambda: pwd.getpwuid(os.getuid()).pw_name)


def why_still_held(holder: LockHolder, clock: Clock) -> str | None:
    """Why the holder may still be running (then its lock stays); None when it is known to be
    gone: its lock was taken here, by this user, and its process is dead. Anything else takes
    --force: a lock's age proves nothing (clocks are skewed, updates run long), and another
    machine may share this one's name."""
    if holder.host != clock.hostname:
        return (
            f"it runs on another host, {holder.host}, where this machine cannot see its process: ask there, "
            f"and pass --force once you know {holder.user}@{holder.host}'s pid {holder.pid} is gone"
        )
    if holder.user != clock.user:
        return (
            f"it is user {holder.user}'s, not yours ({clock.user}): pass --force once you know pid {holder.pid} is gone"
        )
    if clock.alive(holder.pid):
        return f"its process {holder.pid} is still running on this host: wait for it, or stop it"
    return None


@dataclass(frozen=True)
class FileBackend:
    """The part of a file:// backend's folder that holds one stack.

    gocloud's fileblob (v0.46, under the v3.259 CLI) replaces an object atomically (a temp file
    renamed into place) but writes its metadata file, `<object>.attrs`, in place: created empty,
    then filled. A CLI killed in between leaves it empty, and every later read of the object fails
    ("failed to load checkpoint: EOF"). fileblob reads a missing metadata file as the defaults,
    and Pulumi uses none of it, so moving a broken one away mends the object, bytes unchanged.
    An s3:// backend keeps metadata with the object, so this cannot happen there.
    """

    root: Path  # the folder PULUMI_BACKEND_URL names
    project: str
    stack: str

    @classmethod
    def of(cls, run: Run, stack: str) -> FileBackend | None:
        """The stack's file:// backend, from the CLI's own answer; None for any other backend."""
        done = run(["pulumi", "whoami", "--json"])
        try:
            url = str(json.loads(done.stdout).get("url", "")) if done.returncode == 0 else ""
        except ValueError:
            url = ""
        project = Path("Pulumi.yaml")
        if not url.startswith("file://") or not project.is_file():
            return None
        name = yaml.safe_load(project.read_text()).get("name", "")
        parts = urllib.parse.urlsplit(url)
        path = urllib.parse.unquote(parts.path)
        # `file://~/state` is the user's home, as the CLI reads it (pkg/backend/diy/backend.go).
        root = Path.home() / path.lstrip("/") if parts.netloc == "~" else Path(path)
        return cls(root, str(name), stack.rsplit("/", 1)[-1])

    def broken_sidecars(self) -> list[Path]:
        """The stack's metadata files (and the backend's own) that do not hold a JSON object."""
        bookkeeping = self.root / ".pulumi"
        candidates = [
            bookkeeping / "meta.yaml.attrs",
            *(bookkeeping / "stacks" / self.project).glob(f"{self.stack}.json*.attrs"),
            *(bookkeeping / "history" / self.project / self.stack).glob("*.attrs"),
            *(bookkeeping / "backups" / self.project / self.stack).glob("*.attrs"),
        ]
        return [path for path in candidates if path.is_file() and not _json_object(path)]

    def lock_holders(self) -> list[LockHolder]:
        """The holders of the stack's lock, from the lock files (pkg/backend/diy/lock.go)."""
        holders = []
        for path in sorted(
            (self.root / ".pulumi" / "locks" / "organization" / self.project / self.stack).glob("*.json")
        ):
            try:
                lock = json.loads(path.read_text())
                since = datetime.fromisoformat(str(lock["timestamp"]).replace("Z", "+00:00"))
                holder = LockHolder(
                    path.as_uri(), str(lock["username"]), str(lock["hostname"]), int(lock["pid"]), since
                )
            except (ValueError, KeyError, TypeError) as error:
                raise RecoverError(
                    f"the lock file {path} cannot be read ({error!r}): once you know its update is gone, "
                    "remove it and run recover again"
                ) from None
            holders.append(holder)
        return holders


def _json_object(path: Path) -> bool:
    try:
        return isinstance(json.loads(path.read_text() or "null"), dict)
    except (ValueError, UnicodeDecodeError):
        return False


@dataclass(frozen=True)
class Pending:
    """One operation the dead update left pending, and what recovery does with it."""

    urn: str
    kind: str  # Pulumi's operation type: creating, updating, deleting, ...
    action: str  # remove (then clear), clear
    reason: str
    # For `remove`: the docker CLI that reaches the host, what it removes ("container",
    # "network") and its name.
    docker: tuple[str, ...] = ()
    what: str = ""
    name: str = ""

    def describe(self) -> str:
        return f"{self.kind} {self.urn.rsplit('::', 1)[-1]}: {self.action} ({self.reason})"


def _host_of(provider_ref: str) -> str | None:
    """`mini` from the reference `urn:...::mini-engine::<uuid>` to the host's Docker provider."""
    urn = provider_ref.rsplit("::", 1)[0]
    name = urn.rsplit("::", 1)[-1]
    return name.removesuffix(DOCKER_PROVIDER_SUFFIX) if name.endswith(DOCKER_PROVIDER_SUFFIX) else None


def plan_pending(deployment: Mapping[str, Any], settings: Settings, run: Run) -> list[Pending]:
    """What to do with each pending operation of the exported DEPLOYMENT, having looked (read-only)
    at the Docker hosts for what the dead update was creating."""
    plan = []
    for operation in deployment.get("pending_operations") or []:
        resource, kind = operation.get("resource") or {}, str(operation.get("type", ""))
        urn, rtype = str(resource.get("urn", "")), str(resource.get("type", ""))
        if kind != "creating":
            plan.append(Pending(urn, kind, "clear", "the refresh reads what is there now"))
            continue
        name = str((resource.get("inputs") or {}).get("name", ""))
        host = _host_of(str(resource.get("provider", "")))
        if rtype not in (CONTAINER, NETWORK, VOLUME) or not name or host not in settings.docker_hosts:
            plan.append(Pending(urn, kind, "clear", "the next up makes it again"))
            continue
        assert host is not None
        docker = Docker(docker_cli(settings.docker_hosts[host]))
        plan.append(_plan_docker_create(urn, rtype, name, settings.instance, docker, run))
    return plan


def _plan_docker_create(urn: str, rtype: str, name: str, tier: str, docker: Docker, run: Run) -> Pending:
    kind = "creating"
    if rtype == VOLUME:
        return Pending(urn, kind, "clear", "a volume is kept: the next up adopts it, data and all")
    what = "container" if rtype == CONTAINER else "network"
    labels, users = ("Config.Labels", "") if rtype == CONTAINER else ("Labels", "{{len .Containers}}")
    template = '{{index .%s "%s"}}\t%s' % (labels, LABEL_ENVIRONMENT, users)  # noqa: UP031 - Go braces
    done = run(docker.argv(what, "inspect", "--format", template, name))
    if done.returncode != 0:
        return Pending(urn, kind, "clear", "it is not on the host")
    environment, attached = [*done.stdout.strip().split("\t"), ""][:2]
    if environment != tier:
        return Pending(urn, kind, "clear", f"the {what} {name} on the host is not this {tier} stack's: left alone")
    if attached not in ("", "0"):
        return Pending(urn, kind, "clear", f"containers use the {what} {name}: left alone")
    return Pending(urn, kind, "remove", "it never served: the next up makes it again", tuple(docker.prefix), what, name)


@dataclass
class Recovery:
    stack: str
    run: Run
    clock: Clock = field(default_factory=Clock)
    force: bool = False
    backup_dir: Path = BACKUP_DIR
    say: Callable[[str], None] = print

    def pulumi(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(["pulumi", *args, "--stack", self.stack])

    def checked(self, *args: str) -> str:
        done = self.pulumi(*args)
        if done.returncode != 0:
            raise RecoverError(f"`pulumi {' '.join(args[:2])}` failed: {(done.stderr or done.stdout).strip()}")
        return done.stdout

    def backup(self) -> tuple[Path, dict[str, Any]]:
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        stamp = self.clock.now().strftime("%Y%m%dT%H%M%SZ")
        path = self.backup_dir / f"{self.stack}-{stamp}.json"
        self.mend_file_backend(stamp)
        self.checked("stack", "export", "--file", str(path))
        self.say(f"state backed up to {path} (restore: pulumi stack import --stack {self.stack} --file {path})")
        return path, json.loads(path.read_text())

    def mend_file_backend(self, stamp: str) -> None:
        """Moves aside the metadata files a killed CLI left unreadable in a file:// backend, once
        every holder of the stack's lock is gone (else RecoverError)."""
        backend = FileBackend.of(self.run, self.stack)
        broken = backend.broken_sidecars() if backend else []
        if not backend or not broken:
            return
        holders = backend.lock_holders()
        if holders:
            self.judge(holders)
        for sidecar in broken:
            aside = self.backup_dir / f"{self.stack}-{stamp}-{sidecar.name}"
            shutil.move(sidecar, aside)  # the backend may be on another file system
            self.say(
                f"moved {sidecar} to {aside}: a killed update left this metadata file of the backend unreadable, "
                "and with it the stack"
            )

    def stale_locks(self, message: str) -> set[str]:
        """The locks MESSAGE names, when every holder is gone (or --force); else RecoverError."""
        holders = lock_holders(message)
        if not holders:
            raise RecoverError(message.strip())
        self.judge(holders)
        return {holder.url for holder in holders}

    def judge(self, holders: Sequence[LockHolder]) -> None:
        """Returns when every holder is gone (or --force); else RecoverError."""
        for holder in holders:
            self.say(f"locked by {holder} ({holder.url})")
        still = [(h, why) for h in holders if (why := why_still_held(h, self.clock))]
        if still and not self.force:
            lines = "; ".join(f"{holder.user}@{holder.host} pid {holder.pid}: {why}" for holder, why in still)
            raise RecoverError(f"the lock of {self.stack} is still held, so it stays: {lines}")
        self.say("the holder is gone" if not still else "--force: the lock will be cleared")

    def refresh(self, on_unlocked: Callable[[], None] = lambda: None) -> None:
        """`pulumi refresh --clear-pending-creates`; ON_UNLOCKED runs once a lock was cleared,
        before the refresh that follows."""
        args = ("refresh", "--yes", "--non-interactive", "--skip-preview", "--clear-pending-creates")
        done = self.pulumi(*args)
        if _locked(done):
            stale = self.stale_locks(done.stderr + done.stdout)
            # `pulumi cancel` clears every lock of the stack: an update that started since the
            # holders were judged must not lose its own. So look again right before clearing.
            done = self.pulumi(*args)
            if _locked(done):
                now = {holder.url for holder in lock_holders(done.stderr + done.stdout)}
                if now != stale:
                    new = ", ".join(str(h) for h in lock_holders(done.stderr + done.stdout) if h.url not in stale)
                    raise RecoverError(
                        f"another update took the lock of {self.stack} meanwhile ({new}): the lock stays; "
                        "run recover again once it is over"
                    )
                self.say("clearing the lock (pulumi cancel)")
                self.checked("cancel", "--yes")
                on_unlocked()
                done = self.pulumi(*args)
        if done.returncode != 0:
            raise RecoverError(f"`pulumi refresh` failed: {(done.stderr or done.stdout).strip()}")
        self.say("state refreshed from what runs")

    def export(self) -> dict[str, Any]:
        """The stack's state as it is now (not kept: the backup is step 1's)."""
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "state.json"
            self.checked("stack", "export", "--file", str(path))
            return json.loads(path.read_text())

    def remove_never_used(self, plan: Sequence[Pending]) -> None:
        held = (
            names_in_state(self.export().get("deployment") or {}) if any(p.action == "remove" for p in plan) else set()
        )
        for pending in plan:
            if pending.action != "remove":
                continue
            if pending.name in held:
                self.say(
                    f"left {pending.what} {pending.name}: the stack's state holds it now (an update made it since)"
                )
                continue
            remove = ["rm", "--force"] if pending.what == "container" else ["network", "rm"]
            done = self.run(Docker(pending.docker).argv(*remove, pending.name))
            if done.returncode != 0:
                raise RecoverError(f"could not remove {pending.what} {pending.name}: {done.stderr.strip()}")
            self.say(f"removed {pending.what} {pending.name}, which the interrupted update was creating")

    def plan(self, deployment: Mapping[str, Any], settings: Settings) -> list[Pending]:
        plan = plan_pending(deployment, settings, self.run)
        for pending in plan:
            self.say(f"pending {pending.describe()}")
        if not plan:
            self.say("no operation was left pending")
        return plan

    def __call__(self, settings: Settings) -> str:
        _, exported = self.backup()
        plan = self.plan(exported.get("deployment") or {}, settings)

        def plan_again() -> None:
            # The lock was held until now: what is pending may have changed hands meanwhile.
            nonlocal plan
            self.say("the lock is cleared: what is pending, read again")
            plan = self.plan(self.export().get("deployment") or {}, settings)

        self.refresh(on_unlocked=plan_again)
        self.remove_never_used(plan)
        preview = self.checked("preview", "--non-interactive", "--diff")
        self.say(preview.rstrip())
        return preview


def names_in_state(deployment: Mapping[str, Any]) -> set[str]:
    """The names of the Docker objects the state holds, made or being made."""
    entries = [
        *(deployment.get("resources") or []),
        *(op.get("resource") or {} for op in deployment.get("pending_operations") or []),
    ]
    names = set()
    for entry in entries:
        for side in ("outputs", "inputs"):
            name = (entry.get(side) or {}).get("name")
            if isinstance(name, str):
                names.add(name)
    return names


def _locked(done: subprocess.CompletedProcess[str]) -> bool:
    return done.returncode != 0 and _LOCKED in (done.stderr + done.stdout)


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=1800)
    except FileNotFoundError:
        raise RecoverError(f"`{argv[0]}` is not on PATH: run scripts/recover.sh, which installs Pulumi") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service_infra recover", description="Recover a stack after an interrupted update."
    )
    parser.add_argument("--stack", required=True)
    parser.add_argument(
        "--force",
        action="store_true",
        help="clear the lock although its holder is not known to be gone (another host's, another user's)",
    )
    parser.add_argument("--backup-dir", type=Path, default=BACKUP_DIR, help="where the state backup goes")
    args = parser.parse_args(argv)
    try:
        settings = load_stack_file(stack_file_of(args.stack))
        recovery = Recovery(
            args.stack,
            _run,
            force=args.force,
            backup_dir=args.backup_dir,
        )
        recovery(settings)
    except (SettingsError, RecoverError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"recovered: the preview above is what `pulumi up --stack {args.stack}` will do")
    return 0


if __name__ == "__main__":
    sys.exit(main())
