"""What a policy knows of the resource it checks: its provider type, its properties, its place."""

from __future__ import annotations

import shlex
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs

from service_infra.contract import DOCKER_SERVICE_TYPE, LABEL_SERVICE, PROJECT

from .values import plain, revealed

# Provider resource types the program declares (its own component types are in the contract).
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
CONTAINER = "docker:index/container:Container"
DOCKER_VOLUME = "docker:index/volume:Volume"
DOCKER_NETWORK = "docker:index/network:Network"
COMMAND = "command:local:Command"
GITHUB_ENVIRONMENT = "github:index/repositoryEnvironment:RepositoryEnvironment"
GITHUB_BRANCH_POLICY = "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
GITHUB_ENVIRONMENT_VARIABLE = "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable"
GITHUB_VARIABLE = "github:index/actionsVariable:ActionsVariable"


def props(args: ResourceValidationArgs | PolicyResource) -> dict[str, Any]:
    """The resource's inputs, read once through `values.plain`."""
    read = plain(args.props)
    return read if isinstance(read, dict) else {}


def settings(args: ResourceValidationArgs | PolicyResource) -> dict[str, Any]:
    """The resource's inputs with secrets revealed (`values.revealed`): what a guard judges."""
    return revealed(props(args))


def label(resource_type: str, name: str) -> str:
    """How a message names a resource: `Container 'llm-server-container'`."""
    short = resource_type.rsplit(":", 1)[-1]
    return f"{short} '{name}'"


def _urn_parts(urn: str) -> list[str]:
    # urn:pulumi:<stack>::<project>::<parent type>$...$<type>::<name> (a name may hold "::")
    return urn.split("::", 3)


def urn_types(urn: str) -> tuple[str, ...]:
    """The resource's type chain in its URN, outermost parent first, the resource's own type last."""
    parts = _urn_parts(urn)
    return tuple(parts[2].split("$")) if len(parts) == 4 else ()


def urn_name(urn: str) -> str | None:
    parts = _urn_parts(urn)
    return parts[3] if len(parts) == 4 else None


def words(command: str) -> list[str]:
    """A command line as the shell splits it (a line the shell cannot split: by whitespace)."""
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def docker_labels(inputs: dict[str, Any]) -> dict[str, Any]:
    """A Docker container's, network's or volume's labels by key (`labels: [{label, value}]` on
    the wire); a value not known yet stays UNKNOWN."""
    labels = inputs.get("labels")
    return {
        entry["label"]: entry.get("value")
        for entry in (labels if isinstance(labels, list) else [])
        if isinstance(entry, dict) and isinstance(entry.get("label"), str)
    }


def docker_service(args: ResourceValidationArgs, inputs: dict[str, Any]) -> str:
    """The service a Docker resource belongs to: its service label, else the name of the
    DockerService it is declared in, else `<service>`. Messages use it to name the config key."""
    service = docker_labels(inputs).get(LABEL_SERVICE)
    if isinstance(service, str):
        return service
    parent = args.opts.parent
    if parent and urn_types(parent)[-1:] == (DOCKER_SERVICE_TYPE,):
        return urn_name(parent) or "<service>"
    return "<service>"


def docker_key(service: str, setting: str) -> str:
    """The config key of a service's Docker setting: `service-infra:services.<service>.docker.<setting>`."""
    return f"{PROJECT}:services.{service}.docker.{setting}"
