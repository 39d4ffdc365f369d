"""Updates that meet each other, and an update killed half-way: what a team sharing stacks and one
CI meets on the day a deploy dies. A staging stack on the harness's SSH host, rolled out under load."""

from __future__ import annotations

import getpass
import json
import os
import signal
import socket
import subprocess
import time
from typing import Any

from service_infra.contract import LABEL_IMAGE_TAG
from tests.support.harness import DockerEngine, ExampleImage, Registry, SshHost, free_port, wait_for, wait_http
from tests.support.harness.load import Load
from tests.support.leftovers import RUN_LABEL, THIS_RUN
from tests.support.pulumi_project import Project, Stack
from tests.support.stacks import API_KEY, app_containers, ssh_stack_config


def health(port: int) -> dict[str, Any]:
    _, body = wait_http(f"http://127.0.0.1:{port}/health", timeout=30)
    return json.loads(body)


def deployed(project: Project, ssh_host: SshHost, registry: Registry, example_image: ExampleImage) -> tuple[Stack, int]:
    """The staging stack, up with v1, its tag already set to v2 for the next up."""
    port = free_port()
    stack = project.stack(
        "staging",
        ssh_stack_config(ssh_host, registry, example_image, example_image.v1.tag, port),
        secrets={"GHCR_TOKEN": registry.password, "API_KEY": API_KEY},
    )
    stack.up()
    assert health(port)["version"] == example_image.v1.app_version
    stack.set("services.llm-server.tag", example_image.v2.tag)
    return stack, port


def lock_files(project: Project) -> list[str]:
    return [str(p) for p in (project.state_dir / ".pulumi" / "locks").rglob("*.json")]


def assert_converged(stack: Stack, engine: DockerEngine, port: int, version: str) -> None:
    """The configured version serves from exactly one app container, and a second up changes nothing."""
    assert health(port)["version"] == version
    assert len(app_containers(engine, all=True)) == 1, app_containers(engine, all=True)
    stack.preview(expect_no_changes=True)


def test_a_second_update_fails_fast_naming_the_first_and_the_state_stays_whole(
    project: Project, engine: DockerEngine, ssh_host: SshHost, registry: Registry, example_image: ExampleImage
) -> None:
    stack, port = deployed(project, ssh_host, registry, example_image)
    first = stack.start_up()
    try:
        wait_for(
            lambda: bool(lock_files(project)), 60, "the first up takes the lock", alive=lambda: first.poll() is None
        )
        started = time.monotonic()
        second = subprocess.run(
            ["pulumi", "up", "--yes", "--non-interactive", "--skip-preview", "--stack", "staging"],
            cwd=project.dir,
            env={**os.environ, **project.env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        seconds = time.monotonic() - started
        output, _ = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert second.returncode != 0
    # Who, where, since when: the CLI names the holder of a file:// backend's lock.
    holder = f"created by {getpass.getuser()}@{socket.gethostname()} (pid {first.pid}) at "
    assert "the stack is currently locked by 1 lock(s)" in second.stderr, second.stderr
    assert holder in second.stderr, second.stderr
    assert seconds < 30, f"the second up took {seconds:.0f}s to refuse"
    assert first.returncode == 0, output
    assert not lock_files(project)
    assert_converged(stack, engine, port, example_image.v2.app_version)


def test_an_update_killed_after_the_new_container_is_made_is_recovered(
    project: Project, engine: DockerEngine, ssh_host: SshHost, registry: Registry, example_image: ExampleImage
) -> None:
    stack, port = deployed(project, ssh_host, registry, example_image)
    # Everything the stack made carries this run's label (tests/support/leftovers.py).
    run_label = f"label={RUN_LABEL}={THIS_RUN}"
    for kind in ("ps", "network ls", "volume ls"):
        assert engine.run(*kind.split(), "-q", "--filter", run_label).stdout.split(), f"{kind}: nothing labelled"

    def new_container_made() -> bool:
        listing = ["ps", "-aq", "--filter", run_label, "--filter", f"label={LABEL_IMAGE_TAG}={example_image.v2.tag}"]
        return bool(engine.run(*listing).stdout.strip())

    with Load(f"http://127.0.0.1:{port}/health") as load:
        update = stack.start_up()
        try:
            wait_for(
                new_container_made,
                300,
                "the new version's container",
                interval=0.2,
                alive=lambda: update.poll() is None,
            )
        finally:
            os.killpg(update.pid, signal.SIGKILL)  # the CLI, its language host, providers and ssh
            update.communicate(timeout=30)
        time.sleep(3)  # the old version keeps serving after the kill
    assert load.result.failed == 0, load.result.summary()
    assert lock_files(project), "a killed update leaves its lock"

    recovered = project.recover("staging")
    print(recovered.stdout, recovered.stderr)  # shown when the test fails
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert f"(pid {update.pid})" in recovered.stdout and "the holder is gone" in recovered.stdout, recovered.stdout
    assert "state backed up to state-backups/staging-" in recovered.stdout
    assert not lock_files(project)

    with Load(f"http://127.0.0.1:{port}/health") as load:
        stack.up()
    assert load.result.failed == 0, load.result.summary()
    assert_converged(stack, engine, port, example_image.v2.app_version)
