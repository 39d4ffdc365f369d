"""Updates that meet each other, and an update killed half-way: what a team sharing stacks and one
CI meets on the day a deploy dies. A staging stack on the harness's SSH host, rolled out under load."""

from __future__ import annotations

import getpass
import os
import signal
import socket
import time

from tests.support.harness import DockerEngine, ExampleImage, Registry, SshHost
from tests.support.harness.load import Load
from tests.support.leftovers import RUN_LABEL, THIS_RUN
from tests.support.pulumi_project import Project
from tests.support.stacks import assert_converged, deployed, two_updates_at_once, wait_for_new_container


def lock_files(project: Project) -> list[str]:
    return [str(p) for p in (project.state_dir / ".pulumi" / "locks").rglob("*.json")]


def test_a_second_update_fails_fast_naming_the_first_and_the_state_stays_whole(
    project: Project, engine: DockerEngine, ssh_host: SshHost, registry: Registry, example_image: ExampleImage
) -> None:
    stack, port = deployed(project, ssh_host, registry, example_image)
    race = two_updates_at_once(stack, lambda: bool(lock_files(project)))
    first, output, second, seconds = race.first, race.first_output, race.second, race.seconds
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

    with Load(f"http://127.0.0.1:{port}/health") as load:
        update = stack.start_up()
        try:
            wait_for_new_container(engine, update, example_image.v2.tag)
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
