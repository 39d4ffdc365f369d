"""After an `up` with known secret values, none appears in plaintext anywhere it could leak."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.harness import DockerEngine, ExampleImage, Registry, SshHost, free_port
from tests.support.pulumi_project import Project
from tests.support.stacks import API_KEY, FLY_SECRETS, fly_config, ssh_stack_config


def test_no_secret_in_state_output_or_argv(
    project: Project,
    engine: DockerEngine,
    ssh_host: SshHost,
    registry: Registry,
    example_image: ExampleImage,
    fly_state: dict[str, Path],
    public_health_url: str,
) -> None:
    config = ssh_stack_config(ssh_host, registry, example_image, example_image.v1.tag, free_port())
    config["services"].update(fly_config("it-secrets-app", public_health_url)["services"])
    secrets = {**FLY_SECRETS, "GHCR_TOKEN": registry.password, "API_KEY": API_KEY}
    stack = project.stack("staging", config, secrets)
    output = stack.up().output + stack.preview().output
    state = project.state_text()
    argv = [json.loads(line)["argv"] for line in fly_state["log"].read_text().splitlines()]
    assert argv, "the fly stand-in recorded no invocation"
    stack_file = (project.dir / "Pulumi.staging.yaml").read_text()
    for name, value in secrets.items():
        assert value not in output, f"{name} in the engine's output"
        assert value not in state, f"{name} in the state files"
        assert value not in stack_file, f"{name} in the stack file"
        assert not any(value in arg for args in argv for arg in args), f"{name} in a flyctl argv"
