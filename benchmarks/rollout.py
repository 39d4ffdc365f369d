"""Benchmark: rollouts on a Docker host over SSH, under constant load, on the integration harness.

Measures, in one run (real Pulumi engine, real dockerd reached over real SSH, real registry):
  1. failed requests during a tag rollout through `pulumi up` (proxy + live alias), and during a
     naive stop-then-start replace of one container publishing the port, with the request rate;
  2. the wall time of that `pulumi up` (the CLI, as ops and the workflows run it), next to the same rollout done by hand with the docker CLI
     over SSH (pull, run, wait healthy, switch the alias, drain and remove the old), as a ratio;
  3. the time from the start of `up` to its error for a never-healthy version (it never listens)
     and a crashing one (it exits at once), with the load's count of failed requests and the
     versions that answered meanwhile;
  4. where a rollout's `up` spends its time: until the engine's first step (CLI, plugins, the
     program: settings, preflight, digests), each resource step as the engine timed it, and after
     the last one;
  5. a no-op `up` of the same stack next to the `up` of an empty Python program (same engine,
     same backend kind, same virtualenv), as a ratio.
Each rollout pulls its image (it is removed from the engine first).

Run: .venv/bin/python benchmarks/rollout.py [--rounds N] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pulumi import automation as auto  # noqa: E402

from service_infra.commands import proxy  # noqa: E402
from service_infra.contract import RESTART_POLICY  # noqa: E402
from service_infra.ops import rollout as rollout_ops  # noqa: E402
from tests.support.harness import (  # noqa: E402
    DockerEngine,
    Registry,
    SshHost,
    free_port,
    wait_http,
)
from tests.support.harness.example_image import ImageVersion  # noqa: E402
from tests.support.harness.load import Load, LoadResult  # noqa: E402
from tests.support.pulumi_project import Engine, Project, Stack  # noqa: E402
from tests.support.stacks import API_KEY, deployed, ssh_stack_config  # noqa: E402
from tests.support.world import world  # noqa: E402


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


STEP_DONE = re.compile(
    r"^\s*(?P<sign>[-+~]+)?\s*(?P<type>\S+:\S+:\S+) (?P<name>\S+) (?P<op>created|updated|deleted|replaced|read)"
    r"(?:[^(]*)\((?P<seconds>[0-9.]+)s\)"
)


@dataclass
class TimedUp:
    """One `up`, each output line stamped as it arrived: where its time went."""

    seconds: float = 0.0
    first_step: float = 0.0  # until the engine started its first resource step
    last_step: float = 0.0  # until the last step ended
    steps: list[tuple[str, str, float]] = field(default_factory=list)  # (resource, op, seconds)

    @classmethod
    def run(cls, stack: Stack) -> TimedUp:
        """`pulumi up --yes --skip-preview` of STACK, as an operator or a workflow types it (the
        Automation API would add a `stack output` and a `stack history` run of the CLI after it)."""
        stamped: list[tuple[float, str]] = []
        start = time.perf_counter()
        up = stack.start_up()
        assert up.stdout is not None
        for line in up.stdout:
            stamped.append((time.perf_counter() - start, line.rstrip("\n")))
        if up.wait() != 0:
            raise RuntimeError("pulumi up failed:\n" + "\n".join(line for _, line in stamped[-40:]))
        timed = cls(seconds=time.perf_counter() - start)
        step_lines = [
            (t, line) for t, line in stamped if re.search(r"\b(creating|updating|deleting|replacing|reading) \(", line)
        ]
        timed.first_step = step_lines[0][0] if step_lines else timed.seconds
        for t, line in stamped:
            match = STEP_DONE.match(line)
            if match:
                timed.steps.append(
                    (f"{match['type'].rsplit(':', 1)[-1]} {match['name']}", match["op"], float(match["seconds"]))
                )
                timed.last_step = t
        return timed

    def report(self) -> str:
        if not self.steps:
            return f"  no step: CLI, plugins, the program and the engine's comparison  {self.seconds:6.2f}s"
        rows = [f"  until the first step (CLI, plugins, program)  {self.first_step:6.2f}s"]
        rows += [f"  {name:<44} {op:<8} {seconds:6.2f}s" for name, op, seconds in self.steps]
        rows.append(f"  after the last step (state, exit)             {self.seconds - self.last_step:6.2f}s")
        rows.append(f"  total                                         {self.seconds:6.2f}s")
        return "\n".join(rows)


def empty_program_ups(
    pulumi_engine: Engine, workdir: Path, rounds: int, *, command: tuple[str, ...] = ("up", "--yes", "--skip-preview")
) -> list[float]:
    """`up` (or COMMAND) of a Python program that declares nothing, with the same engine, toolchain
    and kind of backend: the floor any no-op `up` stands on."""
    return timed_runs(EmptyProgram(pulumi_engine, workdir / "empty"), rounds, command)


def as_a_checkout(directory: Path, pulumi_engine: Engine) -> None:
    """Make the project copy in DIRECTORY what a checkout of this project is on a workstation:
    pyproject.toml and uv.lock beside Pulumi.yaml and a .venv of its own, so that Pulumi's
    `toolchain: uv` syncs it (`uv sync --inexact`) before it runs Python, as it does for a user.
    (The test harness's copies share the repository's .venv and have no pyproject.toml.)"""
    for name in ("pyproject.toml", "uv.lock"):
        (directory / name).write_bytes((ROOT / name).read_bytes())
    venv = directory / ".venv"
    if venv.is_symlink():
        venv.unlink()
    uv = str(Path(pulumi_engine.uv_dir) / "uv")
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"}
    subprocess.run(
        [uv, "sync", "-q", "--locked", "--compile-bytecode", "--python", sys.executable],
        cwd=directory,
        env=env,
        check=True,
    )


@dataclass
class EmptyProgram:
    """A Python program that declares nothing, its state in a folder beside it. With no VENV, on
    this project's toolchain: its Pulumi.yaml options, pyproject.toml and uv.lock, in a checkout's
    own .venv (`as_a_checkout`). With VENV, as `pulumi new python` makes it: `toolchain: pip`."""

    pulumi_engine: Engine
    directory: Path
    venv: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.directory.mkdir()
        (self.directory / "__main__.py").write_text("import pulumi  # noqa: F401\n")
        if self.venv is None:
            runtime = (ROOT / "Pulumi.yaml").read_text().split("runtime:", 1)[1]
            (self.directory / "Pulumi.yaml").write_text(f"name: empty\nruntime:{runtime}")
            as_a_checkout(self.directory, self.pulumi_engine)
        else:
            (self.directory / "Pulumi.yaml").write_text(
                "name: empty\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: .venv\n"
            )
            (self.directory / ".venv").symlink_to(self.venv)
        state = self.directory.parent / f"{self.directory.name}-state"
        state.mkdir()
        self.env = {**self.pulumi_engine.env(), "PULUMI_BACKEND_URL": f"file://{state}",
                    "PULUMI_CONFIG_PASSPHRASE": "bench", "PULUMI_SKIP_UPDATE_CHECK": "true",
                    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true"}  # fmt: skip
        command = auto.PulumiCommand(root=str(Path(self.pulumi_engine.bin_dir).parent))
        stack = auto.create_or_select_stack(
            stack_name="bench",
            work_dir=str(self.directory),
            opts=auto.LocalWorkspaceOptions(env_vars=self.env, secrets_provider="passphrase", pulumi_command=command),
        )
        stack.up(color="never")  # the first one writes the stack's state

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        argv = [str(Path(self.pulumi_engine.bin_dir) / "pulumi"), *command, "--non-interactive", "--stack", "bench"]
        env = {**os.environ, **self.env}
        return subprocess.run(argv, cwd=self.directory, env=env, check=True, capture_output=True, text=True)


def timed_runs(program: EmptyProgram, rounds: int, command: tuple[str, ...]) -> list[float]:
    return [timed(lambda: program.run(*command)) for _ in range(rounds)]


def rounds_under_load(
    engine: DockerEngine,
    versions: list[ImageVersion],
    rounds: int,
    workers: int,
    port: int,
    rollout: Callable[[int, ImageVersion], object],
    first: int = 1,
) -> list[tuple[float, LoadResult]]:
    """Roll out rounds FIRST, FIRST+1, ...: v2, v1, v2, ... by the round's parity, so rounds that
    go on from earlier ones (FIRST past them) each change the version (each pulled afresh: neither
    its tag nor its digest reference is left on the engine), timing each under load on the port;
    with no WORKERS, on a quiet host."""
    results = []
    for n in range(first, first + rounds):
        version = versions[n % 2]
        for ref in (version.ref, version.digest_ref):
            engine.run("rmi", ref, check=False)
        if not workers:
            results.append((timed(lambda n=n, version=version: rollout(n, version)), LoadResult()))
            continue
        with Load(f"http://127.0.0.1:{port}/health", workers=workers, pause=0.0) as load:
            seconds = timed(lambda n=n, version=version: rollout(n, version))
        results.append((seconds, load.result))
    return results


class ByHand:
    """The docker CLI over SSH, as an operator would type it (registry login via DOCKER_CONFIG)."""

    def __init__(self, ssh_host: SshHost, registry: Registry, workdir: Path) -> None:
        self.ssh_host = ssh_host
        self.known_hosts = ssh_host.write_known_hosts(workdir / "known_hosts")
        self.env = {"DOCKER_CONFIG": str(registry.docker_config_dir)}

    def docker(self, *args: str, check: bool = True) -> str:
        return self.ssh_host.docker(*args, known_hosts_path=self.known_hosts, env=self.env, check=check).stdout

    def wait_healthy(self, name: str, proxy_name: str) -> None:
        """As the activation does: ask its health URL from the proxy until it answers."""
        url = f"http://{name}:8000/health"
        while self.ssh_host.docker(
            "exec", proxy_name, "curl", "-fsS", "-o", "/dev/null", url,
            known_hosts_path=self.known_hosts, env=self.env, check=False,
        ).returncode:  # fmt: skip
            time.sleep(rollout_ops.POLL_SECONDS)

    def remove(self, *names: str) -> None:
        self.docker("rm", "-f", *names, check=False)


def proxied_by_hand(
    by_hand: ByHand, engine: DockerEngine, versions: list[ImageVersion], proxy_ref: str, rounds: int, workers: int
) -> tuple[list[tuple[float, LoadResult]], list[tuple[float, LoadResult]]]:
    """The same design (proxy, alias switch, drain) done by hand: [(seconds, LoadResult)] under
    load, then on a quiet host."""
    port, network, proxy_name = free_port(), "bench-hand", "bench-hand-proxy"
    conf = Path(tempfile.mkdtemp()) / "nginx.conf"
    conf.write_text(proxy.nginx_conf("bench", "live", 8000))
    by_hand.docker("network", "create", network)
    by_hand.docker(
        "create", "--name", proxy_name, "--network", network, "-u", "10001:10001",
        "-p", f"127.0.0.1:{port}:{proxy.LISTEN_PORT}", "--restart", RESTART_POLICY,
        proxy_ref, *proxy.COMMAND,
    )  # fmt: skip
    by_hand.docker("cp", str(conf), f"{proxy_name}:{proxy.CONFIG_PATH}")
    by_hand.docker("start", proxy_name)
    live = ["bench-hand-0"]  # the container serving now
    by_hand.docker("run", "-d", "--name", live[0], "--network", network, versions[0].ref)
    by_hand.wait_healthy(live[0], proxy_name)
    by_hand.docker("network", "disconnect", network, live[0])
    by_hand.docker("network", "connect", "--alias", "live", network, live[0])
    wait_http(f"http://127.0.0.1:{port}/health", timeout=30)

    def rollout(n: int, version: ImageVersion) -> None:
        new = f"bench-hand-{n}"
        by_hand.docker("pull", "-q", version.ref)
        by_hand.docker("run", "-d", "--name", new, "--network", network, version.ref)
        by_hand.wait_healthy(new, proxy_name)
        by_hand.docker("network", "disconnect", network, new)
        by_hand.docker("network", "connect", "--alias", "live", network, new)
        time.sleep(rollout_ops.SETTLE_SECONDS)  # as the design does: let the proxy see it first
        by_hand.docker("stop", "--time", "30", live[0])
        by_hand.docker("rm", live[0])
        live[0] = new

    try:
        loaded = rounds_under_load(engine, versions, rounds, workers, port, rollout)
        return loaded, rounds_under_load(engine, versions, rounds, 0, port, rollout, first=rounds + 1)
    finally:
        by_hand.remove(live[0], proxy_name)
        by_hand.docker("network", "rm", network, check=False)


def naive_replace(
    by_hand: ByHand, engine: DockerEngine, versions: list[ImageVersion], rounds: int, workers: int
) -> list[tuple[float, LoadResult]]:
    """Stop the container on the port, start the new one on it: returns [(seconds, LoadResult)]."""
    port, name = free_port(), "bench-naive"
    publish = ["-p", f"127.0.0.1:{port}:8000"]
    by_hand.docker("run", "-d", "--name", name, *publish, versions[0].ref)
    wait_http(f"http://127.0.0.1:{port}/health", timeout=30)

    def rollout(_n: int, version: ImageVersion) -> None:
        by_hand.docker("pull", "-q", version.ref)
        by_hand.docker("stop", name)
        by_hand.docker("rm", name)
        by_hand.docker("run", "-d", "--name", name, *publish, version.ref)
        wait_http(f"http://127.0.0.1:{port}/health", timeout=60)

    try:
        return rounds_under_load(engine, versions, rounds, workers, port, rollout)
    finally:
        by_hand.remove(name)


def through_pulumi(
    project: Project, ctx: dict[str, Any], versions: list[ImageVersion], rounds: int, workers: int
) -> Through:
    port = free_port()
    config = ssh_stack_config(ctx["ssh_host"], ctx["registry"], ctx["example_image"], versions[0].tag, port)
    stack = project.stack("staging", config, secrets={"GHCR_TOKEN": ctx["registry"].password, "API_KEY": API_KEY})
    stack.up()

    breakdowns: list[TimedUp] = []

    def rollout(_n: int, version: ImageVersion) -> None:
        stack.set("services.llm-server.tag", version.tag)
        breakdowns.append(TimedUp.run(stack))

    results = rounds_under_load(ctx["engine"], versions, rounds, workers, port, rollout)
    loaded_breakdowns = list(breakdowns)
    breakdowns.clear()
    # Going on from the loaded rounds: a round that set the tag already running would time a no-op.
    quiet = rounds_under_load(ctx["engine"], versions, rounds, 0, port, rollout, first=rounds + 1)
    noops = [TimedUp.run(stack) for _ in range(rounds)]

    failures = [
        fail_to(stack, port, workers, version)
        for version in (ctx["example_image"].broken, ctx["example_image"].crashing)
    ]
    return Through(results, quiet, failures, loaded_breakdowns, list(breakdowns), noops)


@dataclass
class Through:
    """What the Pulumi side of the benchmark measured."""

    runs: list[tuple[float, LoadResult]]
    quiet_runs: list[tuple[float, LoadResult]]
    failures: list[tuple[str, float, LoadResult, str]]
    breakdowns: list[TimedUp]
    quiet_breakdowns: list[TimedUp]
    noops: list[TimedUp]


def fail_to(stack: Stack, port: int, workers: int, version: ImageVersion) -> tuple[str, float, LoadResult, str]:
    """`pulumi up` to a version that cannot go live, under load: (what it is, seconds to the
    error, the load's result, the error's first line)."""
    stack.set("services.llm-server.tag", version.tag)
    with Load(f"http://127.0.0.1:{port}/health", workers=workers, pause=0.0) as load:
        start = time.perf_counter()
        output, _ = stack.start_up().communicate()
        seconds = time.perf_counter() - start
    error = next((line.strip() for line in output.splitlines() if "is not healthy" in line), "")
    return version.app_version, seconds, load.result, error


def line(label: str, runs: list[tuple[float, LoadResult]]) -> str:
    times = [s for s, _ in runs]
    failed = sum(r.failed for _, r in runs)
    total = sum(r.total for _, r in runs)
    rate = statistics.mean(r.rate for _, r in runs)
    timing = f"{label:<34} time median {statistics.median(times):6.1f}s (runs: {', '.join(f'{t:.1f}' for t in times)})"
    if not total:
        return f"{timing}  (no load)"
    return (
        f"{timing}  requests {total:6d}  failed {failed:6d}  rate {rate:5.0f}/s"
        f"  longest gap without an answer {max(r.longest_gap for _, r in runs):.2f}s"
    )


def noop_report(noops: list[TimedUp], empty_ups: list[float]) -> None:
    noop = statistics.median(up.seconds for up in noops)
    empty = statistics.median(empty_ups)
    print(
        f"no-op up of the stack: median {noop:.2f}s (runs: {', '.join(f'{up.seconds:.2f}' for up in noops)});"
        f" empty program's up: median {empty:.2f}s (runs: {', '.join(f'{t:.2f}' for t in empty_ups)});"
        f" ratio {noop / empty:.2f}"
    )
    median_noop = sorted(noops, key=lambda up: up.seconds)[len(noops) // 2]
    print(f"where the median no-op up spent its time:\n{median_noop.report()}")


def noop_only(rounds: int) -> None:
    """Measure 5 alone: deploy the stack once, then its no-op ups and the empty program's."""
    with world("si-bench-") as w:
        as_a_checkout(w.project.dir, w.pulumi_engine)
        stack, _port = deployed(w.project, w.ssh_host, w.registry, w.image)
        stack.set("services.llm-server.tag", w.image.v1.tag)  # back to what runs: every up a no-op
        noops = [TimedUp.run(stack) for _ in range(rounds)]
        w.project.tear_down()
        empty_ups = empty_program_ups(w.pulumi_engine, w.workdir, rounds)
    noop_report(noops, empty_ups)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3, help="rollouts per method (alternating v2, v1)")
    parser.add_argument("--workers", type=int, default=4, help="load client threads")
    parser.add_argument("--noop-only", action="store_true", help="only measure 5 (a few minutes, not ~9)")
    args = parser.parse_args()
    if args.noop_only:
        noop_only(args.rounds)
        return

    with world("si-bench-") as w:
        as_a_checkout(w.project.dir, w.pulumi_engine)
        ctx = {"engine": w.engine, "ssh_host": w.ssh_host, "registry": w.registry, "example_image": w.image}
        versions = [w.image.v1, w.image.v2]
        by_hand = ByHand(w.ssh_host, w.registry, w.workdir)
        through = through_pulumi(w.project, ctx, versions, args.rounds, args.workers)
        w.project.tear_down()
        empty_ups = empty_program_ups(w.pulumi_engine, w.workdir, args.rounds)
        hand_runs, quiet_hand_runs = proxied_by_hand(
            by_hand, w.engine, versions, w.image.proxy_ref, args.rounds, args.workers
        )
        naive_runs = naive_replace(by_hand, w.engine, versions, args.rounds, args.workers)

    print(
        f"\nrollouts of a tag over SSH, {args.rounds} per method, {args.workers} load clients, each pulling its image"
    )
    print(line("pulumi up (proxy + live alias)", through.runs))
    print(line("by hand, same design (docker CLI)", hand_runs))
    print(line("naive stop-then-start replace", naive_runs))
    ratio = statistics.median(s for s, _ in through.runs) / statistics.median(s for s, _ in hand_runs)
    print(f"pulumi up / by hand (median wall time), under load: {ratio:.2f}")
    print("the same rollouts on a quiet host (no load; the load shares these cores):")
    print(line("pulumi up, quiet", through.quiet_runs))
    print(line("by hand, quiet", quiet_hand_runs))
    quiet = statistics.median(s for s, _ in through.quiet_runs) / statistics.median(s for s, _ in quiet_hand_runs)
    print(f"pulumi up / by hand (median wall time), quiet: {quiet:.2f}")
    for label, ups in (("under load", through.breakdowns), ("quiet", through.quiet_breakdowns)):
        median_up = sorted(ups, key=lambda up: up.seconds)[len(ups) // 2]
        print(f"where the median rollout's up spent its time, {label}:\n{median_up.report()}")
    noop_report(through.noops, empty_ups)
    for what, seconds, load, error in through.failures:
        print(
            f"{what} version: up failed {seconds:.1f}s after it started; meanwhile {load.summary()}\n"
            f"  error: {error or '(not found in the output)'}"
        )


if __name__ == "__main__":
    main()
