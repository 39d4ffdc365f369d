"""Bad input through the real engine: a clear error, and what was running keeps running."""

from __future__ import annotations

import json

import pytest
from pulumi import automation as auto

from service_infra.stack_secrets import EXAMPLE_PASSPHRASE
from tests.support.harness import (
    DockerEngine,
    ExampleImage,
    Registry,
    SshHost,
    free_port,
    generate_ed25519_key,
    wait_http,
)
from tests.support.pulumi_project import Project
from tests.support.stacks import API_KEY, app_containers, ssh_stack_config


def container_id(engine: DockerEngine) -> str:
    (running,) = app_containers(engine)
    return engine.run("inspect", "-f", "{{.Id}}", running).stdout.strip()


def test_bad_input_fails_clearly_and_keeps_the_running_version(
    project: Project,
    engine: DockerEngine,
    ssh_host: SshHost,
    registry: Registry,
    example_image: ExampleImage,
    tmp_path,
) -> None:
    port = free_port()
    stack = project.stack(
        "staging",
        ssh_stack_config(ssh_host, registry, example_image, example_image.v1.tag, port),
        secrets={"GHCR_TOKEN": registry.password, "API_KEY": API_KEY},
    )
    stack.up()
    running = container_id(engine)

    def still_serving() -> None:
        _, body = wait_http(f"http://127.0.0.1:{port}/health", timeout=10)
        assert json.loads(body)["version"] == example_image.v1.app_version
        assert container_id(engine) == running

    def fails_with(*fragments: str) -> None:
        with pytest.raises(auto.CommandError) as failed:
            stack.up()
        for fragment in fragments:
            assert fragment in str(failed.value), str(failed.value)[-3000:]
        still_serving()

    # A tag the registry does not hold.
    stack.set("services.llm-server.tag", "sha-0000000deadbeef")
    fails_with("sha-0000000deadbeef")
    stack.set("services.llm-server.tag", example_image.v1.tag)

    # An invalid stack config: named key, nothing registered.
    stack.set("services.llm-server.docker.prot", 8001)
    fails_with("service-infra:services.llm-server.docker.prot: unknown key; did you mean `port`?")
    stack.stack.remove_config("service-infra:services.llm-server.docker.prot", path=True)

    # A wrong pinned host key: ssh refuses the host.
    wrong_key = generate_ed25519_key(tmp_path / "wrong-host-key")
    stack.set("docker_hosts.mini.host_key", wrong_key)
    fails_with("service-infra:docker_hosts.mini.host_key:", "presented a host key other than the pinned one")
    stack.set("docker_hosts.mini.host_key", ssh_host.host_key_line)

    # An unreachable host.
    stack.set("docker_hosts.mini.url", f"ssh://{ssh_host.user}@127.0.0.1:{free_port()}")
    fails_with("service-infra:docker_hosts.mini.url: cannot reach 127.0.0.1:", "Connection refused")
    stack.set("docker_hosts.mini.url", ssh_host.docker_url)

    stack.preview(expect_no_changes=True)  # back where it started


def test_staging_refuses_the_published_example_passphrase(
    project: Project, ssh_host: SshHost, registry: Registry, example_image: ExampleImage
) -> None:
    """A stack file the real engine encrypted with the README's passphrase: nothing is touched."""
    project.env["PULUMI_CONFIG_PASSPHRASE"] = EXAMPLE_PASSPHRASE
    config = ssh_stack_config(ssh_host, registry, example_image, example_image.v1.tag, free_port())
    stack = project.stack("staging", config, secrets={"GHCR_TOKEN": registry.password, "API_KEY": API_KEY})
    with pytest.raises(auto.CommandError) as refused:
        stack.preview()
    message = str(refused.value)
    assert "the secrets of stack staging are encrypted with the published example passphrase" in message, message
    assert "pulumi stack change-secrets-provider passphrase -s staging" in message, message
    assert registry.password not in message and API_KEY not in message


def test_the_stack_named_prod_cannot_say_it_is_staging(
    project: Project, ssh_host: SshHost, registry: Registry, example_image: ExampleImage
) -> None:
    """Through the engine: the stack's name binds its environment, before anything is touched."""
    config = ssh_stack_config(ssh_host, registry, example_image, example_image.v1.tag, free_port())
    assert config["environment"] == "staging"
    stack = project.stack("prod", config, secrets={"GHCR_TOKEN": registry.password, "API_KEY": API_KEY})
    with pytest.raises(auto.CommandError) as refused:
        stack.preview()
    message = str(refused.value)
    assert "service-infra:environment: the stack prod must say `environment: prod`, got staging" in message, message
