"""The world the integration suite and the benchmarks run the program in: a Docker engine, an SSH
host on it, a registry with the example images, the Pulumi engine, the `fly` stand-in, and a
project (a copy of the program) wired to all of them."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.harness import DockerEngine, ExampleImage, Registry, SshHost
from tests.support.pulumi_project import Engine, Project, ensure_pulumi
from tests.support.stacks import FLY_STANDIN, public_health_endpoint


def project_env(pulumi_engine: Engine, engine: DockerEngine, fly_dir: Path) -> dict[str, str]:
    """What a project's runs need beside the program: the engine (and the `fly` stand-in) on PATH,
    the Docker engine, and where the stand-in keeps its state and argv log."""
    return {
        **pulumi_engine.env(str(FLY_STANDIN)),
        "DOCKER_HOST": engine.host,
        "FLY_STANDIN_STATE": str(fly_dir / "fly-state.json"),
        "FLY_STANDIN_LOG": str(fly_dir / "fly-argv.jsonl"),
    }


@dataclass(frozen=True)
class World:
    pulumi_engine: Engine
    engine: DockerEngine
    ssh_host: SshHost
    registry: Registry
    image: ExampleImage
    project: Project
    health_url: str  # a public health endpoint that answers, for the Fly apps' gates
    workdir: Path


@contextmanager
def world(prefix: str) -> Iterator[World]:
    """All of it started, a project in a temp dir; on the way out its stacks are destroyed and
    every daemon stops."""
    pulumi_engine = ensure_pulumi()
    with (
        DockerEngine() as engine,
        SshHost(engine) as ssh_host,
        Registry(engine) as registry,
        ExampleImage(engine, registry, owner="acme") as image,
        tempfile.TemporaryDirectory(prefix=prefix) as tmp,
        public_health_endpoint() as health_url,
    ):
        workdir = Path(tmp)
        workdir.chmod(0o755)  # as the suite's projects: readable by the containers' non-root user
        project = Project(workdir / "project", project_env(pulumi_engine, engine, workdir), pulumi_engine)
        try:
            yield World(pulumi_engine, engine, ssh_host, registry, image, project, health_url, workdir)
        finally:
            project.tear_down()
