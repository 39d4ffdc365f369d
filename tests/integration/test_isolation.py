"""Each environment reaches only itself on the Docker host they share (issue 24).

The Mac Mini hosts staging and prod; docs/mac-mini.md gives each its own macOS user and its own
Docker engine, the engine's socket open to that user alone. Here: one host, two login users
(each with its own key), two private dockerd whose sockets only their user's group may open, and
the staging and prod stacks deployed through them. Staging's key then cannot list, inspect, read
the logs of or exec into prod's containers, cannot open prod's engine socket, and cannot log in
as prod's user; both environments serve. And a prod update refuses a staging stack file that
names prod's identity, before anything is touched.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from pulumi import automation as auto

from tests.fakes.github_api import GithubApi
from tests.support.harness import DockerEngine, ExampleImage, Registry, SshHost, ensure_login_user, free_port
from tests.support.pulumi_project import Project
from tests.support.stacks import (
    API_KEY,
    GITHUB_OWNER,
    GITHUB_REPOSITORY,
    GITHUB_USERS,
    health,
    production_github,
    ssh_stack_config,
)

ENVIRONMENTS = ("staging", "prod")


@pytest.fixture
def environment_hosts(tmp_path: Path) -> Iterator[dict[str, SshHost]]:
    """Per environment: a login user, an engine only that user's group may open, and an sshd
    letting that user in with a key of its own."""
    hosts: dict[str, SshHost] = {}
    with ExitStack() as started:
        for environment in ENVIRONMENTS:
            user = f"si-{environment}"
            ensure_login_user(user)  # its group must exist before the engine hands it the socket
            engine = started.enter_context(DockerEngine(use_existing=False, socket_group=user, base_dir=tmp_path))
            hosts[environment] = started.enter_context(SshHost(engine, user=user, base_dir=tmp_path))
        yield hosts


def test_staging_and_prod_on_one_host_reach_only_their_own_engine(
    project: Project,
    environment_hosts: dict[str, SshHost],
    registry: Registry,
    example_image: ExampleImage,
    tmp_path: Path,
) -> None:
    staging_host, prod_host = environment_hosts["staging"], environment_hosts["prod"]
    ports = {environment: free_port() for environment in ENVIRONMENTS}
    configs = {
        environment: ssh_stack_config(
            environment_hosts[environment], registry, example_image, example_image.v1.tag, ports[environment]
        )
        for environment in ENVIRONMENTS
    }
    secrets = {"GHCR_TOKEN": registry.password, "API_KEY": API_KEY}
    with GithubApi(GITHUB_OWNER, GITHUB_REPOSITORY, users=GITHUB_USERS) as github_api:
        configs["prod"].update(environment="prod", github=production_github(github_api.base_url))
        staging = project.stack("staging", configs["staging"], secrets)
        prod = project.stack("prod", configs["prod"], {**secrets, "GITHUB_TOKEN": github_api.token})
        staging.up()
        prod.up()
        for environment in ENVIRONMENTS:
            assert health(ports[environment])["version"] == example_image.v1.app_version, environment

        known = staging_host.write_known_hosts(tmp_path / "known_hosts")
        prod_names = prod_host.engine.run("ps", "--format", "{{.Names}}").stdout.split()
        assert any(name.startswith("llm-server-prod-") for name in prod_names), prod_names
        # Staging's key, as staging's user: its own engine, and nothing of prod's in it.
        seen = staging_host.docker("ps", "--format", "{{.Names}}", known_hosts_path=known).stdout.split()
        assert seen and all(name.startswith("llm-server-staging-") for name in seen), seen
        for prod_name in prod_names:
            for attempt in (("container", "inspect", prod_name), ("logs", prod_name), ("exec", prod_name, "env")):
                done = staging_host.docker(*attempt, known_hosts_path=known, check=False)
                assert done.returncode != 0 and "no such" in done.stderr.lower(), (attempt, done.stderr)
                assert API_KEY not in done.stdout + done.stderr
        # Prod's engine socket is not staging's to open, wherever staging's session points docker.
        prod_socket = prod_host.engine.host
        done = staging_host.ssh("docker", "-H", prod_socket, "ps", known_hosts_path=known, check=False)
        assert done.returncode != 0 and "permission denied" in done.stderr.lower(), done.stderr
        # Staging's key does not log in as prod's user.
        prod_known = prod_host.write_known_hosts(tmp_path / "prod_known_hosts")
        # Prod's sshd, prod's pinned host key, staging's key (ssh_opts_for names the host's own port).
        *options, port_flag, _ = staging_host.ssh_opts_for(prod_known)
        assert port_flag == "-p"
        as_prod = [
            "ssh", *options, "-p", str(prod_host.port), "-l", prod_host.user, "--", prod_host.host, "docker", "ps",
        ]  # fmt: skip
        login = subprocess.run(as_prod, capture_output=True, text=True, timeout=60, check=False)
        assert login.returncode == 255 and "permission denied" in login.stderr.lower(), login.stderr

        # Promotion: what staging runs and found healthy, pinned into prod's file (no passphrase).
        v1, v2 = example_image.v1, example_image.v2
        staging.set("services.llm-server.tag", v2.tag)
        staging.up()
        promoted = project.operator_command("promote", "--service", "llm-server", passphrase=False)
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        for added in (rf"tag: {v2.tag}", rf"{v2.tag}: {v2.digest}"):
            assert re.search(rf"^\+\s+{added}$", promoted.stdout, re.MULTILINE), promoted.stdout
        assert "nothing deployed" in promoted.stderr, promoted.stderr
        assert health(ports["prod"])["version"] == v1.app_version  # it deployed nothing
        # Someone pushes other bits under the promoted tag: prod refuses them before any change.
        registry.push(v1.local_ref, example_image.repo, v2.tag)
        try:
            with pytest.raises(auto.CommandError) as refused_bits:
                prod.preview()
            message = str(refused_bits.value)
            assert "service-infra:services.llm-server.release_digests" in message and "pushed again" in message, message
        finally:
            registry.push(v2.local_ref, example_image.repo, v2.tag)  # the session's other tests use v2
        prod.up()
        assert health(ports["prod"])["version"] == v2.app_version
        again = project.operator_command("promote", "--service", "llm-server", passphrase=False)
        assert again.returncode == 0 and "nothing to change" in again.stdout, again.stdout + again.stderr

        # A staging stack file naming prod's user on the host: prod's next update refuses it first.
        configs["staging"]["docker_hosts"]["mini"]["url"] = prod_host.docker_url
        project.stack("staging", configs["staging"], secrets)
        with pytest.raises(auto.CommandError) as refused_update:
            prod.preview()
        message = str(refused_update.value)
        assert f"the Docker host identity {prod_host.user}@127.0.0.1:{prod_host.port} is also the" in message, message
        assert "service-infra:docker_hosts.mini.url" in message and "docs/mac-mini.md" in message, message
        for environment in ENVIRONMENTS:
            assert health(ports[environment])["version"] == v2.app_version, environment
