"""One stack's environment: the components its settings call for, composed."""

from __future__ import annotations

from pathlib import Path

import pulumi

from components import settings
from components.docker_host import DockerHost, docker_cli
from components.docker_service import DockerService
from components.fly_app import FlyApp
from components.github_environment import GithubEnvironment
from components.github_repository import GithubRepository
from components.health_gate import HealthGate


class ServiceEnvironment(pulumi.ComponentResource):
    """Docker hosts and their services, Fly apps, and GitHub environments, each rollout health-gated."""

    def __init__(
        self,
        name: str,
        config: settings.Settings,
        secrets: dict[str, pulumi.Output[str]],
        project_dir: Path,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("service-infra:environment:ServiceEnvironment", name, None, opts)
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
            if host_name not in hosts:
                hosts[host_name] = DockerHost(
                    host_name, config.docker_hosts[host_name], config.registry, registry_password, opts=child
                )
            host = hosts[host_name]
            assert config.proxy is not None  # settings require it with Docker services
            deployed = DockerService(
                service_name,
                service,
                config.environment,
                host.provider,
                docker_cli(config.docker_hosts[host_name]),
                host.address,
                config.proxy,
                secrets,
                project_dir,
                opts=child,
            )
            HealthGate(
                f"{service_name}-health",
                service_name,
                deployed.health_url,
                rollout=[deployed.activation.id, deployed.proxy.id],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[deployed]),
            )
            self.service_urls[service_name] = deployed.url
            self.containers[service_name] = deployed.container_name
            self.image_tags[service_name] = deployed.live_tag

        for service_name, service in config.fly_services().items():
            assert service.fly is not None
            app = FlyApp(service_name, service, secrets, secrets[service.fly.api_token_secret], opts=child)
            HealthGate(
                f"{service_name}-health",
                service_name,
                app.health_url,
                rollout=[app.release.id, app.release.create, app.release.stdin],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[app]),
            )
            self.service_urls[service_name] = app.url
            self.fly_hostnames[service_name] = app.hostname
            self.image_tags[service_name] = app.release.stdout.apply(lambda _, tag=service.tag: tag)

        if config.github is not None:
            repo = GithubRepository(
                config.github.repository, config.github, secrets[config.github.token_secret], secrets, opts=child
            )
            for env_name, environment in config.github.environments.items():
                GithubEnvironment(
                    env_name,
                    environment,
                    repo.repository,
                    repo.provider,
                    secrets,
                    config_key=f"{settings.PROJECT}:github.environments.{env_name}",
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
