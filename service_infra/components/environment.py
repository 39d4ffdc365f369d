"""One stack's environment: the components its settings call for, composed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from service_infra.commands.docker import docker_cli
from service_infra.components.docker_host import DockerHost, DockerHostArgs
from service_infra.components.docker_service import DockerService, DockerServiceArgs
from service_infra.components.fly_app import FlyApp, FlyAppArgs
from service_infra.components.github_environment import GithubEnvironment, GithubEnvironmentArgs
from service_infra.components.github_repository import GithubRepository, GithubRepositoryArgs
from service_infra.components.health_gate import HealthGate, HealthGateArgs
from service_infra.contract import PRODUCTION_ENVIRONMENT, PROJECT, RELEASES_KEPT, SERVICE_ENVIRONMENT_TYPE
from service_infra.settings import Settings, Tier


@dataclass(frozen=True)
class ServiceEnvironmentArgs:
    settings: Settings
    # Every secret under `service-infra:secrets`, by name, as secret outputs.
    secret_values: Mapping[str, pulumi.Output[str]]
    # The project folder: hot-reload sources are relative to it.
    project_dir: Path
    # Each Docker service's image digest and secret values' keyed hash (service_infra.releases).
    image_digests: Mapping[str, str | None] = field(default_factory=dict)
    secret_versions: Mapping[str, str | None] = field(default_factory=dict)
    # The `releases` output of the stack's previous update (None on its first).
    previous_releases: pulumi.Input[Any] = None


class ServiceEnvironment(pulumi.ComponentResource):
    """Docker hosts and their services, Fly apps, and GitHub environments, each rollout health-gated."""

    def __init__(self, name: str, args: ServiceEnvironmentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(SERVICE_ENVIRONMENT_TYPE, name, None, opts)
        config, secrets = args.settings, args.secret_values
        child = pulumi.ResourceOptions(parent=self)
        self.service_urls: dict[str, str] = {}
        self.containers: dict[str, pulumi.Output[str]] = {}
        self.fly_hostnames: dict[str, str] = {}
        self.github_environments: list[str] = []
        # The tag each service runs, known only once its rollout went live.
        self.image_tags: dict[str, pulumi.Output[str]] = {}
        # Docker services: the digest of the release, and the last releases, the live one first.
        self.image_digests: dict[str, str | None] = {}
        self.releases: dict[str, pulumi.Output[list[dict[str, str]]]] = {}

        registry_password = secrets[config.registry.password_secret] if config.registry else None
        hosts: dict[str, DockerHost] = {}
        for service_name, service in config.docker_services().items():
            assert service.docker is not None
            host_name = service.docker.host
            host_settings = config.docker_hosts[host_name]
            if host_name not in hosts:
                hosts[host_name] = DockerHost(
                    host_name, DockerHostArgs(host_settings, config.registry, registry_password), opts=child
                )
            host = hosts[host_name]
            assert config.proxy is not None  # settings require it with Docker services
            deployed = DockerService(
                service_name,
                DockerServiceArgs(
                    service=service,
                    tier=config.environment,
                    instance=config.instance,
                    provider=host.provider,
                    docker_cli=docker_cli(host_settings),
                    address=host.address,
                    proxy=config.proxy,
                    secret_values=secrets,
                    project_dir=args.project_dir,
                    extra_labels=config.labels,
                    digest=args.image_digests.get(service_name),
                    secret_version=args.secret_versions.get(service_name),
                ),
                opts=child,
            )
            HealthGate(
                f"{service_name}-health",
                HealthGateArgs(service_name, deployed.health_url, rollout=[deployed.activation.id, deployed.proxy.id]),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[deployed]),
            )
            self.service_urls[service_name] = deployed.url
            self.containers[service_name] = deployed.container_name
            self.image_tags[service_name] = deployed.live_tag
            self.image_digests[service_name] = deployed.digest
            this_release = {
                "tag": service.tag,
                "digest": deployed.digest or "",
                "container": deployed.version_container,
            }
            self.releases[service_name] = pulumi.Output.all(deployed.container_name, args.previous_releases).apply(
                lambda pair, this=this_release, name=service_name: release_log(pair[0], this, pair[1], name)
            )

        for service_name, service in config.fly_services().items():
            assert service.fly is not None
            app = FlyApp(
                service.fly.app,
                FlyAppArgs(
                    service,
                    service_name,
                    secrets,
                    secrets[service.fly.api_token_secret],
                    config.registry,
                    registry_password,
                ),
                opts=child,
            )
            HealthGate(
                f"{service_name}-health",
                HealthGateArgs(
                    service_name, app.health_url, rollout=[app.release.id, app.release.create, app.release.stdin]
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[app]),
            )
            self.service_urls[service_name] = app.url
            self.fly_hostnames[service_name] = app.hostname
            self.image_tags[service_name] = app.release.stdout.apply(lambda _, tag=service.tag: tag)

        if config.github is not None:
            repo = GithubRepository(
                config.github.repository,
                GithubRepositoryArgs(
                    config.github,
                    secrets[config.github.token_secret],
                    secrets,
                    protect_main=config.environment is Tier.PROD,
                ),
                opts=child,
            )
            for env_name, environment in config.github.environments.items():
                GithubEnvironment(
                    env_name,
                    GithubEnvironmentArgs(
                        settings=environment,
                        repository=repo.repository,
                        provider=repo.provider,
                        secret_values=secrets,
                        config_key=f"{PROJECT}:github.environments.{env_name}",
                        protect=config.environment is Tier.PROD and env_name == PRODUCTION_ENVIRONMENT,
                        # Only prod's token administers the repository (settings.stack._github_scope_problems).
                        owns=config.environment is Tier.PROD,
                    ),
                    opts=child,
                )
                self.github_environments.append(env_name)

        self.register_outputs(
            {
                "service_urls": self.service_urls,
                "containers": self.containers,
                "fly_hostnames": self.fly_hostnames,
                "github_environments": self.github_environments,
                "image_tags": self.image_tags,
                "image_digests": self.image_digests,
                "releases": self.releases,
            }
        )


def release_log(live: str, this: dict[str, str], previous: Any, service: str) -> list[dict[str, str]]:
    """The service's releases, newest first: the live one (this update's, or after a failed
    rollout the one that kept serving), then the earlier ones; the last RELEASES_KEPT."""
    earlier = previous.get(service) if isinstance(previous, dict) else None
    log = [r for r in earlier or [] if isinstance(r, dict) and r.get("container")]
    if live == this["container"]:
        current: dict[str, str] | None = this
    else:
        current = next((r for r in log if r["container"] == live), None)
    rest = [r for r in log if r["container"] != live]
    return ([current] if current else []) + rest[: RELEASES_KEPT - (1 if current else 0)]
