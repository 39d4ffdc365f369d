"""service_infra.ops.rollout against a scripted docker CLI: when a version goes live, and what a failure says."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from service_infra import settings
from service_infra.commands.docker import docker_cli
from service_infra.ops import rollout
from tests.support.mocks import load_stack_config


def state(
    health: str | None, running: bool = True, log: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any] | None:
    document: dict[str, Any] = {"State": {"Running": running, "ExitCode": 0}, "RestartCount": 0}
    if health is not None:
        document["State"]["Health"] = {"Status": health, "Log": log or []}
    document.update(extra)
    return document


class ScriptedDocker(rollout.Docker):
    """Answers `container inspect` from a list of documents (the last one repeats); records the rest."""

    def __init__(self, inspections: list[dict[str, Any] | None]) -> None:
        super().__init__(["docker", "-H", "unix:///var/run/docker.sock"])
        self.inspections = inspections
        self.calls: list[tuple[str, ...]] = []

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        if args[:2] == ("container", "inspect"):
            document = self.inspections.pop(0) if len(self.inspections) > 1 else self.inspections[0]
            if document is None:
                return subprocess.CompletedProcess(args, 1, "", "Error: No such container: x")
            return subprocess.CompletedProcess(args, 0, json.dumps([document]), "")
        return subprocess.CompletedProcess(args, 0, "", "")

    def commands(self) -> list[tuple[str, ...]]:
        return [c for c in self.calls if c[:2] != ("container", "inspect")]


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollout.time, "sleep", lambda _s: None)


def activate(docker: ScriptedDocker, timeout: float = 60) -> dict[str, object]:
    return rollout.activate(
        docker, "llm-server", "sha-4a0d3b2", "llm-server-prod-v2", "llm-server-prod", "live", timeout
    )


def test_goes_live_only_once_healthy() -> None:
    joined: dict[str, Any] = {"NetworkSettings": {"Networks": {"llm-server-prod": {"Aliases": ["abc123"]}}}}
    docker = ScriptedDocker([state("starting", NetworkSettings=joined["NetworkSettings"]), state("healthy", **joined)])
    result = activate(docker)
    assert docker.commands() == [
        ("network", "disconnect", "llm-server-prod", "llm-server-prod-v2"),
        ("network", "connect", "--alias", "live", "llm-server-prod", "llm-server-prod-v2"),
    ]
    assert result["container"] == "llm-server-prod-v2"


def test_already_live_is_left_alone() -> None:
    live = state("healthy", NetworkSettings={"Networks": {"llm-server-prod": {"Aliases": ["live", "abc"]}}})
    docker = ScriptedDocker([live])
    activate(docker)
    assert docker.commands() == []


def test_unhealthy_is_stopped_and_named_with_the_last_health_error() -> None:
    log = [
        {"ExitCode": 0, "Output": ""},
        {"ExitCode": 7, "Output": "curl: (7) Failed to connect to 127.0.0.1 port 8000:\n Connection refused"},
    ]
    docker = ScriptedDocker([state("starting"), state("unhealthy", log=log)])
    with pytest.raises(rollout.RolloutError) as failed:
        activate(docker)
    message = str(failed.value)
    assert "service llm-server, tag sha-4a0d3b2" in message
    assert "exit 7: curl: (7) Failed to connect to 127.0.0.1 port 8000: Connection refused" in message
    assert "The running version keeps serving" in message and "services.llm-server.tag" in message
    assert docker.commands() == [("container", "stop", "--time", "5", "llm-server-prod-v2")]


def test_times_out_without_going_live(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter(range(0, 1000, 5))
    monkeypatch.setattr(rollout.time, "monotonic", lambda: float(next(ticks)))
    docker = ScriptedDocker([state("starting")])
    with pytest.raises(rollout.RolloutError, match=r"did not become healthy within 30s \(health: starting\)"):
        activate(docker, timeout=30)
    assert ("network", "connect", "--alias", "live", "llm-server-prod", "llm-server-prod-v2") not in docker.calls


def test_a_crash_looping_container_fails_fast() -> None:
    docker = ScriptedDocker([state("starting", RestartCount=3)])
    with pytest.raises(rollout.RolloutError, match="keeps exiting"):
        activate(docker)


def test_a_stopped_container_gets_one_more_start() -> None:
    docker = ScriptedDocker([state(None, running=False), state("starting"), state("healthy")])
    activate(docker)
    assert docker.commands()[0] == ("container", "start", "llm-server-prod-v2")


def test_retire_drains_then_stops_and_tolerates_a_missing_container() -> None:
    docker = ScriptedDocker([state("healthy")])
    assert "drained and stopped" in rollout.retire(docker, "llm-server-prod-v1", 30)
    assert docker.commands() == [("container", "stop", "--time", "30", "llm-server-prod-v1")]
    gone = ScriptedDocker([None])
    assert "already gone" in rollout.retire(gone, "llm-server-prod-v1", 30)
    assert gone.commands() == []


def test_docker_over_ssh_quotes_for_the_remote_shell() -> None:
    config = settings.load_settings(load_stack_config("prod"), set())
    cli = rollout.Docker(docker_cli(config.docker_hosts["mac-mini"]))
    argv = cli.argv("container", "inspect", "--format", "{{json .State}}", "name")
    assert argv[-5:] == ["container", "inspect", "--format", "'{{json .State}}'", "name"]
    local = rollout.Docker(["docker", "-H", "unix:///var/run/docker.sock"])
    assert local.argv("--format", "{{json .State}}")[-1] == "{{json .State}}"


def test_the_docker_cli_must_come_as_a_json_list() -> None:
    with pytest.raises(rollout.RolloutError, match="SERVICE_INFRA_DOCKER_CLI must hold"):
        rollout.Docker.from_environ({"SERVICE_INFRA_DOCKER_CLI": "docker -H x"})


def test_main_reports_failure_on_stderr(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SERVICE_INFRA_DOCKER_CLI", "not json")
    assert rollout.main(["retire", "--container", "x"]) == 1
    assert "SERVICE_INFRA_DOCKER_CLI must hold" in capsys.readouterr().err
