"""`status`: one row per service from the host's own answers, and a host that is down is a row."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict
from typing import Any

import pytest

from service_infra.cli import rollback, status
from service_infra.ops.rollout import RolloutError
from service_infra.settings import load_stack_file
from tests.support import ROOT

LIVE, OLD, PROXY = (
    "llm-server-staging-sha-5e0a7c9-1a2b3c4d",
    "llm-server-staging-sha-4a0d3b2-9f8e7d6c",
    "llm-server-staging-proxy",
)
DIGEST = "sha256:" + "a" * 64


def container(name: str, aliases: list[str], tag: str = "sha-5e0a7c9", **state: Any) -> dict[str, Any]:
    return {
        "Name": f"/{name}",
        "RestartCount": state.pop("restarts", 0),
        "State": {"Status": "running", "StartedAt": "2026-12-06T08:00:00Z", **state},
        "Config": {"Labels": {"service-infra.image-tag": tag, "service-infra.image-digest": DIGEST}},
        "NetworkSettings": {"Networks": {"llm-server-staging": {"Aliases": aliases}}},
    }


class Host:
    """The docker CLI of one host, answering from what it runs; `down` as ssh to a dead host."""

    def __init__(
        self, documents: list[dict[str, Any]], volumes: frozenset[str] = frozenset(), down: bool = False
    ) -> None:
        self.documents, self.volumes, self.down = documents, volumes, down

    def check(self, *args: str) -> str:
        if self.down:
            raise RolloutError("`docker container ls` failed: ssh: connect to host mini port 22: Connection refused")
        if args[:2] == ("container", "ls"):
            return "\n".join(d["Name"].lstrip("/") for d in self.documents)
        assert args[:2] == ("container", "inspect"), args
        return json.dumps([d for d in self.documents if d["Name"].lstrip("/") in args[2:]])

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert args[:2] == ("volume", "inspect"), args
        return subprocess.CompletedProcess(args, 0 if args[-1] in self.volumes else 1, "", "")


@pytest.fixture
def settings() -> Any:
    return load_stack_file(ROOT / "Pulumi.staging.yaml")


def docker_row(settings: Any, host: Host, outputs: dict[str, Any] | None = None) -> status.ServiceStatus:
    (name, service), *_ = settings.docker_services().items()
    return status.service_status(name, service, settings, outputs or {}, {service.docker.host: host})  # type: ignore[dict-item]


def test_the_live_row_is_the_container_holding_the_alias_not_the_newest(settings: Any) -> None:
    host = Host([container(OLD, [], tag="sha-4a0d3b2"), container(LIVE, ["live"], restarts=2), container(PROXY, [])])
    row = docker_row(settings, host)
    assert (row.container, row.tag, row.digest, row.state, row.restarts) == (LIVE, "sha-5e0a7c9", DIGEST, "running", 2)
    assert row.proxy == f"{PROXY} running -> {LIVE}"
    assert row.problem is None


def test_a_host_that_is_down_is_a_row_that_says_so(settings: Any) -> None:
    row = docker_row(settings, Host([], down=True))
    assert row.problem is not None and "did not answer" in row.problem and "Connection refused" in row.problem
    assert "mac-mini" in row.where and not row.healthy


def test_no_live_container_and_no_proxy_are_named(settings: Any) -> None:
    row = docker_row(settings, Host([container(OLD, [])]))
    assert row.container is None and "holds the `live` alias" in (row.problem or "")
    assert row.proxy == f"{PROXY}: missing"


def test_a_service_never_deployed_has_no_url_to_probe(settings: Any) -> None:
    row = docker_row(settings, Host([container(LIVE, ["live"]), container(PROXY, [])]), outputs={})
    assert row.health_url is None and not row.healthy and "no successful update" in row.health


def test_the_outputs_come_from_the_exported_state_without_decrypting() -> None:
    deployment = {
        "resources": [
            {"type": "pulumi:providers:docker", "outputs": {}},
            {"type": "pulumi:pulumi:Stack", "outputs": {"service_urls": {"web": "http://10.0.0.2:8001"}}},
        ]
    }
    assert rollback.deployment_outputs(deployment) == {"service_urls": {"web": "http://10.0.0.2:8001"}}


def test_the_json_document_keeps_its_keys(settings: Any) -> None:
    row = docker_row(settings, Host([container(LIVE, ["live"]), container(PROXY, [])]))
    document = json.loads(json.dumps(asdict(status.StackStatus("staging", "staging", [row], []))))
    assert sorted(document) == ["environment", "lock", "lock_note", "services", "stack"]
    assert sorted(document["services"][0]) == [
        "container", "digest", "health", "health_url", "healthy", "problem", "proxy", "restarts", "service",
        "since", "state", "tag", "update", "update_by", "update_started", "volumes", "where",
    ]  # fmt: skip


def test_the_live_release_names_the_update_that_made_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def entry(version: int, tag: str, result: str) -> dict[str, Any]:
        config = {"service-infra:services": {"objectValue": {"llm-server": {"tag": tag}}}}
        environment = {"git.author": f"dev-{version}"}
        started = f"2026-12-0{version}T08:00:00.000Z"
        return {"kind": "update", "version": version, "startTime": started, "result": result, "config": config,
                "environment": environment}  # fmt: skip

    history = [entry(1, "sha-1111111", "succeeded"), entry(2, "sha-2222222", "succeeded"), entry(3, "sha-3", "failed")]
    monkeypatch.setattr(status, "run_pulumi", lambda argv: json.dumps(history))
    live = status.live_releases("staging", {})
    assert (live["llm-server"].update, live["llm-server"].tag, live["llm-server"].by) == (2, "sha-2222222", "dev-2")

    def no_backend(argv: list[str]) -> str:
        raise rollback.RollbackError("`pulumi stack history` failed: no backend")

    monkeypatch.setattr(status, "run_pulumi", no_backend)
    assert status.live_releases("staging", {}) == {}  # not read: the rows say nothing of it


def test_the_screen_fits_100_columns_and_keeps_every_word_of_a_problem() -> None:
    problem = "host mini did not answer: `docker container ls` failed: " + "ssh: connect to host port 22 " * 6
    row = status.ServiceStatus(
        "llm-server",
        "docker host mac-mini (deploy-staging@mini.tailnet-1234.ts.net)",
        health="GET http://mini.tailnet-1234.ts.net:8001/health: HTTP 200",
        healthy=True,
        tag="sha-5e0a7c9",
        digest=DIGEST,
        container=LIVE + "-with-a-long-suffix-that-goes-on-and-on-and-on",
        state="running",
        since="2026-12-06T08:00:00.123456789Z",
        restarts=0,
        proxy=f"{PROXY} running -> {LIVE}",
        volumes=["llm-server-staging-cache"],
        problem=problem,
    )
    screen = status.render(status.StackStatus("staging", "staging", [row], ["deploy@ci-runner-3 (pid 4242)"]))
    assert all(len(line) <= 100 for line in screen.splitlines()), screen
    assert " ".join(problem.split()) in " ".join(screen.split()), screen  # wrapped, not cut
    assert "sha-5e0a7c9 @ sha256:aaaaaaaaaaaa" in screen and "running since 2026-12-06 08:00:00, 0 restarts" in screen
