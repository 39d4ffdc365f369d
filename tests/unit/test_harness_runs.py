"""A session stops and removes what a killed session's harness left (its run markers), and nothing else."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.harness import runs


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A daemon of a harness piece: a process of its own session."""
    process = subprocess.Popen(["sleep", "600"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def dead_owner(root: Path) -> Path:
    """The record folder of a session whose process has ended."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    return root / f"{ended.pid}-12345"


def test_a_gone_sessions_daemon_and_temp_dir_are_stopped_and_removed(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    root, left = tmp_path / "runs", tmp_path / "si-sshd-x"
    left.mkdir()
    (left / "sshd.log").write_text("...")
    runs.Marker(dead_owner(root) / "SshHost-1.json").write(pid=sleeper.pid, dir=str(left))

    cleaned = runs.stop_orphans(root, say=lambda _: None)

    assert [record["pid"] for record in cleaned] == [sleeper.pid]
    assert sleeper.wait(timeout=10) != 0  # signalled
    assert not left.exists()
    assert list(root.iterdir()) == []


def test_a_live_session_and_processes_it_did_not_start_are_left_alone(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    root = tmp_path / "runs"
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    mine.mkdir()
    theirs.mkdir()
    # This session's own piece: its owner (this process) is alive.
    runs.mark("Registry", root).write(pid=sleeper.pid, dir=str(mine))
    # A gone session's record of a pid that has since been reused by another process.
    reused = dead_owner(root) / "DockerEngine-1.json"
    reused.parent.mkdir(parents=True)
    start = runs.start_ticks(sleeper.pid)
    assert start is not None
    reused.write_text(json.dumps({"pid": sleeper.pid, "pid_ticks": start - 1, "dir": str(theirs)}))

    runs.stop_orphans(root, say=lambda _: None)

    assert sleeper.poll() is None
    assert mine.exists()
    assert not theirs.exists() and not reused.parent.exists()
    assert [p.name for p in root.iterdir()] == [f"{os.getpid()}-{runs.start_ticks(os.getpid())}"]


def test_start_ticks_tells_a_live_process_from_an_ended_one(sleeper: subprocess.Popen[bytes]) -> None:
    assert runs.start_ticks(sleeper.pid) is not None
    sleeper.kill()
    sleeper.wait()
    assert runs.start_ticks(sleeper.pid) is None
