"""A Docker engine the stack deploys to: the local engine, or a remote host over SSH."""

from __future__ import annotations

from urllib.parse import urlsplit

import pulumi
import pulumi_docker as docker

from components import settings


def known_hosts_line(host: settings.DockerHost) -> str:
    """The pinned host key as a known_hosts line (port 22 hosts are written bare)."""
    pattern = host.ssh_host if host.ssh_port == 22 else f"[{host.ssh_host}]:{host.ssh_port}"
    return f"{pattern} {host.host_key}"


def ssh_options(host: settings.DockerHost) -> list[str]:
    """ssh options that trust only the pinned host key: no trust on first use, no prompts.

    The key is handed to ssh by KnownHostsCommand, so no known_hosts file (and no
    machine-specific path) is involved, and the user's own known_hosts is ignored.
    """
    options = [
        "-o", "StrictHostKeyChecking=yes",
        "-o", "UserKnownHostsFile=/dev/null",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", f"KnownHostsCommand=/bin/echo {known_hosts_line(host)}",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=10",
    ]  # fmt: skip
    if host.identity_file:
        options += ["-o", "IdentitiesOnly=yes", "-i", host.identity_file]
    return options


def docker_cli(host: settings.DockerHost) -> list[str]:
    """The docker CLI aimed at this host's engine: over ssh (pinned key) for the Mac Mini, else
    the local CLI with -H. Arguments appended to an ssh prefix go through the remote shell, so
    callers quote them (see `components.rollout.Docker`)."""
    if not host.is_ssh:
        return ["docker", "-H", host.url]
    user = urlsplit(host.url).username or ""
    return ["ssh", *ssh_options(host), "-p", str(host.ssh_port), "-l", user, "-T", "--", host.ssh_host, "docker"]


class DockerHost(pulumi.ComponentResource):
    """The Docker provider for one engine, with the registry credentials it pulls with."""

    provider: docker.Provider

    def __init__(
        self,
        name: str,
        host: settings.DockerHost,
        registry: settings.Registry | None,
        registry_password: pulumi.Output[str] | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("service-infra:docker_host:DockerHost", name, None, opts)
        auth = []
        if registry is not None and registry_password is not None:
            auth.append(
                docker.ProviderRegistryAuthArgs(
                    address=registry.server, username=registry.username, password=registry_password
                )
            )
        self.provider = docker.Provider(
            f"{name}-engine",
            host=host.url,
            ssh_opts=ssh_options(host) if host.is_ssh else None,
            registry_auth=auth,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.address = host.reachable_host
        self.register_outputs({"url": host.url, "address": self.address})
