"""Integration fixtures: the real Pulumi engine, a real Docker engine (local and over real SSH),
a real registry, a real S3 store for shared state, and the `fly` stand-in. A part that cannot start fails the run; nothing is skipped."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.harness import (
    DockerEngine,
    ExampleImage,
    MinioStore,
    ObjectStore,
    Registry,
    SshHost,
    exclusive,
    runs,
)
from tests.support.harness._util import tail
from tests.support.leftovers import RUN_LABEL, THIS_RUN, remove_leftovers, remove_stack_objects
from tests.support.pulumi_project import Engine, Project, ensure_pulumi
from tests.support.stacks import public_health_endpoint, state_policies, team_policies
from tests.support.world import project_env

# The modules whose tests take longest, longest test first (benchmarks/suite.py lists the slowest
# tests of a run): the parallel workers start on them, so no long test starts last.
LONGEST_FIRST = (
    "test_isolation.py",
    "test_shared_backend.py",
    "test_ssh_host.py",
    "test_interrupted_updates.py",
    "test_upgrade.py",
    "test_previews.py",
    "test_releases.py",
    "test_github.py",
    "test_mac_host_reboot.py",
    "test_local_stack.py",
)


# The fixture of the example images every worker shares (the first to need it builds them).
IMAGE_FIXTURE = "example_image"


def _needs_images(item: pytest.Item) -> bool:
    return IMAGE_FIXTURE in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.integration)

    def order(item: pytest.Item) -> tuple[bool, int]:
        """Integration tests first, the long ones before them; the seconds-long tests fill in."""
        name = Path(str(item.fspath)).name
        rank = LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
        return item.get_closest_marker("integration") is None, rank

    items.sort(key=order)
    # The first test that needs the example images builds them (minutes); the other workers would
    # wait for the archive. So the first goes first, then the integration tests that need no image
    # (the Fly stand-in's, the harness's own), which keep the other workers busy meanwhile.
    integration = [item for item in items if item.get_closest_marker("integration") is not None]
    builder = next((item for item in integration if _needs_images(item)), None)
    if builder is not None:
        image_free = [item for item in integration if not _needs_images(item)]
        early = {id(builder), *(id(item) for item in image_free)}
        items[:] = [builder, *image_free, *(item for item in items if id(item) not in early)]


# The session's parts whose logs a failing test's report ends with, by fixture name.
DAEMON_FIXTURES = ("engine", "ssh_host", "registry", "minio_store")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing integration test says why at once: its report ends with the last lines of the
    harness daemons' logs it used, and the state and last log lines of the run's containers."""
    report: pytest.TestReport = yield
    if report.failed and isinstance(item, pytest.Function):
        for name in DAEMON_FIXTURES:
            daemon = item.funcargs.get(name)
            log_path = getattr(daemon, "log_path", None)
            if log_path:
                report.sections.append((f"{name}: the last lines of {log_path}", tail(log_path, 25)))
        engine = item.funcargs.get("engine")
        if isinstance(engine, DockerEngine) and engine.host:
            report.sections.append(("this run's containers", containers_now(engine)))
    return report


def containers_now(engine: DockerEngine) -> str:
    """Each container this run made: name, state, and its last log lines."""
    listed = engine.run(
        "ps", "-a", "--filter", f"label={RUN_LABEL}={THIS_RUN}", "--format", "{{.Names}}\t{{.Status}}", check=False
    ).stdout
    parts = []
    for line in listed.splitlines():
        name = line.split("\t", 1)[0]
        logs = engine.run("logs", "--tail", "8", name, check=False)
        parts.append(f"{line}\n" + "".join(f"  | {row}\n" for row in (logs.stdout + logs.stderr).splitlines()[-8:]))
    return "".join(parts) or "(none)"


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A folder this run's parallel workers (pytest-xdist) share; the session's own when alone."""
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


@pytest.fixture(scope="session")
def pulumi_engine(run_dir: Path) -> Engine:
    """The Pulumi CLI, language host and plugins at the pinned versions: the official ones where
    installed, else source builds in a private Pulumi home. Found once per run: the workers take
    turns, and the later ones see the first one's answer (it links plugins into place)."""
    with exclusive(run_dir / "pulumi-engine.lock"):
        try:
            return ensure_pulumi()
        except RuntimeError as error:
            pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def engine() -> Iterator[DockerEngine]:
    # The daemons and temp dirs of an earlier, killed run (they outlive it, in sessions of their own).
    runs.stop_orphans()
    with DockerEngine() as docker_engine:
        workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
        if workers > 1 and not docker_engine.private:
            pytest.fail(
                f"{workers} parallel workers would share the Docker engine at {docker_engine.host}, and their "
                "stacks' fixed names would clash: run one worker (SERVICE_INFRA_TEST_WORKERS=1 scripts/test.sh), "
                "or, as root on Linux, give each its own engine (SERVICE_INFRA_TEST_PRIVATE_DOCKERD=1)",
                pytrace=False,
            )
        # What an earlier run of the suite left when it was killed (its fixed names would clash).
        for thing in remove_leftovers(docker_engine):
            print(f"removed {thing.kind} {thing.name}, left by test run {thing.run_label}")
        yield docker_engine


@pytest.fixture(scope="session")
def ssh_host(engine: DockerEngine) -> Iterator[SshHost]:
    with SshHost(engine) as host:
        yield host


@pytest.fixture(scope="session")
def registry(engine: DockerEngine) -> Iterator[Registry]:
    with Registry(engine) as running:
        yield running


@pytest.fixture(scope="session")
def example_image(engine: DockerEngine, registry: Registry) -> Iterator[ExampleImage]:
    # Each worker has its own engine; the first builds the images, the others (and later runs)
    # load them from the machine's cache.
    with ExampleImage(engine, registry, owner="acme") as image:
        yield image


@pytest.fixture
def fly_state(tmp_path: Path) -> dict[str, Path]:
    return {"state": tmp_path / "fly-state.json", "log": tmp_path / "fly-argv.jsonl"}


@pytest.fixture
def object_store() -> Iterator[ObjectStore]:
    """An S3 store (moto_server) with a versioned bucket, and the keys of the CI identities holding
    only the policies docs/team.md gives: `deploy` (for the staging stack) and `preview`. One per
    test: each test's stacks and state versions are its own."""
    bucket = f"si-state-{secrets.token_hex(3)}"
    with ObjectStore(state_policies(bucket, "staging"), bucket=bucket) as store:
        yield store


@pytest.fixture
def minio_store() -> Iterator[MinioStore]:
    """MinIO over TLS with a versioned bucket under docs/team.md's bucket policy, and the keys of
    the CI identities holding its policies (`deploy` for the staging stack, `preview`): a store
    that evaluates their conditions. One per test."""
    bucket = f"si-state-{secrets.token_hex(3)}"
    policies = team_policies(bucket, "staging")
    bucket_policy = policies.pop("bucket")
    with MinioStore(policies, bucket_policy, bucket=bucket) as store:
        yield store


@contextmanager
def _project(
    pulumi_engine: Engine, engine: DockerEngine, fly_state: dict[str, Path], backend: dict[str, str] | None = None
) -> Iterator[Project]:
    # Not under pytest's tmp_path (mode 0700): the containers' non-root user reads the
    # hot-reloaded source from here.
    base = Path(tempfile.mkdtemp(prefix="si-it-"))
    base.chmod(0o755)
    backend = dict(backend or {})
    marker = runs.mark("project")
    marker.write(dir=str(base))
    env = {**project_env(pulumi_engine, engine, fly_state["state"].parent), **backend}
    project = Project(base / "project", env, pulumi_engine, backend.get("PULUMI_BACKEND_URL"))
    try:
        yield project
    finally:
        # What the test's stacks left on the engine goes by the run's label, not by `destroy`:
        # the state goes with the project folder, the stand-ins' records with the test, and the
        # tests that prove destroy run it themselves (docs/testing.md). A worker's engine serves
        # one test at a time, so all this run labelled there is this test's.
        for thing in remove_stack_objects(engine):
            print(f"removed {thing.kind} {thing.name}")
        shutil.rmtree(base, ignore_errors=True)
        marker.remove()


@pytest.fixture
def project(pulumi_engine: Engine, engine: DockerEngine, fly_state: dict[str, Path]) -> Iterator[Project]:
    with _project(pulumi_engine, engine, fly_state) as made:
        yield made


@pytest.fixture
def shared_project(
    pulumi_engine: Engine, engine: DockerEngine, fly_state: dict[str, Path], object_store: ObjectStore
) -> Iterator[Project]:
    """A project whose state is in the object store's bucket, reached with staging's deploy key."""
    backend = {"PULUMI_BACKEND_URL": object_store.backend_url, **object_store.user("deploy").env()}
    with _project(pulumi_engine, engine, fly_state, backend) as made:
        # The bucket's admin uses it first (docs/delivery.md's bootstrap: `pulumi login`), which
        # writes the backend's meta.yaml; no CI key may.
        assert object_store.admin is not None
        made.command.run(
            ["stack", "ls", "--non-interactive"],
            cwd=str(made.dir),
            additional_env={**made.env, **object_store.admin.env()},
        )
        yield made


@pytest.fixture
def public_health_url() -> Iterator[str]:
    with public_health_endpoint() as url:
        yield url
