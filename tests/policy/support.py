"""Feeding the policies what the engine feeds them.

Properties are written as they travel on the wire (camelCase names, secrets as the engine's
secret objects, unknowns as the engine's sentinels) and decoded by the SDK's own pipeline
(`deserialize_properties` + `unknown_checking_proxy`, with the pack's secret markers installed),
exactly as `pulumi_policy` does before it calls a validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi_policy.policy as sdk
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

PROD = guards.Target(stack="prod", environment="prod")
STAGING = guards.Target(stack="staging", environment="staging")

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN_STRING = UNKNOWN_STRING_VALUE
UNKNOWN_ARRAY = UNKNOWN_ARRAY_VALUE
UNKNOWN_OBJECT = UNKNOWN_OBJECT_VALUE


def secret(value: Any) -> dict[str, Any]:
    """A value as the engine sends a Pulumi secret."""
    return {SECRET_SIG_KEY: SECRET_SIG, "value": value}


def decode(props: Mapping[str, Any]) -> Mapping[str, Any]:
    guards.install_secret_markers()
    return unknown_checking_proxy(vars(sdk)["deserialize_properties"](dict(props)))


def urn(resource_type: str, name: str, stack: str = "prod") -> str:
    return f"urn:pulumi:{stack}::service-infra::{resource_type}::{name}"


def options(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def resource_args(
    resource_type: str, name: str, props: Mapping[str, Any], protect: bool = False
) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        resource_type, decode(props), urn(resource_type, name), name, options(protect), None, {}, {}
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
