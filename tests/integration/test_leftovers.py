"""A run of the suite removes what an earlier, killed run left (on the engine, and the harness's daemons
and temp dirs on this machine), and nothing else."""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from service_infra.contract import LABEL_ENVIRONMENT
from tests.support import ROOT
from tests.support.harness import DockerEngine, runs
from tests.support.leftovers import RUN_LABEL, THIS_RUN, SuiteRun, remove_leftovers


def dead_pid() -> int:
    """The pid of a process of this host that has ended."""
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


@pytest.fixture
def empty_image(engine: DockerEngine) -> Iterator[str]:
    """An image with no files: containers are only created, never started."""
    ref = f"si-empty:{secrets.token_hex(4)}"
    archive = io.BytesIO()
    tarfile.open(fileobj=archive, mode="w").close()
    subprocess.run(
        ["docker", "import", "-", ref], input=archive.getvalue(), env=engine.env(), check=True, capture_output=True
    )
    yield ref
    engine.run("rmi", "-f", ref, check=False)


def exists(engine: DockerEngine, kind: str, name: str) -> bool:
    return engine.run(kind, "inspect", name, check=False).returncode == 0


def test_what_a_killed_run_left_is_removed_and_nothing_else(engine: DockerEngine, empty_image: str) -> None:
    suffix = secrets.token_hex(3)
    killed = SuiteRun(THIS_RUN.host, dead_pid(), THIS_RUN.started - 3600)
    by_killed = ["--label", f"{RUN_LABEL}={killed}", "--label", f"{LABEL_ENVIRONMENT}=prod"]
    network, volume = f"llm-server-prod-{suffix}", f"llm-server-prod-{suffix}-cache"
    engine.run("network", "create", *by_killed, network)
    engine.run("volume", "create", *by_killed, volume)
    engine.run(
        "create", "--name", f"{network}-sha-1", *by_killed, "--network", network, "-v", f"{volume}:/data",
        empty_image, "/serve",
    )  # fmt: skip
    # A developer's own stack on the same engine: the program's labels, no run label.
    mine = f"{network}-proxy"
    engine.run("create", "--name", mine, "--label", f"{LABEL_ENVIRONMENT}=prod", empty_image, "/serve")
    # This run's own, still in use.
    ours = f"{network}-sha-2"
    engine.run("create", "--name", ours, "--label", f"{RUN_LABEL}={THIS_RUN}", empty_image, "/serve")
    try:
        removed = {(thing.kind, thing.name) for thing in remove_leftovers(engine)}
        assert {("container", f"{network}-sha-1"), ("network", network), ("volume", volume)} <= removed
        assert not {n for _, n in removed} & {mine, ours}
        assert not exists(engine, "container", f"{network}-sha-1")
        assert not exists(engine, "network", network) and not exists(engine, "volume", volume)
        assert exists(engine, "container", mine) and exists(engine, "container", ours)
        # The next run can make the fixed names again.
        engine.run("network", "create", network)
    finally:
        engine.run("rm", "-f", mine, ours, f"{network}-sha-1", check=False)
        engine.run("network", "rm", network, check=False)
        engine.run("volume", "rm", volume, check=False)


# A session that starts the harness's daemons (a private dockerd, sshd, the registry), then waits
# to be killed.
KILLED_SESSION = """
import time
from tests.support.harness import DockerEngine, Registry, SshHost
engine = DockerEngine(use_existing=False).start()
SshHost(engine).start()
Registry(engine).start()
print("started", flush=True)
time.sleep(3600)
"""


def test_what_a_killed_session_started_is_stopped_and_removed_and_nothing_else(
    engine: DockerEngine, tmp_path: Path
) -> None:
    root = tmp_path / "runs"
    # A process nobody recorded: it must outlive the clean-up.
    stranger = subprocess.Popen(["sleep", "600"], start_new_session=True)
    session = subprocess.Popen(
        [sys.executable, "-c", KILLED_SESSION],
        cwd=ROOT,
        env={**os.environ, "SERVICE_INFRA_TEST_RUNS": str(root)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert session.stdout is not None
        assert session.stdout.readline().strip() == "started", "the session could not start its daemons"
        session.kill()  # as a CI timeout does: no tear-down runs
        session.wait(timeout=30)
        records = [json.loads(path.read_text()) for path in root.glob("*/*.json")]
        assert len(records) == 3, records
        daemons = {record["pid"]: record["pid_ticks"] for record in records}
        dirs = [Path(record["dir"]) for record in records]
        [bridge] = [record["bridge"] for record in records if record.get("bridge")]
        # What the killed session started outlives it.
        assert all(runs.start_ticks(pid) == ticks for pid, ticks in daemons.items())
        assert all(path.is_dir() for path in dirs) and bridge_exists(bridge)
        # A session that is alive: this one's own record.
        mine = tmp_path / "mine"
        mine.mkdir()
        runs.mark("project", root).write(dir=str(mine))

        cleaned = runs.stop_orphans(root)

        assert sorted(record["pid"] for record in cleaned) == sorted(daemons)
        assert not any(runs.start_ticks(pid) == ticks for pid, ticks in daemons.items())
        assert not any(path.exists() for path in dirs) and not bridge_exists(bridge)
        assert mine.is_dir() and len(list(root.glob("*/*.json"))) == 1
        assert stranger.poll() is None
        assert engine.run("info", "--format", "{{.ServerVersion}}").stdout.strip()  # this session's engine
    finally:
        session.kill()
        session.wait(timeout=30)
        runs.stop_orphans(root)
        stranger.kill()
        stranger.wait()


def bridge_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True, check=False).returncode == 0
