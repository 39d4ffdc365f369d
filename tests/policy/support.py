"""Feeding the policies what the engine feeds them.

Properties are written as they travel on the wire (camelCase names, secrets as the engine's
secret objects, unknowns as the engine's sentinels) and decoded by the SDK's own pipeline
(`deserialize_properties` + `unknown_checking_proxy`, with the pack's secret markers installed),
exactly as `pulumi_policy` does before it calls a validation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi_policy.policy as sdk
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policy import guards
from policy.guards.resources import COMMAND
from service_infra.contract import (
    DOCKER_SERVICE_TYPE,
    FLY_APP_TYPE,
    PROJECT,
    SECRET_SIGNATURE,
    SECRET_SIGNATURE_KEY,
    SERVICE_ENVIRONMENT_TYPE,
)

PROD = guards.Target(stack="prod", environment="prod")
STAGING = guards.Target(stack="staging", environment="staging")
# A pull request's preview, as `python -m service_infra preview open 7` makes it.
PREVIEW = guards.Target(stack="pr-7", environment="preview")

UNKNOWN_STRING = UNKNOWN_STRING_VALUE
UNKNOWN_ARRAY = UNKNOWN_ARRAY_VALUE
UNKNOWN_OBJECT = UNKNOWN_OBJECT_VALUE


def secret(value: Any) -> dict[str, Any]:
    """A value as the engine sends a Pulumi secret."""
    return {SECRET_SIGNATURE_KEY: SECRET_SIGNATURE, "value": value}


def decode(props: Mapping[str, Any]) -> Mapping[str, Any]:
    guards.install_secret_markers()
    return unknown_checking_proxy(vars(sdk)["deserialize_properties"](dict(props)))


def urn(resource_type: str, name: str, stack: str = "prod", parents: Sequence[str] = ()) -> str:
    """A URN as the engine makes it: the parents' types, outermost first, before the resource's own."""
    return f"urn:pulumi:{stack}::{PROJECT}::{'$'.join([*parents, resource_type])}::{name}"


# Where the program puts a service's FlyApp: under the stack's ServiceEnvironment.
FLY_APP_PARENTS = (SERVICE_ENVIRONMENT_TYPE,)
FLY_SERVICE = "image-descriptor"


def fly_app_urn(service: str = FLY_SERVICE) -> str:
    return urn(FLY_APP_TYPE, service, parents=FLY_APP_PARENTS)


def fly_command_urn(name: str, service: str = FLY_SERVICE) -> str:
    """The URN of a command the service's FlyApp declares (its parent is fly_app_urn(service))."""
    return urn(COMMAND, name, parents=[*FLY_APP_PARENTS, FLY_APP_TYPE])


def options(protect: bool = False, parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def resource_args(
    resource_type: str, name: str, props: Mapping[str, Any], protect: bool = False
) -> ResourceValidationArgs:
    """A resource declared at the top of the stack (no parent)."""
    return ResourceValidationArgs(
        resource_type, decode(props), urn(resource_type, name), name, options(protect), None, {}, {}
    )


def fly_command_args(
    name: str, props: Mapping[str, Any], protect: bool = False, service: str = FLY_SERVICE
) -> ResourceValidationArgs:
    """A command of the service's FlyApp, with the URN and parent the engine gives it."""
    return ResourceValidationArgs(
        COMMAND,
        decode(props),
        fly_command_urn(name, service),
        name,
        options(protect, fly_app_urn(service)),
        None,
        {},
        {},
    )


# Where the program puts a service's DockerService: under the stack's ServiceEnvironment.
DOCKER_SERVICE_PARENTS = (SERVICE_ENVIRONMENT_TYPE,)


def docker_service_args(
    resource_type: str, name: str, props: Mapping[str, Any], service: str, protect: bool = False
) -> ResourceValidationArgs:
    """A resource the service's DockerService declares, with the URN and parent the engine gives it."""
    parent = urn(DOCKER_SERVICE_TYPE, service, parents=DOCKER_SERVICE_PARENTS)
    return ResourceValidationArgs(
        resource_type,
        decode(props),
        urn(resource_type, name, parents=[*DOCKER_SERVICE_PARENTS, DOCKER_SERVICE_TYPE]),
        name,
        options(protect, parent),
        None,
        {},
        {},
    )


def stack_resource(
    resource_type: str,
    name: str,
    props: Mapping[str, Any],
    dependencies: list[PolicyResource] | None = None,
    property_dependencies: dict[str, list[PolicyResource]] | None = None,
) -> PolicyResource:
    return PolicyResource(
        resource_type,
        decode(props),
        urn(resource_type, name),
        name,
        options(),
        None,
        None,
        dependencies or [],
        property_dependencies or {},
    )


def policy_named(name: str, target: guards.Target = PROD) -> Policy:
    (found,) = [p for p in guards.policies(target) if p.name == name]
    return found


def violations(name: str, args: ResourceValidationArgs, target: guards.Target = PROD) -> list[str]:
    """The messages the named policy reports for one resource."""
    policy = policy_named(name, target)
    assert isinstance(policy, ResourceValidationPolicy)
    messages: list[str] = []
    policy.validate(args, lambda message, _urn=None: messages.append(message))
    return messages


def stack_violations(
    name: str, resources: list[PolicyResource], target: guards.Target = PROD
) -> list[tuple[str, str | None]]:
    policy = policy_named(name, target)
    assert isinstance(policy, StackValidationPolicy)
    found: list[tuple[str, str | None]] = []
    policy.validate(StackValidationArgs(resources, {}), lambda message, at=None: found.append((message, at)))
    return found


def struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(props)
    return message


def analyze_request(
    resource_type: str, name: str, props: Mapping[str, Any], protect: bool = False, stack: str = "prod"
) -> Any:
    """The AnalyzeRequest the engine sends for a resource declared at the top of the stack."""
    return proto.AnalyzeRequest(
        urn=urn(resource_type, name, stack),
        type=resource_type,
        name=name,
        properties=struct(props),
        options=proto.AnalyzerResourceOptions(protect=protect),
    )


def fly_analyze_request(name: str, props: Mapping[str, Any], protect: bool = False) -> Any:
    """The AnalyzeRequest the engine sends for a command of the FlyApp FLY_SERVICE."""
    return proto.AnalyzeRequest(
        urn=fly_command_urn(name),
        type=COMMAND,
        name=name,
        properties=struct(props),
        options=proto.AnalyzerResourceOptions(protect=protect, parent=fly_app_urn()),
    )
