"""The Mac Mini reboots, Docker restarts, the app crashes: the service comes back by itself,
serving the same version, with no `pulumi up`; and the machine's other engines and network
interfaces are left exactly as they were.

The daemon is restarted on a private dockerd started for this test (never the session's engine,
which holds the registry, nor an engine the harness did not start)."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

from tests.support.harness import DockerEngine, ExampleImage, Registry, SshHost, free_port, http_get, wait_for
from tests.support.harness.docker_engine import BRIDGE_PREFIX
from tests.support.pulumi_project import Project
from tests.support.stacks import API_KEY, app_containers, ssh_stack_config

PROXY = "llm-server-staging-proxy"


def bridges(engine: DockerEngine) -> set[str]:
    """The private engine's bridges: its default one and one per network it made."""
    ids = engine.run("network", "ls", "-q", "--no-trunc", "--filter", "driver=bridge").stdout.split()
    return {engine.bridge or "", *(f"br-{network_id[:12]}" for network_id in ids)}


def links(engine_bridges: set[str] | frozenset[str] = frozenset()) -> set[tuple[str, bool]]:
    """Every network interface (name, up) but the veths of the given bridges: each container's
    veth is new after a restart; every bridge, and every other engine's veth, must stay."""
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    seen = set()
    for row in out.splitlines():
        _, name, rest = row.split(":", 2)
        name = name.strip().split("@")[0]
        if any(f"master {bridge} " in rest for bridge in engine_bridges):
            continue
        flags = rest.split("<", 1)[1].split(">", 1)[0].split(",")
        seen.add((name, "UP" in flags))
    return seen


def steady(found: set[tuple[str, bool]], engine_bridges: set[str] | frozenset[str]) -> set[tuple[str, bool]]:
    """FOUND less what other engines add and remove as their containers and networks come and go
    (veths, br-* bridges and the other private engines' own bridges: the suite's parallel workers
    each run an engine, and start and stop it), but this engine's own bridges: what a restart of
    this engine must leave as it was."""
    others = ("veth", "br-", BRIDGE_PREFIX)
    return {(name, up) for name, up in found if name in engine_bridges or not name.startswith(others)}


def version_answering(port: int) -> str | None:
    try:
        status, body = http_get(f"http://127.0.0.1:{port}/health", timeout=2)
    except OSError:
        return None
    return json.loads(body)["version"] if status == 200 else None


def seconds_until_answers(port: int, version: str, since: float) -> float:
    wait_for(lambda: version_answering(port) == version, 180, f"the service on :{port} answering {version}",
             interval=0.1)  # fmt: skip
    return time.monotonic() - since


def inspect(engine: DockerEngine, name: str) -> dict[str, Any]:
    return json.loads(engine.run("inspect", name).stdout)[0]


def test_the_service_comes_back_by_itself_after_a_daemon_restart_a_proxy_restart_and_an_app_crash(
    project: Project, registry: Registry, example_image: ExampleImage
) -> None:
    v1 = example_image.v1
    machine = links()
    with DockerEngine(use_existing=False) as engine, SshHost(engine) as host:
        port = free_port()
        config = ssh_stack_config(host, registry, example_image, v1.tag, port)
        stack = project.stack("staging", config, secrets={"GHCR_TOKEN": registry.password, "API_KEY": API_KEY})
        stack.up()
        assert version_answering(port) == v1.app_version
        (live,) = app_containers(engine)

        # A reboot of the host, as Docker sees it: the daemon stops (and its containers), and
        # starts again with the same data root.
        mine = bridges(engine)
        before = links(mine)
        stopping = time.monotonic()
        started = engine.restart()
        since_start = seconds_until_answers(port, v1.app_version, started)
        print(f"daemon restart: answered {since_start:.1f}s after dockerd started, "
              f"{time.monotonic() - stopping:.1f}s after it was stopped")  # fmt: skip
        after_restart = links(mine)
        assert steady(before, mine) <= steady(after_restart, mine), (
            "restarting the private dockerd took down or removed another interface: "
            f"{sorted(steady(before, mine) - steady(after_restart, mine))}"
        )
        assert app_containers(engine) == [live]
        assert inspect(engine, PROXY)["State"]["Running"]
        stack.preview(refresh=True, expect_no_changes=True)

        # The proxy alone restarted.
        since = time.monotonic()
        engine.run("restart", PROXY)
        print(
            f"proxy restart: answered {seconds_until_answers(port, v1.app_version, since):.1f}s after `docker restart`"
        )

        # The app crashes (its process dies, as on an OOM kill): the restart policy brings it
        # back, and the proxy finds it again by its alias.
        since = time.monotonic()
        subprocess.run(["kill", "-9", str(inspect(engine, live)["State"]["Pid"])], check=True)
        print(f"app crashed: answered {seconds_until_answers(port, v1.app_version, since):.1f}s after its process died")
        assert app_containers(engine) == [live] and inspect(engine, live)["RestartCount"] >= 1

        # `docker kill` is a stop by hand: Docker marks the container manually stopped and no
        # restart policy restarts it (moby daemon/kill.go). `docker start` brings routing back,
        # with no deploy.
        engine.run("kill", live)
        time.sleep(3)
        assert not inspect(engine, live)["State"]["Running"]
        since = time.monotonic()
        engine.run("start", live)
        print(
            f"app docker-killed: answered {seconds_until_answers(port, v1.app_version, since):.1f}s after `docker start`"
        )
        stack.preview(refresh=True, expect_no_changes=True)
        mine = bridges(engine)
        stack.destroy()
    # Compared with what the machine had, and with this engine's bridges: another engine on the
    # machine (a developer's, a parallel run) may add and remove interfaces of its own meanwhile.
    after = links()
    lost = steady(machine, set()) - steady(after, set())
    assert not lost, f"the private engine took down or removed {sorted(lost)}"
    left = sorted(name for name, _ in after - machine if name in mine)
    assert not left, f"the private engine left its bridges behind: {left}"
