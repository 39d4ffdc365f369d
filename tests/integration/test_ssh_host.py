"""A staging-like stack on a Docker host reached over real SSH, pulling from a real registry."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from pulumi import automation as auto

from tests.support.harness import DockerEngine, ExampleImage, Registry, SshHost, free_port, http_get, wait_http
from tests.support.harness.example_image import CRASH_MESSAGE
from tests.support.harness.load import Load
from tests.support.pulumi_project import Project
from tests.support.stacks import API_KEY, app_containers, ssh_stack_config


def health(port: int) -> dict[str, Any]:
    _, body = wait_http(f"http://127.0.0.1:{port}/health", timeout=30)
    return json.loads(body)


def put(url: str, body: bytes) -> None:
    with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=10) as response:
        assert response.status == 200


def inspect(engine: DockerEngine, name: str) -> dict[str, Any]:
    return json.loads(engine.run("inspect", name).stdout)[0]


def test_rollout_over_ssh_fails_no_request_and_keeps_the_data(
    project: Project, engine: DockerEngine, ssh_host: SshHost, registry: Registry, example_image: ExampleImage
) -> None:
    v1, v2 = example_image.v1, example_image.v2
    for version in (v1, v2):  # only the registry has them: the host must pull, with credentials
        engine.run("rmi", version.ref, check=False)
    port = free_port()
    stack = project.stack(
        "staging",
        ssh_stack_config(ssh_host, registry, example_image, v1.tag, port),
        secrets={"GHCR_TOKEN": registry.password, "API_KEY": API_KEY},
    )
    run = stack.up()
    assert health(port)["version"] == v1.app_version
    (live,) = app_containers(engine)
    assert run.outputs["containers"] == {"llm-server": live}

    proxy = inspect(engine, "llm-server-staging-proxy")
    assert proxy["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert proxy["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert proxy["Config"]["User"] == "10001:10001"
    assert proxy["State"]["Health"]["Status"] == "healthy"
    app = inspect(engine, live)
    host_config, config = app["HostConfig"], app["Config"]
    assert host_config["RestartPolicy"]["Name"] == "unless-stopped"
    assert host_config["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "3", "max-size": "10m"}}
    assert not host_config["PortBindings"]  # only the proxy publishes
    assert "host.docker.internal:host-gateway" in host_config["ExtraHosts"]
    assert config["User"] == "10001:10001"
    assert config["Labels"]["service-infra.environment"] == "staging"
    assert config["Labels"]["service-infra.image-tag"] == v1.tag
    assert f"API_KEY={API_KEY}" in config["Env"]
    # Built from examples/service/Dockerfile (python:3.11-slim): no curl inside, and it went live,
    # because its health is asked from the proxy.
    no_curl = engine.run("exec", live, "sh", "-c", "command -v curl", check=False)
    assert no_curl.returncode != 0, f"the app image carries curl: {no_curl.stdout}"
    assert config["Labels"]["org.opencontainers.image.version"] == v1.app_version
    assert "live" in app["NetworkSettings"]["Networks"]["llm-server-staging"]["Aliases"]

    stack.preview(expect_no_changes=True)  # a second run changes nothing
    stack.preview(refresh=True, expect_no_changes=True)  # nor does the engine's view after the switch

    put(f"http://127.0.0.1:{port}/api/cache/survivor", b"written before the rollout")
    stack.set("services.llm-server.tag", v2.tag)
    with Load(f"http://127.0.0.1:{port}/health") as load:
        stack.up()
    result = load.result
    assert result.failed == 0, result.summary()
    assert result.versions[v1.app_version] > 0 and result.versions[v2.app_version] > 0, result.summary()
    # Once `up` returned, only the new version answers.
    assert {health(port)["version"] for _ in range(20)} == {v2.app_version}
    (live,) = app_containers(engine, all=True)  # the old container is gone
    assert inspect(engine, live)["Config"]["Labels"]["service-infra.image-tag"] == v2.tag
    assert http_get(f"http://127.0.0.1:{port}/api/cache/survivor") == (200, b"written before the rollout")

    stack.destroy()
    assert engine.run("ps", "-a", "-q", "--filter", "label=service-infra.environment=staging").stdout.strip() == ""
    assert engine.run("volume", "ls", "-q", "--filter", "name=^llm-server-staging-cache$").stdout.strip() == ""
    assert engine.run("network", "ls", "-q", "--filter", "name=^llm-server-staging$").stdout.strip() == ""


def test_a_version_that_never_turns_healthy_leaves_the_running_one_serving(
    project: Project, engine: DockerEngine, ssh_host: SshHost, registry: Registry, example_image: ExampleImage
) -> None:
    v1, v2, broken = example_image.v1, example_image.v2, example_image.broken
    port = free_port()
    config = ssh_stack_config(ssh_host, registry, example_image, v1.tag, port)
    config["services"]["llm-server"]["docker"]["ready_timeout_seconds"] = 60
    stack = project.stack("staging", config, secrets={"GHCR_TOKEN": registry.password, "API_KEY": API_KEY})
    stack.up()
    stack.set("services.llm-server.tag", v2.tag)
    stack.up()
    (running,) = app_containers(engine)

    stack.set("services.llm-server.tag", broken.tag)
    with Load(f"http://127.0.0.1:{port}/health") as load, pytest.raises(auto.CommandError) as failed:
        stack.up()
    message = str(failed.value)
    assert f"service llm-server, tag {broken.tag}" in message, message[-3000:]
    assert "The running version keeps serving" in message, message[-3000:]
    assert "its health check failed 3 times in a row; last: GET http://" in message, message[-3000:]
    # What it printed (the server never started, so its log is empty) and one more probe of its URL.
    assert "log lines of" in message and "one more probe: GET http://" in message, message[-3000:]
    result = load.result
    assert result.failed == 0 and set(result.versions) == {v2.app_version}, result.summary()
    assert health(port)["version"] == v2.app_version
    assert app_containers(engine) == [running]  # the failed one was stopped, the old one untouched
    # The state still holds the running version as a live resource, and the outputs still name it.
    resources = (stack.stack.export_stack().deployment or {})["resources"]
    (kept,) = [r for r in resources if r.get("outputs", {}).get("name") == running]
    assert not kept.get("delete")
    assert stack.outputs()["containers"] == {"llm-server": running}
    # `status` (no passphrase) shows the version that kept serving, from the host itself.
    status = project.status("staging")
    assert status.returncode == 0, status.stdout + status.stderr
    (row,) = json.loads(status.stdout)["services"]
    assert row["healthy"] and row["tag"] == v2.tag and row["container"] == running, row
    assert row["state"] == "running" and row["restarts"] == 0 and row["proxy"].endswith(f"running -> {running}"), row
    assert row["problem"] is None and json.loads(status.stdout)["lock"] == [], status.stdout
    assert isinstance(row["update"], int) and row["update_started"] and row["update_by"], row  # v2's update
    # `logs`: the live container's log over the stack's SSH path, a secret it printed masked.
    http_get(f"http://127.0.0.1:{port}/health?probe={API_KEY}")
    logs = project.operator_command("logs", "--stack", "staging", "--service", "llm-server", "--since", "10m")
    assert logs.returncode == 0, logs.stdout + logs.stderr
    assert "GET /health?probe=[secret API_KEY]" in logs.stdout and API_KEY not in logs.stdout, logs.stdout[-2000:]
    assert f"logs of {running} on mini" in logs.stderr, logs.stderr

    # One command back to the previous known-good tag: what is still running.
    rollback = project.rollback("staging", "llm-server")
    assert f"llm-server in staging: {broken.tag} -> {v2.tag}" in rollback.stdout, rollback.stdout + rollback.stderr
    assert health(port)["version"] == v2.app_version
    # And once more: from v2 back to v1, through a normal zero-downtime rollout.
    with Load(f"http://127.0.0.1:{port}/health") as load:
        rollback = project.rollback("staging", "llm-server")
    assert f"llm-server in staging: {v2.tag} -> {v1.tag}" in rollback.stdout, rollback.stdout + rollback.stderr
    assert load.result.failed == 0, load.result.summary()
    assert health(port)["version"] == v1.app_version
    assert app_containers(engine, all=True) == [stack.outputs()["containers"]["llm-server"]]
    tag = stack.stack.get_config("service-infra:services.llm-server.tag", path=True)
    assert tag.value == v1.tag
    # `history`: every release, newest first, with what became of it. The first rollback ran the
    # bits that kept serving through the failed rollout: no release of its own.
    done = project.history("staging")
    assert done.returncode == 0, done.stdout + done.stderr
    outcomes = [(r["tag"], r["outcome"]) for r in json.loads(done.stdout)]
    assert outcomes == [
        (v1.tag, "live, rollback"),
        (broken.tag, "failed"),
        (v2.tag, "replaced"),
        (v1.tag, "replaced"),
    ], outcomes


def test_a_version_that_crashes_fails_the_update_at_once_with_what_it_printed(
    project: Project, engine: DockerEngine, ssh_host: SshHost, registry: Registry, example_image: ExampleImage
) -> None:
    v1, crashing = example_image.v1, example_image.crashing
    port = free_port()
    config = ssh_stack_config(ssh_host, registry, example_image, v1.tag, port)
    # Far beyond the failure: the update must not wait for it.
    config["services"]["llm-server"]["docker"]["ready_timeout_seconds"] = 600
    stack = project.stack("staging", config, secrets={"GHCR_TOKEN": registry.password, "API_KEY": API_KEY})
    stack.up()
    (running,) = app_containers(engine)

    stack.set("services.llm-server.tag", crashing.tag)
    with Load(f"http://127.0.0.1:{port}/health") as load, pytest.raises(auto.CommandError) as failed:
        stack.up()
    message = str(failed.value)
    assert f"service llm-server, tag {crashing.tag}" in message, message[-3000:]
    assert "exited with code 1" in message, message[-3000:]
    assert CRASH_MESSAGE in message, message[-3000:]  # its own last words, from its log
    assert API_KEY not in message and "[secret API_KEY]" not in message  # it never printed the key
    result = load.result
    assert result.failed == 0 and set(result.versions) == {v1.app_version}, result.summary()
    assert app_containers(engine) == [running]
