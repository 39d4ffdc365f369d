"""A stack with two Docker hosts over real SSH (two sshd on one engine), a service on each; one
host switched off stops `up` in the preflight, before anything changes on either host."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pulumi import automation as auto

from service_infra.contract import LABEL_SERVICE
from tests.support.harness import DockerEngine, ExampleImage, Registry, SshHost, free_port, wait_http
from tests.support.leftovers import RUN_LABEL, THIS_RUN
from tests.support.pulumi_project import Project
from tests.support.stacks import API_KEY, ssh_stack_config

SERVICES = {"llm-server": "mini", "llm-worker": "mini-b"}


@pytest.fixture
def second_host(engine: DockerEngine) -> Iterator[SshHost]:
    with SshHost(engine) as host:
        yield host


def version_on(port: int) -> str:
    _, body = wait_http(f"http://127.0.0.1:{port}/health", timeout=30)
    return json.loads(body)["version"]


def what_runs(engine: DockerEngine) -> dict[str, str]:
    """Every container this run made for the two services (apps and proxies, stopped ones
    too): name -> id."""
    found: dict[str, str] = {}
    for service in SERVICES:
        filters = ["--filter", f"label={LABEL_SERVICE}={service}", "--filter", f"label={RUN_LABEL}={THIS_RUN}"]
        listed = engine.run("ps", "-a", "--no-trunc", "--format", "{{.Names}} {{.ID}}", *filters)
        for line in listed.stdout.splitlines():
            name, container_id = line.split()
            found[name] = container_id
    return found


def test_services_on_two_hosts_deploy_and_one_host_down_stops_up_before_any_change(
    project: Project,
    engine: DockerEngine,
    ssh_host: SshHost,
    second_host: SshHost,
    registry: Registry,
    example_image: ExampleImage,
) -> None:
    v1, v2 = example_image.v1, example_image.v2
    ports = {"llm-server": free_port(), "llm-worker": free_port()}
    config = ssh_stack_config(ssh_host, registry, example_image, v1.tag, ports["llm-server"])
    config["docker_hosts"]["mini-b"] = {
        "url": second_host.docker_url,
        "host_key": second_host.host_key_line,
        "identity_file": str(second_host.client_key_path),
    }
    config["services"]["llm-worker"] = {
        "image": example_image.repository,
        "tag": v1.tag,
        "env": {"APP_ENV": "staging"},
        "allowed_origins": "https://staging.acme.example",
        "docker": {"host": "mini-b", "port": ports["llm-worker"], "bind": "127.0.0.1"},
    }
    stack = project.stack("staging", config, secrets={"GHCR_TOKEN": registry.password, "API_KEY": API_KEY})

    run = stack.up()
    assert {service: version_on(port) for service, port in ports.items()} == {s: v1.app_version for s in SERVICES}
    assert set(run.outputs["containers"]) == set(SERVICES)
    before = what_runs(engine)
    assert len(before) == 4, before  # an app and a proxy per service

    # A change due on each host, and the second host switched off.
    for service in SERVICES:
        stack.set(f"services.{service}.tag", v2.tag)
    second_host.go_down()
    with pytest.raises(auto.CommandError) as failed:
        stack.up()
    message = str(failed.value)
    assert "Docker hosts failed their check (1); nothing was changed" in message, message[-3000:]
    assert f"service-infra:docker_hosts.mini-b.url: cannot reach 127.0.0.1:{second_host.port} over SSH" in message, (
        message[-3000:]
    )
    assert "Connection refused" in message, message[-3000:]
    assert "docker_hosts.mini." not in message, message[-3000:]  # the reachable host is not blamed
    # Nothing changed on either host: the same containers, the same version serving.
    assert what_runs(engine) == before
    assert {service: version_on(port) for service, port in ports.items()} == {s: v1.app_version for s in SERVICES}

    # The host is back: the same `up` rolls both services out.
    second_host.come_back()
    stack.up()
    assert {service: version_on(port) for service, port in ports.items()} == {s: v2.app_version for s in SERVICES}
    stack.preview(expect_no_changes=True)
