"""Which test run made a Docker object, and removing what runs that are over left behind.

A run killed half-way (a CI timeout, a failed tear-down) leaves containers, networks and volumes
with fixed names (`llm-server-prod`) on a shared engine, and the next run's stacks fail on them.
Every object the suite makes carries RUN_LABEL = `<host>:<pid>:<started>` of the run that made it
(stacks through their `labels` setting); at start, a run removes what runs that are over left.
Objects without the label are never touched: a developer's own stacks carry the program's
`service-infra.environment` label, never this one.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from service_infra.cli.recover import pid_alive
from tests.support.harness import DockerEngine

RUN_LABEL = "service-infra.test-run"
# A run on another machine that shares the engine cannot be asked whether it is alive; after this
# long it is over (no run of the suite takes a day).
OTHER_HOST_GRACE_SECONDS = 24 * 3600
# Removed in this order: a network or volume in use by a container cannot go before it.
KINDS = ("container", "network", "volume")


@dataclass(frozen=True)
class SuiteRun:
    host: str
    pid: int
    started: int

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.started}"

    @classmethod
    def parse(cls, text: str) -> SuiteRun | None:
        """The run a label value names, None when it is not one (then it is left alone)."""
        host, _, rest = text.rpartition(":")
        host, _, pid = host.rpartition(":")
        if not host or not pid.isdigit() or not rest.isdigit():
            return None
        return cls(host, int(pid), int(rest))


# This process's run: what it labels, and what it never removes.
THIS_RUN = SuiteRun(socket.gethostname(), os.getpid(), int(time.time()))


def run_is_over(
    run: SuiteRun,
    *,
    this_run: SuiteRun = THIS_RUN,
    alive: Callable[[int], bool] = pid_alive,
    now: float | None = None,
) -> bool:
    """On this host, a run is over when its process is gone; elsewhere, after the grace period."""
    if run == this_run:
        return False
    if run.host == this_run.host:
        return not alive(run.pid)
    return (time.time() if now is None else now) - run.started > OTHER_HOST_GRACE_SECONDS


@dataclass(frozen=True)
class Labelled:
    kind: str
    name: str
    run_label: str


def leftovers(objects: Iterable[Labelled], is_over: Callable[[SuiteRun], bool] = run_is_over) -> list[Labelled]:
    """The objects made by runs that are over, containers first, then networks, then volumes."""
    found = []
    for thing in objects:
        run = SuiteRun.parse(thing.run_label)
        if run is not None and is_over(run):
            found.append(thing)
    return sorted(found, key=lambda thing: (KINDS.index(thing.kind), thing.name))


def labelled_objects(engine: DockerEngine) -> list[Labelled]:
    """Every container, network and volume on the engine that carries RUN_LABEL."""
    label = '{{.Label "%s"}}' % RUN_LABEL  # noqa: UP031 - Go template braces
    listings = {
        "container": ["ps", "-a", "--format", "{{.Names}}\t" + label],
        "network": ["network", "ls", "--format", "{{.Name}}\t" + label],
        "volume": ["volume", "ls", "--format", "{{.Name}}\t" + label],
    }
    found = []
    for kind, listing in listings.items():
        out = engine.run(*listing, "--filter", f"label={RUN_LABEL}").stdout
        for line in out.splitlines():
            name, _, value = line.partition("\t")
            if name and value:
                found.append(Labelled(kind, name, value))
    return found


def remove_leftovers(engine: DockerEngine) -> list[Labelled]:
    """Remove what runs that are over left on the engine; returns what was removed."""
    return _remove(engine, leftovers(labelled_objects(engine)))


def remove_stack_objects(engine: DockerEngine) -> list[Labelled]:
    """Remove what this run's stacks made (the harness's own daemons carry no RUN_LABEL): a test's
    tear-down, so the next test's stacks do not meet its fixed names. Tests use an engine one at a
    time."""
    mine = [thing for thing in labelled_objects(engine) if thing.run_label == str(THIS_RUN)]
    return _remove(engine, sorted(mine, key=lambda thing: (KINDS.index(thing.kind), thing.name)))


def _remove(engine: DockerEngine, things: list[Labelled]) -> list[Labelled]:
    """One command per kind, in KINDS order; when it fails (one of them went meanwhile, or is in
    use), the kind's objects one by one, so the others still go."""
    remove = {"container": ["rm", "-f", "-v"], "network": ["network", "rm"], "volume": ["volume", "rm", "-f"]}
    removed = []
    for kind in KINDS:
        names = [thing.name for thing in things if thing.kind == kind]
        if not names:
            continue
        if engine.run(*remove[kind], *names, check=False).returncode == 0:
            removed += [thing for thing in things if thing.kind == kind]
        else:
            removed += [
                thing
                for thing in things
                if thing.kind == kind and engine.run(*remove[kind], thing.name, check=False).returncode == 0
            ]
    return removed


def label_args() -> list[str]:
    """`--label` for `docker run|create|network create|volume create` by a test."""
    return ["--label", f"{RUN_LABEL}={THIS_RUN}"]
