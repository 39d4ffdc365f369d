"""A Docker engine the stack deploys to: the local engine, or a remote host over SSH."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from service_infra.commands.docker import ssh_options
from service_infra.contract import DOCKER_HOST_TYPE, DOCKER_PROVIDER_SUFFIX
from service_infra.settings import DockerHostSettings, RegistrySettings


@dataclass(frozen=True)
class DockerHostArgs:
    host: DockerHostSettings
    registry: RegistrySettings | None = None
    # The registry password, from the stack's secrets (None without a registry).
    registry_password: pulumi.Output[str] | None = None


class DockerHost(pulumi.ComponentResource):
    """The Docker provider for one engine, with the registry credentials it pulls with."""

    provider: docker.Provider

    def __init__(
        self,
        name: str,
        args: DockerHostArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(DOCKER_HOST_TYPE, name, None, opts)
        host, registry, registry_password = args.host, args.registry, args.registry_password
        auth = []
        if registry is not None and registry_password is not None:
            auth.append(
                docker.ProviderRegistryAuthArgs(
                    address=registry.server, username=registry.username, password=registry_password
                )
            )
        self.provider = docker.Provider(
            f"{name}{DOCKER_PROVIDER_SUFFIX}",
            host=host.url,
            ssh_opts=ssh_options(host) if host.is_ssh else None,
            registry_auth=auth,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.address = host.reachable_host
        self.register_outputs({"url": host.url, "address": self.address})
