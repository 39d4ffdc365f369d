"""The pack as a whole: which stack it runs for, its enforcement levels, and the SDK path.

The analyzer tests go through pulumi_policy's own gRPC servicer (the object the engine talks
to), with requests built the way the engine builds them.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi_policy.policy as sdk
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy, deserialize

from policy import guards
from policy.guards.resources import CONTAINER, DOCKER_VOLUME, GITHUB_ENVIRONMENT
from service_infra.contract import SECRET_SIGNATURE, SECRET_SIGNATURE_KEY
from tests.policy.support import (
    PREVIEW,
    PROD,
    STAGING,
    analyze_request,
    fly_analyze_request,
    secret,
    struct,
    urn,
)
from tests.support import ROOT

EXPECTED_POLICIES = {
    "images-pinned",
    "containers-healthcheck-restart-logs",
    "production-environment-protected",
    "production-environment-branch-policy",
    "no-plaintext-secrets",
    "fly-volumes-protected",
    "docker-volumes-protected",
    "containers-non-root",
    "published-ports-explicit",
    "production-environment-exists",
    "app-versions-health-gated",
    "docker-host-own-identity",
    "preview-resources-expire",
    "preview-no-retained-data",
    "preview-smallest-machine",
}
STACK_POLICIES = {
    "production-environment-branch-policy",
    "production-environment-exists",
    "app-versions-health-gated",
    "docker-host-own-identity",
}


@pytest.mark.parametrize(
    ("environ", "prod"),
    [
        ({"PULUMI_STACK": "prod", "PULUMI_CONFIG": json.dumps({guards.ENVIRONMENT_KEY: "prod"})}, True),
        ({"PULUMI_STACK": "staging", "PULUMI_CONFIG": json.dumps({guards.ENVIRONMENT_KEY: "staging"})}, False),
        ({"PULUMI_STACK": "local", "PULUMI_CONFIG": json.dumps({guards.ENVIRONMENT_KEY: "local"})}, False),
        # A stack named otherwise is prod by its environment key...
        ({"PULUMI_STACK": "prod-eu", "PULUMI_CONFIG": json.dumps({guards.ENVIRONMENT_KEY: "prod"})}, True),
        # ...and the stack named prod is prod whatever its config says: config can be edited.
        ({"PULUMI_STACK": "prod", "PULUMI_CONFIG": json.dumps({guards.ENVIRONMENT_KEY: "staging"})}, True),
        ({"PULUMI_STACK": "prod", "PULUMI_CONFIG": json.dumps({guards.ENVIRONMENT_KEY: "local"})}, True),
        ({"PULUMI_STACK": "staging", "PULUMI_CONFIG": json.dumps({guards.ENVIRONMENT_KEY: "prod"})}, True),
        ({"PULUMI_STACK": "prod", "PULUMI_CONFIG": json.dumps({"other:key": "x"})}, True),
        ({"PULUMI_STACK": "prod", "PULUMI_CONFIG": "not json"}, True),
        ({"PULUMI_STACK": "prod"}, True),
        ({"PULUMI_STACK": "dev"}, False),
        ({}, False),  # e.g. `pulumi policy publish`: no stack at all
    ],
)
def test_enforcement_follows_the_stack(environ: dict[str, str], prod: bool) -> None:
    target = guards.Target.from_environ(environ)
    assert target.is_prod is prod
    assert target.enforcement_level is (EnforcementLevel.MANDATORY if prod else EnforcementLevel.ADVISORY)


@pytest.mark.parametrize(
    ("stack", "environment", "prod", "preview"),
    [
        # A pull request's preview, named by the engine or configured as one: mandatory.
        ("pr-7", "preview", False, True),
        ("pr-7", None, False, True),
        ("pr-7", "staging", False, True),  # the name wins over config
        ("org/service-infra/pr-42", None, False, True),
        ("ci", "preview", False, True),
        ("pr-7", "prod", True, True),  # held to both: no deploy passes
        # The stack named prod stays prod, and no config edit makes it a preview.
        ("prod", "preview", True, False),
        # Not previews: the template's own name is not a pull request's, nor are look-alikes.
        ("preview", None, False, False),
        ("pr-0", None, False, False),
        ("pr-7-old", None, False, False),
        ("staging", "staging", False, False),
        ("local", "local", False, False),
        (None, None, False, False),
    ],
)
def test_a_preview_is_mandatory(stack: str | None, environment: str | None, prod: bool, preview: bool) -> None:
    target = guards.Target(stack=stack, environment=environment)
    assert (target.is_prod, target.is_preview) == (prod, preview)
    mandatory = prod or preview
    assert target.enforcement_level is (EnforcementLevel.MANDATORY if mandatory else EnforcementLevel.ADVISORY)
    assert guards.LiveTarget(target).is_preview is preview


def test_target_never_reads_more_than_the_environment_key() -> None:
    environ = {
        "PULUMI_STACK": "prod",
        "PULUMI_CONFIG": json.dumps({guards.ENVIRONMENT_KEY: "prod", "service-infra:secrets": '{"API_KEY": "s3cr3t"}'}),
    }
    assert "s3cr3t" not in repr(guards.Target.from_environ(environ))
    assert "s3cr3t" not in guards.Target.from_environ(environ).describe()


def test_the_pack_has_every_policy_once() -> None:
    names = [p.name for p in guards.policies(PROD)]
    assert sorted(names) == sorted(EXPECTED_POLICIES)
    kinds = {p.name: type(p) for p in guards.policies(PROD)}
    assert all(kinds[n] is StackValidationPolicy for n in STACK_POLICIES)
    assert all(k is ResourceValidationPolicy for n, k in kinds.items() if n not in STACK_POLICIES)
    # Every policy takes the pack's level: none pins its own.
    assert all(p.enforcement_level is None for p in guards.policies(PROD))


def test_secret_marker_hook_is_installed_once() -> None:
    guards.install_secret_markers()
    hooked = vars(sdk)["deserialize_properties"]
    guards.install_secret_markers()
    assert vars(sdk)["deserialize_properties"] is hooked
    assert getattr(hooked, "_service_infra_secret_markers", False)


def servicer(target: guards.Target) -> Any:
    guards.install_secret_markers()
    return sdk._PolicyAnalyzerServicer(  # the object pulumi_policy serves to the engine
        guards.PACK_NAME, "0.1.0", guards.policies(target), target.enforcement_level
    )


def analyze(target: guards.Target, request: Any) -> Any:
    return servicer(target).Analyze(request, None)


BAD_CONTAINER = {
    "image": "nginx:latest",
    "user": "10001:10001",
    "restart": "always",
    "envs": ["APP_ENV=prod", "API_KEY=plaintext-key-value"],
}


def test_in_prod_every_violation_is_mandatory() -> None:
    response = analyze(PROD, analyze_request(CONTAINER, "llm-server-container", BAD_CONTAINER))
    levels = {d.enforcementLevel for d in response.diagnostics}
    assert levels == {proto.MANDATORY}
    policies = {d.policyName for d in response.diagnostics}
    assert policies == {"images-pinned", "containers-healthcheck-restart-logs", "no-plaintext-secrets"}
    assert all(d.policyPackName == guards.PACK_NAME for d in response.diagnostics)
    assert all("plaintext-key-value" not in d.message for d in response.diagnostics)


def test_elsewhere_every_violation_is_advisory() -> None:
    response = analyze(STAGING, analyze_request(CONTAINER, "llm-server-container", BAD_CONTAINER))
    assert response.diagnostics
    assert {d.enforcementLevel for d in response.diagnostics} == {proto.ADVISORY}


def test_analyzer_info_announces_the_level() -> None:
    for target, level in ((PROD, proto.MANDATORY), (PREVIEW, proto.MANDATORY), (STAGING, proto.ADVISORY)):
        info = servicer(target).GetAnalyzerInfo(empty_pb2.Empty(), None)
        assert info.name == guards.PACK_NAME
        assert {p.name for p in info.policies} == EXPECTED_POLICIES
        assert {p.enforcementLevel for p in info.policies} == {level}


UNPROTECTED_VOLUME = {
    "create": "python3 -m service_infra.ops.fly ensure-volume --app a --name data --region iad --size 1"
}


def configured(stack: str, config: dict[str, str]) -> Any:
    """The servicer as `policy/__main__.py` builds it, after the engine's ConfigureStack call."""
    guards.install_secret_markers()
    live = guards.LiveTarget(guards.Target.from_environ({}))
    guards.install_stack_configuration(live)
    pack = sdk._PolicyAnalyzerServicer(guards.PACK_NAME, "0.1.0", guards.policies(live), live.current.enforcement_level)
    pack.ConfigureStack(proto.AnalyzerStackConfigureRequest(stack=stack, project="service-infra", config=config), None)
    return pack


def analyze_with(pack: Any, request: Any) -> Any:
    return pack.Analyze(request, None)


def test_the_engines_configure_stack_call_makes_prod_mandatory() -> None:
    pack = configured("prod", {guards.ENVIRONMENT_KEY: "prod", "service-infra:secrets.API_KEY": "s3cr3t"})
    response = analyze_with(pack, analyze_request(CONTAINER, "llm-server-container", BAD_CONTAINER))
    assert {d.enforcementLevel for d in response.diagnostics} == {proto.MANDATORY}
    volume = analyze_with(pack, fly_analyze_request("image-descriptor-volume-data", UNPROTECTED_VOLUME))
    assert [d.policyName for d in volume.diagnostics] == ["fly-volumes-protected"]
    assert {d.enforcementLevel for d in volume.diagnostics} == {proto.MANDATORY}


@pytest.mark.parametrize(
    "config", [{guards.ENVIRONMENT_KEY: "staging"}, {guards.ENVIRONMENT_KEY: "local"}, {"other:key": "x"}, {}]
)
def test_the_stack_the_engine_names_prod_is_mandatory_whatever_its_config(config: dict[str, str]) -> None:
    pack = configured("prod", config)
    response = analyze_with(pack, analyze_request(CONTAINER, "llm-server-container", BAD_CONTAINER))
    assert {d.enforcementLevel for d in response.diagnostics} == {proto.MANDATORY}
    volume = analyze_with(pack, fly_analyze_request("image-descriptor-volume-data", UNPROTECTED_VOLUME))
    assert [(d.policyName, d.enforcementLevel) for d in volume.diagnostics] == [
        ("fly-volumes-protected", proto.MANDATORY)
    ]


@pytest.mark.parametrize(("stack", "config"), [("staging", {guards.ENVIRONMENT_KEY: "staging"}), ("dev", {})])
def test_the_engines_configure_stack_call_keeps_other_stacks_advisory(stack: str, config: dict[str, str]) -> None:
    pack = configured(stack, config)
    response = analyze_with(pack, analyze_request(CONTAINER, "llm-server-container", BAD_CONTAINER))
    assert response.diagnostics
    assert {d.enforcementLevel for d in response.diagnostics} == {proto.ADVISORY}
    assert not analyze_with(pack, fly_analyze_request("image-descriptor-volume-data", UNPROTECTED_VOLUME)).diagnostics


UNLABELLED_VOLUME = {"name": "llm-server-pr-7-llm-cache"}


@pytest.mark.parametrize(
    ("stack", "config"),
    [("pr-7", {guards.ENVIRONMENT_KEY: "preview"}), ("pr-7", {}), ("ci", {guards.ENVIRONMENT_KEY: "preview"})],
)
def test_the_engines_configure_stack_call_makes_a_preview_mandatory(stack: str, config: dict[str, str]) -> None:
    pack = configured(stack, config)
    response = analyze_with(pack, analyze_request(CONTAINER, "llm-server-container", BAD_CONTAINER, stack=stack))
    assert {d.enforcementLevel for d in response.diagnostics} == {proto.MANDATORY}
    assert "preview-resources-expire" in {d.policyName for d in response.diagnostics}
    volume = analyze_with(pack, analyze_request(DOCKER_VOLUME, "llm-server-llm-cache", UNLABELLED_VOLUME, True, stack))
    assert sorted((d.policyName, d.enforcementLevel) for d in volume.diagnostics) == [
        ("preview-no-retained-data", proto.MANDATORY),
        ("preview-resources-expire", proto.MANDATORY),
    ]


def test_the_preview_policies_stay_out_of_staging() -> None:
    pack = configured("staging", {guards.ENVIRONMENT_KEY: "staging"})
    volume = analyze_with(pack, analyze_request(DOCKER_VOLUME, "llm-server-llm-cache", UNLABELLED_VOLUME, True))
    assert list(volume.diagnostics) == []


def test_a_prod_stack_named_otherwise_is_found_by_its_environment_key() -> None:
    pack = configured("prod-eu", {guards.ENVIRONMENT_KEY: "prod"})
    response = analyze_with(pack, fly_analyze_request("image-descriptor-volume-data", UNPROTECTED_VOLUME))
    assert {d.enforcementLevel for d in response.diagnostics} == {proto.MANDATORY}


def test_stack_hook_installed_twice_wraps_the_sdk_once() -> None:
    guards.install_stack_configuration(guards.LiveTarget(STAGING))
    first = sdk._PolicyAnalyzerServicer.ConfigureStack
    guards.install_stack_configuration(guards.LiveTarget(STAGING))
    second = sdk._PolicyAnalyzerServicer.ConfigureStack
    original = first._service_infra_original  # type: ignore[attr-defined]
    assert second._service_infra_original is original  # type: ignore[attr-defined]
    assert not hasattr(original, "_service_infra_original")


def test_secrets_reach_policies_as_secrets_through_the_sdk() -> None:
    props = {
        "envs": secret(["APP_ENV=prod", "API_KEY=test-secret-value-of-API_KEY"]),
        **{k: v for k, v in BAD_CONTAINER.items() if k != "envs"},
    }
    response = analyze(PROD, analyze_request(CONTAINER, "llm-server-container", props))
    assert "no-plaintext-secrets" not in {d.policyName for d in response.diagnostics}


def test_unknown_values_do_not_turn_into_errors() -> None:
    props = {
        "image": proto_unknown(),
        "user": proto_unknown(),
        "envs": proto_unknown(),
        "healthcheck": proto_unknown(),
        "logOpts": proto_unknown(),
    }
    props["restart"] = "unless-stopped"
    response = analyze(PROD, analyze_request(CONTAINER, "llm-server-container", props))
    # pulumi_policy turns an unhandled unknown into a "can't run policy during preview" diagnostic.
    assert [d.message for d in response.diagnostics] == []


def proto_unknown() -> str:
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    return UNKNOWN_STRING_VALUE


def test_protect_travels_in_the_request_options() -> None:
    create = "python3 -m service_infra.ops.fly ensure-volume --app a --name cache_data --region iad --size 1"
    unprotected = analyze(PROD, fly_analyze_request("image-descriptor-volume-cache_data", {"create": create}))
    protected = analyze(
        PROD, fly_analyze_request("image-descriptor-volume-cache_data", {"create": create}, protect=True)
    )
    assert [d.policyName for d in unprotected.diagnostics] == ["fly-volumes-protected"]
    assert list(protected.diagnostics) == []


def test_stack_policy_through_the_servicer() -> None:
    environment = {
        "repository": "local-llm-server",
        "environment": "production",
        "reviewers": [{"users": [1.0]}],
        "deploymentBranchPolicy": {"protectedBranches": False, "customBranchPolicies": True},
    }
    env_urn = urn(GITHUB_ENVIRONMENT, "production")
    request = proto.AnalyzeStackRequest(
        resources=[
            proto.AnalyzerResource(
                urn=env_urn, type=GITHUB_ENVIRONMENT, name="production", properties=struct(environment)
            )
        ]
    )
    response = servicer(PROD).AnalyzeStack(request, None)
    ((diagnostic),) = response.diagnostics
    assert diagnostic.policyName == "production-environment-branch-policy"
    assert diagnostic.urn == env_urn
    assert diagnostic.enforcementLevel == proto.MANDATORY


def test_the_contracts_secret_signature_is_the_sdks() -> None:
    assert (SECRET_SIGNATURE_KEY, SECRET_SIGNATURE) == (deserialize.SPECIAL_SIG_KEY, deserialize.SPECIAL_SECRET_SIG)


def test_docs_policy_md_lists_every_policy_of_the_pack() -> None:
    table = (ROOT / "docs" / "policy.md").read_text().split("## Enforcement", 1)[0]
    listed = re.findall(r"^\| `([a-z0-9-]+)` \|", table, re.MULTILINE)
    assert sorted(listed) == sorted(EXPECTED_POLICIES)
