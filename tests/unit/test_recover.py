"""`recover` after an interrupted update, against a scripted pulumi and docker (shaped as the
v3.259 CLI and Docker print them)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from service_infra.cli.recover import Clock, LockHolder, RecoverError, Recovery, lock_holders, why_still_held
from service_infra.settings import Settings, load_stack_file
from tests.support import ROOT

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HERE = "ci-runner-3"
STACK = "urn:pulumi:staging::service-infra::service-infra:environment:ServiceEnvironment$service-infra:docker_service:DockerService"
PROVIDER = (
    "urn:pulumi:staging::service-infra::service-infra:environment:ServiceEnvironment$service-infra:docker_host:DockerHost"
    "$pulumi:providers:docker::mac-mini-engine::4f6c1c2e-9d0a-4f1e-8a53-0d1f2b9c7e11"
)
NEW = "llm-server-staging-sha-4a0d3b2-1f2e3d4c"
CONTAINER_URN = f"{STACK}$docker:index/container:Container::llm-server-sha-4a0d3b2-1f2e3d4c"
ACTIVATION_URN = f"{STACK}$command:local:Command::llm-server-sha-4a0d3b2-1f2e3d4c-live"
NETWORK_URN = f"{STACK}$docker:index/network:Network::llm-server-network"
VOLUME_URN = f"{STACK}$docker:index/volume:Volume::llm-server-llm-cache"
LOCKED = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete "
    "the lock file with `pulumi cancel`.\n"
    "  file:///var/state/.pulumi/locks/organization/service-infra/staging/5d8e.json: created by deploy@{host} "
    "(pid {pid}) at {at}\n"
)


def pending(urn: str, rtype: str, name: str = "", kind: str = "creating") -> dict[str, Any]:
    inputs = {"name": name} if name else {}
    return {"resource": {"urn": urn, "type": rtype, "inputs": inputs, "provider": PROVIDER}, "type": kind}


class Scripted:
    """pulumi and docker as a script: each call is answered by the first rule whose words it holds."""

    def __init__(
        self,
        deployment: dict[str, Any],
        rules: list[tuple[str, Callable[[], tuple[int, str, str]]]],
        *,
        readable: Callable[[], bool] = lambda: True,
    ):
        """READABLE says whether `pulumi stack export` can read the state now."""
        self.deployment = deployment
        self.rules = rules
        self.readable = readable
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        argv = list(argv)
        self.calls.append(argv)
        if argv[:3] == ["pulumi", "stack", "export"]:
            if not self.readable():
                return subprocess.CompletedProcess(argv, 255, "", "error: failed to load checkpoint: EOF\n")
            Path(argv[argv.index("--file") + 1]).write_text(json.dumps({"version": 3, "deployment": self.deployment}))
            return subprocess.CompletedProcess(argv, 0, "", "")
        line = " ".join(argv)
        for words, answer in self.rules:
            if all(word in line for word in words.split()):
                code, out, err = answer()
                if argv[:2] == ["pulumi", "refresh"] and code == 0:
                    self.refreshed()
                return subprocess.CompletedProcess(argv, code, out, err)
        if argv[:2] == ["pulumi", "refresh"]:
            self.refreshed()
        return subprocess.CompletedProcess(argv, 0, "", "")

    def refreshed(self) -> None:
        """What `refresh --clear-pending-creates` leaves: nothing pending."""
        self.deployment = {**self.deployment, "pending_operations": []}

    def pulumi_calls(self) -> list[str]:
        return [argv[1] for argv in self.calls if argv[0] == "pulumi"]

    def refreshes(self) -> list[list[str]]:
        return [argv for argv in self.calls if argv[:2] == ["pulumi", "refresh"]]


def answers(*results: tuple[int, str, str]) -> Callable[[], tuple[int, str, str]]:
    queue = list(results)
    return lambda: queue.pop(0) if len(queue) > 1 else queue[0]


def recovery(
    runner: Callable[[Sequence[str]], subprocess.CompletedProcess[str]],
    tmp_path: Path,
    *,
    alive: frozenset[int] = frozenset(),
    force: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> Recovery:
    clock = Clock(hostname=HERE, alive=lambda pid: pid in alive, now=lambda: NOW, user="deploy")
    return Recovery("staging", runner, clock=clock, force=force, backup_dir=tmp_path / "backups", say=say)


@pytest.fixture
def settings() -> Settings:
    """The committed staging stack's: its Docker host is reached over SSH with a pinned key."""
    return load_stack_file(ROOT / "Pulumi.staging.yaml")


def test_lock_holders_are_read_from_the_cli_message() -> None:
    message = LOCKED.format(host="laptop.local", pid=4242, at="2026-03-02T11:40:05Z")
    (holder,) = lock_holders(message)
    assert holder == LockHolder(
        url="file:///var/state/.pulumi/locks/organization/service-infra/staging/5d8e.json",
        user="deploy",
        host="laptop.local",
        pid=4242,
        since=datetime(2026, 3, 2, 11, 40, 5, tzinfo=UTC),
    )
    assert str(holder) == "deploy@laptop.local (pid 4242) since 2026-03-02T11:40:05+00:00"
    assert lock_holders("error: could not connect to the backend") == []


@pytest.mark.parametrize(
    ("host", "user", "pid", "age", "still"),
    [
        (HERE, "deploy", 4242, timedelta(minutes=1), False),  # this host, this user, its process is gone
        (HERE, "deploy", 7, timedelta(days=3), True),  # this host, still running, however old
        (HERE, "ops", 4242, timedelta(minutes=1), True),  # another user's: maybe another machine of this name
        ("laptop.local", "deploy", 4242, timedelta(minutes=10), True),  # elsewhere
        ("laptop.local", "deploy", 4242, timedelta(days=3), True),  # elsewhere, however old (or skewed)
        ("laptop.local", "deploy", 4242, -timedelta(hours=5), True),  # a clock ahead of this one's
    ],
)
def test_a_lock_is_stale_only_when_its_holder_is_known_to_be_gone(
    host: str, user: str, pid: int, age: timedelta, still: bool
) -> None:
    holder = LockHolder("file:///l.json", user, host, pid, NOW - age)
    clock = Clock(hostname=HERE, alive=lambda p: p == 7, now=lambda: NOW, user="deploy")
    assert (why_still_held(holder, clock) is not None) is still


def test_a_stale_lock_is_cleared_and_pending_operations_resolved(tmp_path: Path, settings: Settings) -> None:
    deployment = {
        "resources": [],
        "pending_operations": [
            pending(CONTAINER_URN, "docker:index/container:Container", NEW),
            pending(ACTIVATION_URN, "command:local:Command"),
            pending(NETWORK_URN, "docker:index/network:Network", "llm-server-staging"),
            pending(VOLUME_URN, "docker:index/volume:Volume", "llm-server-staging-llm-cache"),
            pending(f"{STACK}$docker:index/container:Container::llm-server-proxy", "docker:index/container:Container",
                    "llm-server-staging-proxy", kind="updating"),
        ],
    }  # fmt: skip
    locked = LOCKED.format(host=HERE, pid=4242, at="2026-03-02T11:59:00Z")
    runner = Scripted(
        deployment,
        [
            ("pulumi refresh", answers((255, "", locked), (255, "", locked), (0, "", ""))),
            ("pulumi preview", answers((0, "~ 1 to update, + 1 to create", ""))),
            ("container inspect", answers((0, "staging\t\n", ""))),
            ("network inspect", answers((0, "staging\t2\n", ""))),  # the proxy is attached
        ],
    )
    preview = recovery(runner, tmp_path)(settings)
    assert preview == "~ 1 to update, + 1 to create"
    # The backup first, then a refresh that meets the lock, another that sees the same lock, the
    # cancel, the state read again (the plan made anew), the refresh again, the state read once more
    # before the removal, the preview.
    assert runner.pulumi_calls() == [
        "whoami", "stack", "refresh", "refresh", "cancel", "stack", "refresh", "stack", "preview"
    ]  # fmt: skip
    (backup,) = (tmp_path / "backups").iterdir()
    assert backup.name == "staging-20260302T120000Z.json"
    assert json.loads(backup.read_text())["deployment"] == deployment
    assert runner.refreshes()[-1][:6] == [
        "pulumi",
        "refresh",
        "--yes",
        "--non-interactive",
        "--skip-preview",
        "--clear-pending-creates",
    ]
    # Over the stack's SSH host (pinned key), after the refresh: the new container goes, the network in
    # use and the volume (the next up adopts it, data and all) stay.
    docker = [argv for argv in runner.calls if argv[0] == "ssh"]
    assert docker and all("StrictHostKeyChecking=yes" in argv for argv in docker)
    removals = [argv for argv in docker if "rm" in argv]
    assert [argv[-3:] for argv in removals] == [["rm", "--force", NEW]]
    assert runner.calls.index(removals[0]) > runner.calls.index(runner.refreshes()[-1])
    assert not any("volume" in argv for argv in docker)


def test_an_unused_network_it_was_creating_is_removed(tmp_path: Path, settings: Settings) -> None:
    deployment = {"pending_operations": [pending(NETWORK_URN, "docker:index/network:Network", "llm-server-staging")]}
    runner = Scripted(deployment, [("network inspect", answers((0, "staging\t0", "")))])
    recovery(runner, tmp_path)(settings)
    assert runner.calls[-2][-3:] == ["network", "rm", "llm-server-staging"]


def test_what_is_not_on_the_host_or_not_this_stacks_is_left_alone(tmp_path: Path, settings: Settings) -> None:
    deployment = {
        "pending_operations": [
            pending(CONTAINER_URN, "docker:index/container:Container", NEW),
            pending(NETWORK_URN, "docker:index/network:Network", "llm-server-staging"),
        ]
    }
    runner = Scripted(
        deployment,
        [("container inspect", answers((0, "local\t", ""))), ("network inspect", answers((1, "", "No such network")))],
    )
    recovery(runner, tmp_path)(settings)
    assert not any("rm" in argv for argv in runner.calls if argv[0] == "ssh")


def test_a_live_holder_keeps_its_lock_and_nothing_changes(tmp_path: Path, settings: Settings) -> None:
    locked = LOCKED.format(host=HERE, pid=4242, at="2026-03-02T11:59:00Z")
    runner = Scripted({}, [("pulumi refresh", answers((255, "", locked)))])
    with pytest.raises(
        RecoverError, match=r"still held.*deploy@ci-runner-3 pid 4242: its process 4242 is still running"
    ):
        recovery(runner, tmp_path, alive=frozenset({4242}))(settings)
    assert runner.pulumi_calls() == ["whoami", "stack", "refresh"]  # no cancel, no second refresh


@pytest.mark.parametrize("at", ["2026-03-02T11:50:00Z", "2026-02-27T09:00:00Z"])
def test_a_lock_from_another_host_needs_force_however_old(at: str, tmp_path: Path, settings: Settings) -> None:
    locked = LOCKED.format(host="laptop.local", pid=4242, at=at)
    runner = Scripted({}, [("pulumi refresh", answers((255, "", locked), (0, "", "")))])
    with pytest.raises(RecoverError, match=r"another host, laptop\.local.*--force once you know deploy@laptop\.local"):
        recovery(runner, tmp_path)(settings)
    runner = Scripted({}, [("pulumi refresh", answers((255, "", locked), (255, "", locked), (0, "", "")))])
    recovery(runner, tmp_path, force=True)(settings)
    assert runner.pulumi_calls() == ["whoami", "stack", "refresh", "refresh", "cancel", "stack", "refresh", "preview"]


def test_once_the_lock_is_cleared_the_plan_is_made_from_the_state_then(tmp_path: Path, settings: Settings) -> None:
    """What the backup saw pending, the dead holder's, may be another update's business by the time
    its lock is cleared: only what is pending then is acted on, and a name the state holds by the
    time of the removal is left."""
    deployment = {"pending_operations": [pending(CONTAINER_URN, "docker:index/container:Container", NEW)]}
    locked = LOCKED.format(host=HERE, pid=4242, at="2026-03-02T11:59:00Z")
    runner = Scripted(
        deployment,
        [
            ("pulumi refresh", answers((255, "", locked), (255, "", locked), (0, "", ""))),
            ("container inspect", answers((0, "staging\t\n", ""))),
        ],
    )
    made = {"resources": [{"type": "docker:index/container:Container", "outputs": {"name": NEW}}]}

    def cancel_then_taken(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        if list(argv[:2]) == ["pulumi", "cancel"]:
            runner.deployment = made  # an update took the lock right after, and made the container
        return runner(argv)

    said: list[str] = []
    recovery(cancel_then_taken, tmp_path, say=said.append)(settings)
    assert "the lock is cleared: what is pending, read again" in said
    assert "no operation was left pending" in said
    assert not any("rm" in argv for argv in runner.calls if argv[0] == "ssh")


def test_an_update_that_takes_the_lock_after_its_dead_holder_keeps_it(tmp_path: Path, settings: Settings) -> None:
    dead = LOCKED.format(host=HERE, pid=4242, at="2026-03-02T11:59:00Z")
    # The dead holder's lock is gone and a new update's is there (its own lock file) by the time
    # recover would clear it.
    taken = LOCKED.format(host="laptop.local", pid=977, at="2026-03-02T11:59:59Z").replace("5d8e.json", "7a1b.json")
    runner = Scripted({}, [("pulumi refresh", answers((255, "", dead), (255, "", taken)))])
    with pytest.raises(RecoverError, match=r"another update took the lock.*deploy@laptop\.local \(pid 977\)"):
        recovery(runner, tmp_path)(settings)
    assert "cancel" not in runner.pulumi_calls()


def test_a_holder_that_ended_meanwhile_needs_no_cancel(tmp_path: Path, settings: Settings) -> None:
    dead = LOCKED.format(host=HERE, pid=4242, at="2026-03-02T11:59:00Z")
    runner = Scripted({}, [("pulumi refresh", answers((255, "", dead), (0, "", "")))])
    recovery(runner, tmp_path)(settings)
    assert runner.pulumi_calls() == ["whoami", "stack", "refresh", "refresh", "preview"]


def test_a_failed_refresh_for_another_reason_is_reported(tmp_path: Path, settings: Settings) -> None:
    runner = Scripted({}, [("pulumi refresh", answers((255, "", "error: passphrase must be set")))])
    with pytest.raises(RecoverError, match="passphrase must be set"):
        recovery(runner, tmp_path)(settings)
    assert "cancel" not in runner.pulumi_calls()


def test_lock_holders_of_a_stack_in_a_bucket_are_read_too() -> None:
    # pkg/backend/diy/lock.go names an s3:// lock by the backend URL, its query included.
    url = (
        "s3://acme-service-infra-state/.pulumi/locks/organization/service-infra/staging/5d8e.json"
        "?disableSSL=true&endpoint=store.internal%3A9000&s3ForcePathStyle=true"
    )
    message = LOCKED.replace("file:///var/state/.pulumi/locks/organization/service-infra/staging/5d8e.json", url)
    (holder,) = lock_holders(message.format(host="ci-runner-3", pid=4242, at="2026-03-02T11:40:05Z"))
    assert (holder.url, holder.user, holder.host, holder.pid) == (url, "deploy", "ci-runner-3", 4242)


class KilledMidWrite:
    """A file:// backend (the v3.259 CLI's layout) whose stack's metadata file a kill left empty,
    and the lock file of the update that was killed."""

    holder_pid = 4242

    def __init__(self, root: Path) -> None:
        self.root = root
        stacks = root / "state" / ".pulumi" / "stacks" / "service-infra"
        stacks.mkdir(parents=True)
        (stacks / "staging.json").write_text(json.dumps({"version": 3, "checkpoint": {}}))
        self.broken = stacks / "staging.json.attrs"
        self.broken.write_text("")
        (stacks / "staging.json.bak.attrs").write_text('{"md5":"G7Dzs28bSXH6Opmn1U3Ksw=="}\n')
        (stacks / "production.json.attrs").write_text("")  # another stack's: not this recovery's business
        history = root / "state" / ".pulumi" / "history" / "service-infra" / "staging"
        history.mkdir(parents=True)
        self.broken_history = history / "staging-1772452740000000000.history.json.attrs"
        self.broken_history.write_text("")
        locks = root / "state" / ".pulumi" / "locks" / "organization" / "service-infra" / "staging"
        locks.mkdir(parents=True)
        lock = {
            "pid": self.holder_pid,
            "username": "deploy",
            "hostname": HERE,
            "timestamp": "2026-03-02T11:59:00.123456789Z",
        }
        (locks / "5d8e.json").write_text(json.dumps(lock))
        (root / "Pulumi.yaml").write_text("name: service-infra\nruntime: python\n")
        self.runner = Scripted({}, [], readable=lambda: not self.broken.exists())
        self.answer_whoami(f"file://{root}/state")

    def answer_whoami(self, url: str) -> None:
        """The backend `pulumi whoami --json` names."""
        self.runner.rules = [("pulumi whoami --json", answers((0, json.dumps({"user": "deploy", "url": url}), "")))]


@pytest.fixture
def killed_mid_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KilledMidWrite:
    """The backend, with the project's folder (where recover runs) at its side."""
    monkeypatch.chdir(tmp_path)
    return KilledMidWrite(tmp_path)


def test_a_stack_a_kill_left_unreadable_is_mended_once_its_holder_is_gone(
    killed_mid_write: KilledMidWrite, tmp_path: Path, settings: Settings
) -> None:
    backend = killed_mid_write
    said: list[str] = []
    recovery(backend.runner, tmp_path, say=said.append)(settings)
    assert not backend.broken.exists()
    aside = tmp_path / "backups" / "staging-20260302T120000Z-staging.json.attrs"
    assert aside.read_text() == ""
    assert any(line.startswith(f"moved {backend.broken} to {aside}: a killed update") for line in said), said
    # The history too (rollback reads it), whose file names are the stack's own.
    assert not backend.broken_history.exists()
    assert (tmp_path / "backups" / f"staging-20260302T120000Z-{backend.broken_history.name}").exists()
    assert "locked by deploy@ci-runner-3 (pid 4242) since 2026-03-02T11:59:00.123456+00:00" in " ".join(said)
    # Only this stack's broken metadata: the backup's is whole, another stack's is not this one's.
    stacks = tmp_path / "state" / ".pulumi" / "stacks" / "service-infra"
    assert (stacks / "staging.json.bak.attrs").exists() and (stacks / "production.json.attrs").exists()
    assert backend.runner.pulumi_calls()[:3] == ["whoami", "stack", "refresh"]


def test_a_stack_unreadable_while_its_holder_lives_is_left_as_it_is(
    killed_mid_write: KilledMidWrite, tmp_path: Path, settings: Settings
) -> None:
    backend = killed_mid_write
    with pytest.raises(
        RecoverError, match="deploy@ci-runner-3 pid 4242: its process 4242 is still running on this host"
    ):
        recovery(backend.runner, tmp_path, alive=frozenset({4242}))(settings)
    assert backend.broken.exists()
    assert backend.runner.pulumi_calls() == ["whoami"]  # no export, no refresh


@pytest.mark.parametrize(
    "url", ["s3://acme-service-infra-state?endpoint=store.internal%3A9000", "file://{root}/elsewhere"]
)
def test_an_unreadable_stack_recover_cannot_mend_is_reported(
    url: str, killed_mid_write: KilledMidWrite, tmp_path: Path, settings: Settings
) -> None:
    backend = killed_mid_write
    backend.answer_whoami(url.format(root=tmp_path))
    with pytest.raises(RecoverError, match="`pulumi stack export` failed: error: failed to load checkpoint: EOF"):
        recovery(backend.runner, tmp_path)(settings)
    assert backend.broken.exists()


def test_a_lock_file_that_cannot_be_read_stops_recover_naming_it(
    killed_mid_write: KilledMidWrite, tmp_path: Path, settings: Settings
) -> None:
    backend = killed_mid_write
    (lock,) = (tmp_path / "state" / ".pulumi" / "locks").rglob("*.json")
    lock.write_text('{"pid": 4242}')
    with pytest.raises(RecoverError, match=f"the lock file {lock} cannot be read.*remove it and run recover again"):
        recovery(backend.runner, tmp_path)(settings)
    assert backend.broken.exists()


def test_a_backend_in_the_home_folder_is_found_there(
    killed_mid_write: KilledMidWrite, tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = killed_mid_write
    monkeypatch.setenv("HOME", str(tmp_path))
    backend.answer_whoami("file://~/state")
    recovery(backend.runner, tmp_path)(settings)
    assert not backend.broken.exists()


def test_a_container_the_state_holds_by_the_time_of_its_removal_is_left(tmp_path: Path, settings: Settings) -> None:
    deployment = {"pending_operations": [pending(CONTAINER_URN, "docker:index/container:Container", NEW)]}
    runner = Scripted(deployment, [("container inspect", answers((0, "staging\t\n", "")))])
    made = {"resources": [{"type": "docker:index/container:Container", "inputs": {"name": NEW}}]}

    def refresh_then_made(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        done = runner(argv)
        if list(argv[:2]) == ["pulumi", "refresh"]:
            runner.deployment = made  # an update started right after the refresh, and made it
        return done

    said: list[str] = []
    recovery(refresh_then_made, tmp_path, say=said.append)(settings)
    assert f"left container {NEW}: the stack's state holds it now (an update made it since)" in said
    assert not any("rm" in argv for argv in runner.calls if argv[0] == "ssh")
