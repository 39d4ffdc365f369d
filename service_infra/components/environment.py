"""One stack's environment: the components its settings call for, composed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi

from service_infra.commands.docker import docker_cli
from service_infra.components.docker_host import DockerHost, DockerHostArgs
from service_infra.components.docker_service import DockerService, DockerServiceArgs
from service_infra.components.fly_app import FlyApp, FlyAppArgs
from service_infra.components.github_environment import GithubEnvironment, GithubEnvironmentArgs
from service_infra.components.github_repository import GithubRepository, GithubRepositoryArgs
from service_infra.components.health_gate import HealthGate, HealthGateArgs
from service_infra.contract import PRODUCTION_ENVIRONMENT, PROJECT, SERVICE_ENVIRONMENT_TYPE
from service_infra.settings import Settings, Tier


@dataclass(frozen=True)
class ServiceEnvironmentArgs:
    settings: Settings
    # Every secret under `service-infra:secrets`, by name, as secret outputs.
    secret_values: Mapping[str, pulumi.Output[str]]
    # The project folder: hot-reload sources are relative to it.
    project_dir: Path


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
                    provider=host.provider,
                    docker_cli=docker_cli(host_settings),
                    address=host.address,
                    proxy=config.proxy,
                    secret_values=secrets,
                    project_dir=args.project_dir,
                    extra_labels=config.labels,
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
                GithubRepositoryArgs(config.github, secrets[config.github.token_secret], secrets),
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
            }
        )
