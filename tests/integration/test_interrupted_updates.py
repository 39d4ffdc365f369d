"""Updates that meet each other, and an update killed half-way: what a team sharing stacks and one
CI meets on the day a deploy dies. A staging stack on the harness's SSH host, rolled out under load.

`pulumi up` is SIGKILLed (its whole process group, as a CI runner that times out does) at each
point of a rollout: while the new image is pulled, right after the new container is made, during
its activation, between the activation's two network calls (the new container is then on no
network), after it went live but before the old version is stopped, and while the old version
drains. Each point is seen from outside, never waited for with a sleep: the registry's access
log, Docker's containers and events, the engine's event log (`--event-log`: the steps begun and
finished), which also tells afterwards that the kill came before that part was over, and for the
instants no event marks, the host's `docker` held at the next command (HoldingSshHost).
"""

from __future__ import annotations

import getpass
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from service_infra.boundary import LIVE_ALIAS
from service_infra.contract import LABEL_IMAGE_TAG, PROJECT
from service_infra.ops.rollout import CONTROL_DIR_PREFIX
from tests.support.harness import (
    DockerEngine,
    ExampleImage,
    HarnessError,
    HoldingSshHost,
    Registry,
    SshHost,
    wait_for,
)
from tests.support.harness.load import Load
from tests.support.leftovers import RUN_LABEL, THIS_RUN
from tests.support.pulumi_project import EventLog, Project, Step, file_backend, kill_update
from tests.support.stacks import app_containers, assert_converged, deployed, two_updates_at_once


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
    print(f"the second up was refused after {seconds:.1f}s")  # a figure, not a threshold
    assert first.returncode == 0, output
    assert not lock_files(project)
    assert_converged(stack, engine, port, example_image.v2.app_version)


@pytest.fixture(scope="module")
def holding_host(engine: DockerEngine) -> Iterator[HoldingSshHost]:
    with HoldingSshHost(engine) as host:
        yield host


class Watch:
    """What the update under test has done so far, seen from outside: the engine's event log, the
    registry's access log, Docker's events for the running version's container, and the host's
    held docker command."""

    def __init__(
        self,
        engine: DockerEngine,
        registry: Registry,
        example_image: ExampleImage,
        old: str,
        log: Path,
        host: HoldingSshHost,
    ):
        self.engine, self.image, self.old, self.host = engine, example_image, old, host
        self.events = EventLog(log)
        self.registry_log = registry.log_path
        assert self.registry_log is not None
        self.registry_offset = self.registry_log.stat().st_size
        self._event_streams: list[subprocess.Popen[str]] = []
        # Docker's events, not `docker ps` in a loop: a CLI run every 10 ms kept a core busy.
        # `docker stop` signals the container first (event "kill"), then waits up to its --time.
        self.stop_signalled = self._docker_event(f"container={old}", "event=kill")
        self.new_container_created = self._docker_event(
            f"label={RUN_LABEL}={THIS_RUN}", f"label={LABEL_IMAGE_TAG}={example_image.v2.tag}", "event=create"
        )

    def _docker_event(self, *filters: str) -> threading.Event:
        """Set once Docker reports an event that matches FILTERS (`docker events --filter`), from
        a second before now on (so none is missed while the stream connects)."""
        seen = threading.Event()
        listen = ["docker", "events", "--since", str(int(time.time()) - 1), "--format", "{{.Action}}"]
        for condition in filters:
            listen += ["--filter", condition]
        stream = subprocess.Popen(listen, env=self.engine.env(), stdout=subprocess.PIPE, text=True)
        self._event_streams.append(stream)

        def read() -> None:
            assert stream.stdout is not None
            for _ in stream.stdout:
                seen.set()

        threading.Thread(target=read, daemon=True).start()
        return seen

    def close(self) -> None:
        for stream in self._event_streams:
            stream.kill()
            stream.wait(timeout=10)

    def pulling(self) -> list[Step]:
        """The steps that pull the new version's image: begun, so the engine has recorded them as
        pending (it does before it asks the provider), and the provider is pulling."""
        return [s for s in self.events.began() if s.name == IMAGE_RESOURCE and s.op in ("create", "create-replacement")]

    def new_container(self) -> str:
        """The new version's container ('' until it is made)."""
        listing = ["ps", "-aq", "--filter", f"label={RUN_LABEL}={THIS_RUN}"]
        listing += ["--filter", f"label={LABEL_IMAGE_TAG}={self.image.v2.tag}"]
        return self.engine.run(*listing).stdout.strip()

    def new_container_made(self) -> bool:
        return self.new_container_created.is_set()

    def live(self, container: str) -> bool:
        """The container holds the live alias (the proxy sends requests to it)."""
        return any(LIVE_ALIAS in aliases for aliases in self.networks(container).values())

    def networks(self, container: str) -> dict[str, list[str]]:
        """The container's networks, each with its aliases."""
        found = json.loads(self.engine.run("inspect", container).stdout)[0]["NetworkSettings"]["Networks"] or {}
        return {name: network.get("Aliases") or [] for name, network in found.items()}

    def activating(self) -> list[Step]:
        return [s for s in self.events.began() if s.op == "create" and s.name.endswith(LIVE_SUFFIX)]

    def retiring(self) -> list[Step]:
        return [s for s in self.events.began() if s.op == "delete" and s.name.endswith(LIVE_SUFFIX)]

    def describe(self) -> str:
        """What was seen, for a failure's message."""
        assert self.registry_log is not None
        with self.registry_log.open("rb") as log:
            log.seek(self.registry_offset)
            requests = "\n".join(log.read().decode(errors="replace").splitlines()[-15:])
        began = [f"{s.op} {s.name}" for s in self.events.began()]
        finished = [f"{s.op} {s.name}" for s in self.events.finished()]
        return f"registry log:\n{requests}\nsteps begun: {began}\nsteps finished: {finished}"

    def unfinished(self, steps: list[Step]) -> list[Step]:
        done = {step.urn for step in self.events.finished()}
        return [step for step in steps if step.urn not in done]


# The command resource that puts a version live (create) and retires it (delete).
LIVE_SUFFIX = "-live"
# The service's image: pulled by its create (or create-replacement) step.
IMAGE_RESOURCE = "llm-server-image"


@dataclass(frozen=True)
class KillPoint:
    """Where in the update the SIGKILL lands: how to see it was reached, and how to tell afterwards
    that the kill came before that part was over (else the test did not test that point). HOLD:
    the docker command the host holds (never runs) so that the kill lands right before it."""

    reached: Callable[[Watch], bool]
    cut_short: Callable[[Watch], bool]
    hold: str = ""


def held(watch: Watch) -> bool:
    return bool(watch.host.held())


KILL_POINTS = {
    # The new version's image is on its way from the registry; no container of it yet. (The
    # registry's log cannot tell: the program itself asks it for the tag's digest before any step,
    # and with the layers on the engine the pull itself is over in a blink.)
    "while-the-image-is-pulled": KillPoint(
        lambda w: bool(w.pulling()), lambda w: bool(w.unfinished(w.pulling())) and not w.new_container()
    ),
    "after-the-new-container-is-made": KillPoint(Watch.new_container_made, lambda w: bool(w.new_container())),
    # The new container exists; the step that waits for its health and puts it live has begun.
    "during-activation": KillPoint(
        lambda w: w.new_container_made() and bool(w.activating()), lambda w: bool(w.unfinished(w.activating()))
    ),
    # The activation took the new container off its network to join it again with the alias:
    # it is on no network at all.
    "between-the-disconnect-and-the-connect": KillPoint(
        held, lambda w: w.networks(w.new_container()) == {}, hold="network connect --alias"
    ),
    # The new container is live; the old one still is too, until the retire step stops it.
    "after-going-live-before-the-old-version-leaves": KillPoint(
        held, lambda w: w.live(w.new_container()) and w.live(w.old), hold="container stop"
    ),
    # The old version was signalled by the retire step's `docker stop --time N`.
    "while-the-old-version-drains": KillPoint(
        lambda w: bool(w.retiring()) and w.stop_signalled.is_set(), lambda w: bool(w.unfinished(w.retiring()))
    ),
}


def control_dirs(pids: set[int]) -> list[str]:
    """The SSH control-socket folders (service_infra.ops.rollout) that processes PIDS made."""
    found = Path("/tmp").glob(f"{CONTROL_DIR_PREFIX}*")
    return [p.name for p in found if p.name.removeprefix(CONTROL_DIR_PREFIX).split("-")[0] in map(str, pids)]


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_an_update_killed_half_way_is_recovered(
    point: str,
    project: Project,
    engine: DockerEngine,
    holding_host: HoldingSshHost,
    registry: Registry,
    example_image: ExampleImage,
    tmp_path: Path,
) -> None:
    kill = KILL_POINTS[point]
    stack, port = deployed(project, holding_host, registry, example_image)
    # Everything the stack made carries this run's label (tests/support/leftovers.py).
    run_label = f"label={RUN_LABEL}={THIS_RUN}"
    for kind in ("ps", "network ls", "volume ls"):
        assert engine.run(*kind.split(), "-q", "--filter", run_label).stdout.split(), f"{kind}: nothing labelled"
    [old] = app_containers(engine)
    data = f"written before the kill at {point}"
    engine.run("exec", old, "sh", "-c", f"echo '{data}' > /data/kill-test")
    # The new version is only in the registry, so the update pulls it: neither its tag nor the
    # reference by digest an earlier pull (of another test) left is on the engine.
    for ref in (example_image.v2.ref, example_image.v2.digest_ref):
        engine.run("image", "rm", ref, check=False)

    watch = Watch(engine, registry, example_image, old, tmp_path / "events.jsonl", holding_host)
    if kill.hold:
        holding_host.hold(kill.hold)
    try:
        with Load(f"http://127.0.0.1:{port}/health") as load:
            update = stack.start_up(event_log=watch.events.path)
            try:
                try:
                    wait_for(
                        lambda: kill.reached(watch), 300, point, interval=0.01, alive=lambda: update.poll() is None
                    )
                except HarnessError as error:
                    output = update.communicate(timeout=60)[0] if update.poll() is not None else ""
                    raise AssertionError(f"{error}\n{watch.describe()}\n{output}") from None
                # The holder of the lock is alive (stopped, not gone) when recover starts: it
                # must leave the lock, and everything else, as it is.
                os.killpg(update.pid, signal.SIGSTOP)
                locks = lock_files(project)
                refused = project.recover("staging")
                assert refused.returncode != 0, refused.stdout + refused.stderr
                assert f"its process {update.pid} is still running on this host" in refused.stderr, refused.stderr
                assert lock_files(project) == locks
            finally:
                killed = kill_update(update)  # the CLI, its language host, providers and ssh
                update.communicate(timeout=30)
            assert kill.cut_short(watch), f"the update got past {point} before the kill"
            holding_host.release()  # the held command never runs
            time.sleep(3)  # the old version keeps serving after the kill
    finally:
        holding_host.release()
        watch.close()
    assert load.result.failed == 0, load.result.summary()
    assert lock_files(project), "a killed update leaves its lock"

    recovered = project.recover("staging")
    print(recovered.stdout, recovered.stderr)  # shown when the test fails
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert f"(pid {update.pid})" in recovered.stdout and "the holder is gone" in recovered.stdout, recovered.stdout
    assert "state backed up to state-backups/staging-" in recovered.stdout
    # The engine announces a step before it records the step as pending in the state, so a kill
    # in between leaves nothing pending: recover must say which it found, and converge either way.
    assert "\npending " in recovered.stdout or "no operation was left pending" in recovered.stdout, recovered.stdout
    assert not lock_files(project)

    with Load(f"http://127.0.0.1:{port}/health") as load:
        stack.up()
    assert load.result.failed == 0, load.result.summary()
    assert_converged(stack, engine, port, example_image.v2.app_version)
    [new] = app_containers(engine)
    assert engine.run("exec", new, "cat", "/data/kill-test").stdout.strip() == data
    # The killed run's SSH control folder went with the next run's.
    assert control_dirs(killed) == []


def test_a_kill_while_the_state_is_written_is_mended_once_its_holder_is_gone(
    project: Project, engine: DockerEngine, ssh_host: SshHost, registry: Registry, example_image: ExampleImage
) -> None:
    """The file:// backend writes a state file's metadata (`.attrs`) in place, so a kill between
    its creation and its content leaves it empty and the stack unreadable (FileBackend in
    service_infra/cli/recover.py). No kill can be aimed at that instant: the update is stopped
    once it holds the lock, and the file is emptied as such a kill leaves it. (A backend made with
    `?metadata=skip`, as scripts/deploy-local.sh makes it, writes no sidecar: this is one made
    without, as `pulumi login file://...` alone does.)"""
    project.env["PULUMI_BACKEND_URL"] = file_backend(project.state_dir, sidecars=True)
    stack, port = deployed(project, ssh_host, registry, example_image)
    metadata = project.state_dir / ".pulumi" / "stacks" / PROJECT / "staging.json.attrs"
    assert json.loads(metadata.read_text())["md5"]
    update = stack.start_up()
    try:
        wait_for(
            lambda: bool(lock_files(project)),
            120,
            "the update's lock",
            interval=0.01,
            alive=lambda: update.poll() is None,
        )
        os.killpg(update.pid, signal.SIGSTOP)
        metadata.write_text("")
        export = ["pulumi", "stack", "export", "--stack", "staging"]
        unreadable = subprocess.run(
            export, cwd=project.dir, env={**os.environ, **project.env}, capture_output=True, text=True
        )
        assert unreadable.returncode != 0 and "failed to load checkpoint: EOF" in unreadable.stderr, unreadable.stderr
        # While its holder lives, nothing is touched.
        refused = project.recover("staging")
        assert refused.returncode != 0
        assert f"its process {update.pid} is still running on this host" in refused.stderr, refused.stderr
        assert metadata.read_text() == ""
    finally:
        kill_update(update)
        update.communicate(timeout=30)

    recovered = project.recover("staging")
    print(recovered.stdout, recovered.stderr)  # shown when the test fails
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert f"moved {metadata} to state-backups/staging-" in recovered.stdout, recovered.stdout
    assert f"(pid {update.pid})" in recovered.stdout and "the holder is gone" in recovered.stdout
    assert not lock_files(project)
    stack.up()
    assert_converged(stack, engine, port, example_image.v2.app_version)
