"""A run of the suite removes what an earlier, killed run left on the engine, and nothing else."""

from __future__ import annotations

import io
import secrets
import subprocess
import tarfile
from collections.abc import Iterator

import pytest

from service_infra.contract import LABEL_ENVIRONMENT
from tests.support.harness import DockerEngine
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
