"""One service on a Docker host: a proxy on the published port, and its app containers behind it.

Each version of the app (image tag and container settings) is a container resource of its own,
named after that version. A rollout creates the new version beside the running one; its
activation (service_infra.ops.rollout) waits until it is healthy, then puts it live; the old version's
activation and container, no longer in the program, are deleted at the end of the update, after
the health gate: drained, then removed. A version that never becomes healthy fails the update
before anything of the running version is touched.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_docker as docker
from pulumi_command import local

from service_infra.boundary import DOCKER_CLI_ENV, LIVE_ALIAS, Activation
from service_infra.commands import proxy, rollout
from service_infra.contract import (
    DOCKER_SERVICE_TYPE,
    LABEL_ENVIRONMENT,
    LABEL_IMAGE_DIGEST,
    LABEL_IMAGE_TAG,
    LABEL_ROLE,
    LABEL_SERVICE,
    LABEL_VERSION,
    LOG_DRIVER,
    LOG_OPTIONS,
    RESTART_POLICY,
    ROLE_PROXY,
    host_name_prefix,
)
from service_infra.settings import DockerTarget, ProxySettings, Service, Tier


def container_version(
    service: Service,
    command: list[str] | None,
    mounts: list[str],
    extra_labels: Mapping[str, str] | None = None,
    digest: str | None = None,
    secret_version: str | None = None,
) -> str:
    """The tag plus a digest of what else defines a container (its image digest, secret names
    and the keyed hash of their values), so a change of any of it is a new version beside the
    old one rather than a replacement in place."""
    target = service.docker
    assert target is not None
    spec: dict[str, object] = {
        "image": service.image_ref,
        "command": command,
        "env": service.plain_env,
        "secret_env": sorted(service.secret_env),
        "user": target.user,
        "port": target.container_port,
        "health": service.health_path,
        "mounts": mounts,
    }
    # Only when set, so the versions of stacks without them keep their names.
    if extra_labels:
        spec["labels"] = dict(sorted(extra_labels.items()))
    if digest:
        spec["digest"] = digest
    if secret_version:
        spec["secrets"] = secret_version
    digest_of_spec = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:8]
    return f"{service.tag}-{digest_of_spec}"


@dataclass(frozen=True)
class DockerServiceArgs:
    service: Service
    tier: Tier
    # What its containers, networks and volumes are named and labelled after (Settings.instance).
    instance: str
    # The engine: the host's Docker provider, the docker CLI aimed at it (for the rollout
    # operations) and the address clients reach its published ports at.
    provider: docker.Provider
    docker_cli: list[str]
    address: str
    proxy: ProxySettings
    # Every stack secret by name; the service's secret_env are picked from it.
    secret_values: Mapping[str, pulumi.Output[str]]
    # Relative hot-reload sources are resolved against it.
    project_dir: Path
    # The stack's own labels, on every container, network and volume beside the program's.
    extra_labels: Mapping[str, str] = field(default_factory=dict)
    # The registry digest the tag resolved to (service_infra.releases); None: run the tag's image.
    digest: str | None = None
    # The keyed hash of the service's secret values (service_infra.releases), None without any.
    secret_version: str | None = None


class DockerService(pulumi.ComponentResource):
    """The service's network and proxy, and its current version's container, put live once healthy."""

    def __init__(self, name: str, args: DockerServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(DOCKER_SERVICE_TYPE, name, None, opts)
        service, provider, secret_values = args.service, args.provider, args.secret_values
        target = service.docker
        assert target is not None, "a DockerService needs service.docker"
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        base_name = host_name_prefix(name, args.instance)
        labels = {**args.extra_labels, LABEL_ENVIRONMENT: args.instance, LABEL_SERVICE: name}

        # Docker fixes a network's and a volume's labels when it makes them: a later change of the
        # stack's labels reaches the containers (through a rollout), never replaces these.
        made_once = pulumi.ResourceOptions(ignore_changes=["labels"])
        network = docker.Network(
            f"{name}-network",
            name=base_name,
            labels=[docker.NetworkLabelArgs(label=k, value=v) for k, v in sorted(labels.items())],
            opts=pulumi.ResourceOptions.merge(child, made_once),
        )
        proxy_conf = proxy.nginx_conf(name, LIVE_ALIAS, target.container_port)
        self.proxy = self._proxy(name, base_name, target, args.proxy, proxy_conf, network, labels, child)
        docker_cli_env = {DOCKER_CLI_ENV: json.dumps(args.docker_cli)}
        # The proxy's configuration changes in the running proxy (rollout.configure_proxy), so a
        # new one never replaces the proxy and lets go of the port; a new proxy starts with it too.
        self.proxy_config = local.Command(
            f"{name}-proxy-config",
            create=self.proxy.name.apply(lambda p: shlex.join(rollout.configure_proxy_operation(p, proxy.CONFIG_PATH))),
            stdin=proxy_conf,
            environment=docker_cli_env,
            triggers=[self.proxy.id],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.proxy]),
        )

        # Pulled by digest, and kept on the host when a later release replaces it: a rollback to
        # any earlier release finds its bits there, whatever the registry holds by then.
        image_ref = f"{service.image}@{args.digest}" if args.digest else service.image_ref
        image = docker.RemoteImage(f"{name}-image", name=image_ref, keep_locally=True, opts=child)
        mounts = []
        for volume_name, path in sorted(target.volumes.items()):
            volume = docker.Volume(
                f"{name}-{volume_name}",
                name=f"{base_name}-{volume_name}",
                labels=[docker.VolumeLabelArgs(label=k, value=v) for k, v in sorted(args.extra_labels.items())] or None,
                # In prod, data outlives the stack: a destroy or a rename leaves the volume in place,
                # and Pulumi refuses to delete it at all until someone unprotects it on purpose.
                opts=pulumi.ResourceOptions.merge(
                    child,
                    pulumi.ResourceOptions(
                        retain_on_delete=bool(target.retain_volumes),
                        protect=args.tier is Tier.PROD,
                        ignore_changes=["labels"],
                    ),
                ),
            )
            mounts.append(docker.ContainerVolumeArgs(volume_name=volume.name, container_path=path))
        mount_spec = [f"{v}:{p}" for v, p in sorted(target.volumes.items())]
        command = list(target.command) if target.command else None
        if target.hot_reload is not None:
            source = (args.project_dir / target.hot_reload.source).resolve()
            mounts.append(
                docker.ContainerVolumeArgs(
                    host_path=str(source), container_path=target.hot_reload.target, read_only=True
                )
            )
            command = list(target.hot_reload.command)
            mount_spec.append(f"{source}:{target.hot_reload.target}:ro")

        plain = [f"{key}={value}" for key, value in sorted(service.plain_env.items())]
        envs = pulumi.Output.secret(
            pulumi.Output.all(*[secret_values[n].apply(lambda v, n=n: f"{n}={v}") for n in service.secret_env])
        ).apply(lambda secret: plain + list(secret))

        version = container_version(service, command, mount_spec, args.extra_labels, args.digest, args.secret_version)
        release_labels = {LABEL_IMAGE_TAG: service.tag, LABEL_VERSION: version}
        if args.digest:
            release_labels[LABEL_IMAGE_DIGEST] = args.digest
        docker_name = f"{base_name}-{version}"
        self.container = docker.Container(
            f"{name}-{version}",
            name=docker_name,
            image=image.image_id,
            command=command,
            envs=envs if service.secret_env else plain,
            user=target.user,
            restart=RESTART_POLICY,
            log_driver=LOG_DRIVER,
            log_opts=LOG_OPTIONS,
            hosts=[docker.ContainerHostArgs(host="host.docker.internal", ip="host-gateway")],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network.name)],
            volumes=mounts,
            labels=_labels({**labels, **release_labels}),
            must_run=True,
            # Health is judged by the activation, from the proxy: the image needs nothing for it.
            # Containers made when the program set a health check of its own keep it until replaced.
            wait=False,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(ignore_changes=["healthcheck"])),
        )
        self.activation = local.Command(
            f"{name}-{version}-live",
            create=pulumi.Output.all(self.container.name, self.proxy.name).apply(
                lambda names: shlex.join(
                    rollout.activate_operation(
                        Activation(
                            service=name,
                            tag=service.tag,
                            container=names[0],
                            network=base_name,
                            proxy=names[1],
                            port=target.container_port,
                            health_path=service.health_path,
                            start_period=target.start_period_seconds,
                            timeout=target.ready_timeout_seconds,
                            secret_env=service.secret_env,
                        )
                    )
                )
            ),
            delete=self.container.name.apply(lambda c: shlex.join(rollout.retire_operation(c, target.drain_seconds))),
            environment=docker_cli_env,
            # Put live behind the proxy's current configuration.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container, self.proxy_config]),
        )
        # What is live, as the activation reported it: after a failed rollout these (and the
        # stack outputs built from them) still name the version that kept serving.
        live = self.activation.stdout.apply(json.loads)
        self.container_name: pulumi.Output[str] = live.apply(lambda report: str(report["container"]))
        self.live_tag: pulumi.Output[str] = live.apply(lambda report: str(report["tag"]))
        self.image_id = image.image_id
        self.version = version
        self.version_container = docker_name
        self.digest = args.digest
        self.url = f"http://{args.address}:{target.port}"
        self.health_url = service.health_url(self.url)
        self.register_outputs(
            {"container_name": self.container_name, "image_id": image.image_id, "url": self.url, "version": version}
        )

    def _proxy(
        self,
        name: str,
        base_name: str,
        target: DockerTarget,
        proxy_image: ProxySettings,
        conf: str,
        network: docker.Network,
        labels: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> docker.Container:
        image = docker.RemoteImage(f"{name}-proxy-image", name=proxy_image.image_ref, keep_locally=True, opts=child)
        return docker.Container(
            f"{name}-proxy",
            name=f"{base_name}-proxy",
            image=image.image_id,
            command=list(proxy.COMMAND),
            user=target.user,
            uploads=[docker.ContainerUploadArgs(file=proxy.CONFIG_PATH, content=conf)],
            ports=[docker.ContainerPortArgs(internal=proxy.LISTEN_PORT, external=target.port, ip=target.bind)],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network.name)],
            restart=RESTART_POLICY,
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=proxy.healthcheck_test(), interval="5s", timeout="3s", retries=3, start_period="5s"
            ),
            log_driver=LOG_DRIVER,
            log_opts=LOG_OPTIONS,
            labels=_labels({**labels, LABEL_ROLE: ROLE_PROXY}),
            must_run=True,
            wait=True,
            wait_timeout=60,
            # Stacks from before the proxy had the app container on this port under this name:
            # taking its place frees the port first (once, with a short gap).
            # A changed configuration reaches the running proxy through its own command resource.
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(aliases=[pulumi.Alias(name=f"{name}-container")], ignore_changes=["uploads"]),
            ),
        )


def _labels(labels: dict[str, str]) -> list[docker.ContainerLabelArgs]:
    return [docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(labels.items())]
