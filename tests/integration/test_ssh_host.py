"""A staging-like stack on a Docker host reached over real SSH, pulling from a real registry."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.integration.harness import DockerEngine, ExampleImage, Registry, SshHost, free_port, http_get, wait_http
from tests.integration.pulumi_project import Project

API_KEY = "it-api-key-3b1f9c0e7d"


def ssh_stack_config(ssh_host: SshHost, registry: Registry, repository: str, tag: str, port: int) -> dict[str, Any]:
    return {
        "environment": "staging",
        "registry": {"server": registry.address, "username": registry.username, "password_secret": "GHCR_TOKEN"},
        "docker_hosts": {
            "mini": {
                "url": ssh_host.docker_url,
                "host_key": ssh_host.host_key_line,
                "identity_file": str(ssh_host.client_key_path),
            }
        },
        "services": {
            "llm-server": {
                "image": repository,
                "tag": tag,
                "env": {"APP_ENV": "staging"},
                "secret_env": ["API_KEY"],
                "allowed_origins": "https://staging.acme.example",
                "docker": {"host": "mini", "port": port, "bind": "127.0.0.1", "volumes": {"cache": "/data"}},
            }
        },
    }


def health(port: int) -> dict[str, Any]:
    _, body = wait_http(f"http://127.0.0.1:{port}/health", timeout=30)
    return json.loads(body)


def put(url: str, body: bytes) -> None:
    with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=10) as response:
        assert response.status == 200


def test_rollout_over_ssh(
    project: Project, engine: DockerEngine, ssh_host: SshHost, registry: Registry, example_image: ExampleImage
) -> None:
    v1, v2 = example_image.v1, example_image.v2
    for version in (v1, v2):  # only the registry has them: the host must pull, with credentials
        engine.run("rmi", version.ref, check=False)
    port = free_port()
    stack = project.stack(
        "staging",
        ssh_stack_config(ssh_host, registry, example_image.repository, v1.tag, port),
        secrets={"GHCR_TOKEN": registry.password, "API_KEY": API_KEY},
    )
    stack.up()
    assert health(port)["version"] == v1.app_version

    inspect = json.loads(engine.run("inspect", "llm-server-staging").stdout)[0]
    host_config, config = inspect["HostConfig"], inspect["Config"]
    assert host_config["RestartPolicy"]["Name"] == "unless-stopped"
    assert host_config["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "3", "max-size": "10m"}}
    assert host_config["PortBindings"] == {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert "host.docker.internal:host-gateway" in host_config["ExtraHosts"]
    assert config["User"] == "10001:10001"
    assert config["Labels"]["service-infra.environment"] == "staging"
    assert config["Labels"]["service-infra.image-tag"] == v1.tag
    assert config["Healthcheck"]["Test"] == ["CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8000/health"]
    assert f"API_KEY={API_KEY}" in config["Env"]
    assert inspect["State"]["Health"]["Status"] == "healthy"

    stack.preview(expect_no_changes=True)  # a second run changes nothing

    put(f"http://127.0.0.1:{port}/api/cache/survivor", b"written before the rollout")
    stack.set("services.llm-server.tag", v2.tag)
    stack.up()
    assert health(port)["version"] == v2.app_version
    assert http_get(f"http://127.0.0.1:{port}/api/cache/survivor") == (200, b"written before the rollout")

    stack.destroy()
    assert engine.run("ps", "-a", "-q", "--filter", "name=^llm-server-staging$").stdout.strip() == ""
    assert engine.run("volume", "ls", "-q", "--filter", "name=^llm-server-staging-cache$").stdout.strip() == ""
