"""Run markers: what each test session started on this machine, so that the next session can stop
and remove what a killed one left.

A session killed half-way (a CI timeout, SIGKILL) cannot stop its harness daemons: they run in
sessions of their own (a test's killpg must never reach them), so they outlive it, and so do their
temp dirs and a private dockerd's bridges. Each piece the harness starts is recorded as one JSON
file under ``ROOT/<owner>/``, the owner being the process that started it (pid and start time):
the daemon's pid and start time, its temp dir, and for a private dockerd its bridge and subnet.
:func:`stop_orphans` stops and removes what is recorded for owners that are gone. It signals a
process only when its start time is the recorded one (a pid can be reused) and touches nothing
that is not recorded: a system dockerd or a developer's own stacks are never in a record.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Imported as a module: _util's Daemon records itself through this one.
from . import _util

# Per user: a session only ever cleans up after its own user's sessions.
ROOT = Path(os.environ.get("SERVICE_INFRA_TEST_RUNS") or f"/tmp/si-test-runs-{os.getuid()}")
STOP_TIMEOUT = 40.0


def start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot); None when there is no such live process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
    if fields[0] in ("Z", "X"):  # a zombie is over, whether or not its parent reaped it
        return None
    return int(fields[19])


def _owner_dir(root: Path, pid: int) -> Path:
    return root / f"{pid}-{start_ticks(pid)}"


@dataclass
class Marker:
    """The record of one piece this process started; rewritten as the piece learns more of itself."""

    path: Path

    def write(self, **record: Any) -> None:
        pid = record.get("pid")
        if pid is not None:
            record["pid_ticks"] = start_ticks(int(pid))
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(record))
        partial.replace(self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # other pieces of the session are still recorded
            self.path.parent.rmdir()


def mark(kind: str, root: Path | None = None) -> Marker:
    """A new record, owned by this process, for a piece of kind KIND it starts."""
    directory = _owner_dir(root or ROOT, os.getpid())
    return Marker(directory / f"{kind}-{secrets.token_hex(4)}.json")


def _owner_gone(directory: Path) -> bool:
    pid, _, ticks = directory.name.partition("-")
    if not pid.isdigit():
        return False  # not a record of ours: left alone
    return str(start_ticks(int(pid))) != ticks


def _stop(pid: int, ticks: int) -> None:
    """SIGTERM (a dockerd then stops its containers), then SIGKILL: only the recorded process."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 10.0)):
        if start_ticks(pid) != ticks:
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while start_ticks(pid) == ticks and time.monotonic() < deadline:
            time.sleep(0.2)


def _bridges_in(subnet: str) -> list[str]:
    """The Linux bridges of a private dockerd (its own, and its networks' br-<id>) by address."""
    network = ipaddress.ip_network(subnet)
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=False).stdout
    found = []
    for line in out.splitlines():
        words = line.split()
        ours = len(words) > 3 and words[2] == "inet" and words[1].startswith(("sidk", "br-"))
        if ours and ipaddress.ip_interface(words[3]).ip in network:
            found.append(words[1])
    return found


def _clean(record: dict[str, Any]) -> None:
    pid, ticks = record.get("pid"), record.get("pid_ticks")
    if isinstance(pid, int) and isinstance(ticks, int):
        _stop(pid, ticks)
    bridges = set(_bridges_in(record["subnet"])) if record.get("subnet") else set()
    if record.get("bridge"):
        bridges.add(record["bridge"])
    for bridge in sorted(bridges):
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)
    if record.get("dir"):
        _util.remove_tree(Path(record["dir"]))


def stop_orphans(root: Path | None = None, say: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Stop and remove what sessions that are gone left; returns their records. One caller at a
    time (the suite's parallel workers all look at once)."""
    with _util.machine_wide("orphans"):
        return _stop_orphans(root or ROOT, say)


def _stop_orphans(root: Path, say: Callable[[str], None]) -> list[dict[str, Any]]:
    cleaned = []
    for directory in sorted(root.glob("*-*")) if root.is_dir() else []:
        if not directory.is_dir() or not _owner_gone(directory):
            continue
        for path in sorted(directory.glob("*.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                record = {}
            _clean(record)
            say(f"stopped and removed {path.stem} (pid {record.get('pid')}, {record.get('dir')}), left by a killed run")
            path.unlink()
            cleaned.append(record)
        for partial in directory.glob("*.tmp"):
            partial.unlink()
        directory.rmdir()
    return cleaned
