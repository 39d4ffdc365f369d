"""Benchmark: how cost grows with the number of services in a stack.

For 1, 10 and 30 Docker services (copies of one service, each on its own port, all on one SSH
host) and 1 and 5 Fly apps, measures:
  1. the program's evaluation under Pulumi mocks (tests/support/mocks.py), with the preflight's
     SSH round trips and the Docker providers it declares;
  2. on the integration harness (real Pulumi engine, real dockerd over real SSH, real registry;
     Fly through the `fly` stand-in): `pulumi preview` and a no-op `pulumi up` of the deployed
     stack, with the SSH logins the no-op `up` made.
The Docker stack grows in place (1, then 10, then 30 services); each size's first `up` is
timed too. Then the per-service cost between sizes: a cost per service that grows with the
size is super-linear.

Run: .venv/bin/python benchmarks/scale.py [--docker 1,10,30] [--fly 1,5] [--repeat 3] [--mocks-only]
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import itertools
import pstats
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service_infra.contract import PROJECT  # noqa: E402
from tests.support.harness import free_port  # noqa: E402
from tests.support.mocks import Recorder, load_stack_config, run_stack  # noqa: E402
from tests.support.pulumi_project import Stack  # noqa: E402
from tests.support.stacks import (  # noqa: E402
    API_KEY,
    FLY_SECRETS,
    fly_config,
    ssh_stack_config,
)
from tests.support.world import world  # noqa: E402

DOCKER_TEMPLATE, FLY_TEMPLATE = "llm-server", "image-descriptor"
DOCKER_PROVIDER = "pulumi:providers:docker"


def sizes(text: str) -> list[int]:
    """`1,10,30` -> [1, 10, 30]: ascending, each at least 1 (the Docker stack grows in place)."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected counts such as 1,10,30, got {text!r}") from None
    if not values or min(values) < 1 or values != sorted(set(values)):
        raise argparse.ArgumentTypeError(f"expected ascending counts of at least 1, such as 1,10,30, got {text!r}")
    return values


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--docker", type=sizes, default=[1, 10, 30], help="Docker service counts (default 1,10,30)")
    parser.add_argument("--fly", type=sizes, default=[1, 5], help="Fly app counts (default 1,5)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measure (median reported)")
    parser.add_argument("--mocks-only", action="store_true", help="only the evaluation under mocks (seconds)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def with_copies(config: dict[str, Any], template: str, count: int, ports: Sequence[int] = ()) -> dict[str, Any]:
    """CONFIG (stack config keys without the project prefix) with service TEMPLATE as COUNT
    copies `<template>-<n>` and no other service: a Docker copy on its own port from PORTS (or
    the template's port + n), a Fly copy with its own app name."""
    config = copy.deepcopy(config)
    base = config["services"][template]
    services = {}
    for n in range(1, count + 1):
        service = copy.deepcopy(base)
        if "docker" in service:
            service["docker"]["port"] = ports[n - 1] if ports else base["docker"]["port"] + n
        if "fly" in service:
            service["fly"]["app"] = f"{base['fly']['app']}-{n}"
        services[f"{template}-{n}"] = service
    config["services"] = services
    return config


def committed_staging() -> dict[str, Any]:
    """The committed staging stack's config without the project prefix and without GitHub (a
    constant cost, not a per-service one)."""
    prefix = f"{PROJECT}:"
    config = {key.removeprefix(prefix): value for key, value in load_stack_config("staging").items()}
    config.pop("github", None)
    return config


@dataclass(frozen=True)
class Timing:
    """Medians over the repeats: wall seconds, and CPU seconds of this process and the processes
    it waited for (the Pulumi CLI, language host and plugins), which other load on a shared
    machine stretches less than the wall time."""

    wall: float
    cpu: float


def cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(action: Callable[[], object], repeat: int) -> Timing:
    walls, cpus = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), cpu_seconds()
        action()
        walls.append(time.perf_counter() - start)
        cpus.append(cpu_seconds() - start_cpu)
    return Timing(statistics.median(walls), statistics.median(cpus))


@dataclass(frozen=True)
class Point:
    """One measure at one size: its timing, and what was counted alongside."""

    kind: str
    count: int
    timing: Timing
    counted: str = ""


def evaluate(config: dict[str, Any], repeat: int) -> tuple[Timing, Recorder, int]:
    """The program under mocks: its timing, the last run's recorder, and the Python function
    calls of one run (a count no other load on the machine changes)."""
    staged = {f"{PROJECT}:{key}": value for key, value in config.items()}
    run_stack(staged, "staging")  # warm-up: imports
    recorders: list[Recorder] = []
    timing = timed(lambda: recorders.append(run_stack(staged, "staging")), repeat)
    profile = cProfile.Profile()
    profile.runcall(run_stack, staged, "staging")
    return timing, recorders[-1], pstats.Stats(profile).total_calls  # type: ignore[attr-defined]


def mocks_points(docker: Sequence[int], fly: Sequence[int], repeat: int) -> list[Point]:
    base = committed_staging()
    points = []
    for kind, template, counts in (("docker", DOCKER_TEMPLATE, docker), ("fly", FLY_TEMPLATE, fly)):
        for count in counts:
            timing, recorder, calls = evaluate(with_copies(base, template, count), repeat)
            providers = sum(1 for r in recorder.resources if r.type == DOCKER_PROVIDER)
            counted = (
                f"{len(recorder.resources)} resources, {len(recorder.host_checks)} preflight ssh round trips, "
                f"{providers} docker providers, {calls} python calls"
            )
            points.append(Point(f"evaluation under mocks, {kind}", count, timing, counted))
    return points


def per_service(a: Point, b: Point, value: Callable[[Timing], float]) -> str:
    return f"{(value(b.timing) - value(a.timing)) / (b.count - a.count) * 1000:.0f}"


def curve(points: Sequence[Point]) -> list[str]:
    """The per-service cost (wall, CPU) between consecutive sizes of each measure."""
    lines = []
    for kind in dict.fromkeys(p.kind for p in points):
        series = [p for p in points if p.kind == kind]
        steps = [
            f"{a.count}->{b.count}: {per_service(a, b, lambda t: t.wall)} ms wall, "
            f"{per_service(a, b, lambda t: t.cpu)} ms cpu per service"
            for a, b in itertools.pairwise(series)
        ]
        if steps:
            lines.append(f"  {kind:<44} {'; '.join(steps)}")
    return lines


def report(points: Sequence[Point]) -> None:
    for p in points:
        print(f"{p.kind:<46} {p.count:>3}: {p.timing.wall:7.2f} s wall {p.timing.cpu:7.2f} s cpu  {p.counted}")
    print("per-service cost between sizes (growing with the size = super-linear):")
    for line in curve(points):
        print(line)


def logins(log: Path | None) -> int:
    """SSH logins sshd has accepted so far (its log, LogLevel VERBOSE)."""
    return log.read_text(errors="replace").count("Accepted publickey") if log else 0


def engine_points(docker: Sequence[int], fly: Sequence[int], repeat: int) -> list[Point]:
    points: list[Point] = []
    with world("si-bench-scale-") as w:
        ports: list[int] = []
        while len(set(ports)) < max(docker):
            ports.append(free_port())
        ports = list(dict.fromkeys(ports))
        base = ssh_stack_config(w.ssh_host, w.registry, w.image, w.image.v1.tag, ports[0])
        secrets = {"GHCR_TOKEN": w.registry.password, "API_KEY": API_KEY}
        for count in docker:
            stack = w.project.stack("staging", with_copies(base, DOCKER_TEMPLATE, count, ports), secrets)
            points.append(Point("first up, docker (grown in place)", count, timed(stack.up, 1)))
            points += no_op_points("docker", count, stack, repeat, lambda: logins(w.ssh_host.log_path))
        fly_base = fly_config("bench-image-descriptor", w.health_url)
        for count in fly:
            stack = w.project.stack("staging-fly", with_copies(fly_base, FLY_TEMPLATE, count), FLY_SECRETS)
            points.append(Point("first up, fly (grown in place)", count, timed(stack.up, 1)))
            points += no_op_points("fly", count, stack, repeat, lambda: 0)
    return points


def no_op_points(kind: str, count: int, stack: Stack, repeat: int, count_logins: Callable[[], int]) -> list[Point]:
    """`preview` and a no-op `up` of a deployed stack, each finding nothing to change, with the
    SSH logins each made."""

    def measured(action: Callable[[], object]) -> tuple[Timing, str]:
        before = count_logins()
        timing = timed(action, repeat)
        made = (count_logins() - before) / repeat
        return timing, f"{made:.0f} ssh logins" if made else ""

    preview, preview_logins = measured(lambda: stack.preview(expect_no_changes=True))
    summaries: list[Any] = []
    up, up_logins = measured(lambda: summaries.append(stack.up().summary))
    changes = summaries[-1].resource_changes or {}
    if set(changes) - {"same"}:
        raise RuntimeError(f"the no-op up of {count} {kind} services changed something: {changes}")
    unchanged = ", ".join(filter(None, [f"{changes.get('same', 0)} resources unchanged", up_logins]))
    return [
        Point(f"pulumi preview, {kind}", count, preview, preview_logins),
        Point(f"no-op pulumi up, {kind}", count, up, unchanged),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    points = mocks_points(args.docker, args.fly, args.repeat)
    if not args.mocks_only:
        points += engine_points(args.docker, args.fly, args.repeat)
    report(points)


if __name__ == "__main__":
    main()
