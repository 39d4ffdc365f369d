"""One service as a container on a Docker host."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pulumi
import pulumi_docker as docker

from components import settings

LOG_OPTIONS = {"max-size": "10m", "max-file": "3"}
RESTART_POLICY = "unless-stopped"


def container_name(service: str, environment: settings.Environment) -> str:
    return f"{service}-{environment.value}"


def healthcheck_test(port: int, path: str) -> list[str]:
    return ["CMD", "curl", "-fsS", "-o", "/dev/null", f"http://127.0.0.1:{port}{path}"]


class DockerService(pulumi.ComponentResource):
    """The image pulled by its pinned tag and the container that runs it, waited on until healthy."""

    def __init__(
        self,
        name: str,
        service: settings.Service,
        environment: settings.Environment,
        provider: docker.Provider,
        address: str,
        secret_env: Mapping[str, pulumi.Output[str]],
        project_dir: Path,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("service-infra:docker_service:DockerService", name, None, opts)
        target = service.docker
        assert target is not None, "a DockerService needs service.docker"
        child = pulumi.ResourceOptions(parent=self, provider=provider)

        image = docker.RemoteImage(f"{name}-image", name=service.image_ref, keep_locally=True, opts=child)
        mounts = []
        for volume_name, path in sorted(target.volumes.items()):
            volume = docker.Volume(
                f"{name}-{volume_name}",
                name=f"{container_name(name, environment)}-{volume_name}",
                # In prod, data outlives the stack: a destroy or a rename leaves the volume in place.
                opts=pulumi.ResourceOptions.merge(
                    child, pulumi.ResourceOptions(retain_on_delete=bool(target.retain_volumes))
                ),
            )
            mounts.append(docker.ContainerVolumeArgs(volume_name=volume.name, container_path=path))
        command = list(target.command) if target.command else None
        if target.hot_reload is not None:
            source = (project_dir / target.hot_reload.source).resolve()
            mounts.append(
                docker.ContainerVolumeArgs(
                    host_path=str(source), container_path=target.hot_reload.target, read_only=True
                )
            )
            command = list(target.hot_reload.command)

        plain = [f"{key}={value}" for key, value in sorted(service.plain_env.items())]
        envs = pulumi.Output.secret(
            pulumi.Output.all(*[secret_env[n].apply(lambda v, n=n: f"{n}={v}") for n in service.secret_env])
        ).apply(lambda secret: plain + list(secret))

        labels = {
            "service-infra.environment": environment.value,
            "service-infra.service": name,
            "service-infra.image-tag": service.tag,
        }
        self.container = docker.Container(
            f"{name}-container",
            name=container_name(name, environment),
            image=image.image_id,
            command=command,
            envs=envs if service.secret_env else plain,
            user=target.user,
            ports=[docker.ContainerPortArgs(internal=target.container_port, external=target.port, ip=target.bind)],
            restart=RESTART_POLICY,
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=healthcheck_test(target.container_port, service.health_path),
                interval="5s",
                timeout="3s",
                retries=5,
                start_period="20s",
            ),
            log_driver="json-file",
            log_opts=LOG_OPTIONS,
            hosts=[docker.ContainerHostArgs(host="host.docker.internal", ip="host-gateway")],
            volumes=mounts,
            labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(labels.items())],
            must_run=True,
            wait=True,
            wait_timeout=120,
            # The container name is fixed, so the old one has to go before the new one starts.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(delete_before_replace=True)),
        )
        self.image_id = image.image_id
        self.container_name = self.container.name
        self.url = f"http://{address}:{target.port}"
        self.health_url = target.health_url or f"{self.url}{service.health_path}"
        self.register_outputs({"container_name": self.container.name, "image_id": image.image_id, "url": self.url})
