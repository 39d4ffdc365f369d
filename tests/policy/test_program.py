"""The real program's resources against the pack.

The program runs under Pulumi mocks (tests/unit's harness) for each committed stack; every
RegisterResource request it sends is turned into the AnalyzeRequest the engine would send the
pack (same properties Struct: wire names, secrets, protect), and into one AnalyzeStackRequest.
The committed stacks must pass; a stack edited into a violation must not.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pulumi_policy.policy as sdk
import pytest
import yaml
from pulumi.runtime import mocks, proto
from pulumi_policy import ResourceValidationArgs

from policy import guards
from policy.guards.fly import fly_role
from policy.guards.resources import (
    COMMAND,
    CONTAINER,
    DOCKER_NETWORK,
    DOCKER_VOLUME,
    GITHUB_BRANCH_POLICY,
    GITHUB_ENVIRONMENT,
    GITHUB_ENVIRONMENT_VARIABLE,
    REMOTE_IMAGE,
    urn_types,
)
from service_infra.cli.preview import preview_document
from service_infra.contract import FLY_APP_TYPE
from service_infra.settings import SettingsError, load_settings
from tests.policy.support import PREVIEW, options
from tests.support import ROOT
from tests.support.mocks import load_stack_config, run_stack


@dataclass
class Registration:
    urn: str
    request: Any


@pytest.fixture
def capture(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Registration]]:
    registered: list[Registration] = []
    original = mocks.MockMonitor.RegisterResource

    def register(self: mocks.MockMonitor, request: Any) -> Any:
        response = original(self, request)
        registered.append(Registration(response.urn, request))
        return response

    monkeypatch.setattr(mocks.MockMonitor, "RegisterResource", register)
    yield registered


def analyze(
    stack: str, config: dict[str, Any], registered: list[Registration], target: guards.Target | None = None
) -> list[Any]:
    """Every diagnostic the pack gives the program's resources for this stack (or, with `target`,
    for the stack the pack is told it checks)."""
    run_stack(config, stack)
    target = target or guards.Target(stack=stack, environment=config.get(guards.ENVIRONMENT_KEY))
    guards.install_secret_markers()
    analyzer = sdk._PolicyAnalyzerServicer(guards.PACK_NAME, "0.1.0", guards.policies(target), target.enforcement_level)
    custom = [r for r in registered if r.request.custom and not r.request.type.startswith("pulumi:providers:")]
    assert custom, "the program registered no resources"
    diagnostics = []
    for r in custom:
        options = proto.AnalyzerResourceOptions(protect=r.request.protect, parent=r.request.parent)
        request = proto.AnalyzeRequest(
            urn=r.urn, type=r.request.type, name=r.request.name, properties=r.request.object, options=options
        )
        diagnostics.extend(analyzer.Analyze(request, None).diagnostics)
    resources = [
        proto.AnalyzerResource(
            urn=r.urn,
            type=r.request.type,
            name=r.request.name,
            properties=r.request.object,
            options=proto.AnalyzerResourceOptions(protect=r.request.protect),
            parent=r.request.parent,
            dependencies=list(r.request.dependencies),
            propertyDependencies={
                key: proto.AnalyzerPropertyDependencies(urns=list(deps.urns))
                for key, deps in r.request.propertyDependencies.items()
            },
        )
        for r in custom
    ]
    diagnostics.extend(analyzer.AnalyzeStack(proto.AnalyzeStackRequest(resources=resources), None).diagnostics)
    return diagnostics


def types_of(registered: list[Registration]) -> set[str]:
    return {r.request.type for r in registered}


@pytest.mark.parametrize("stack", ["local", "staging", "prod"])
def test_committed_stacks_pass_every_policy(stack: str, capture: list[Registration]) -> None:
    diagnostics = analyze(stack, load_stack_config(stack), capture)
    assert [(d.policyName, d.message) for d in diagnostics] == []


def preview_stack_config(pull_request: int = 7, slot: int = 0) -> dict[str, Any]:
    """Pulumi.pr-<n>.yaml's config, as `python -m service_infra preview open <n>` writes it."""
    template = yaml.safe_load((ROOT / "Pulumi.preview.yaml").read_text())
    return preview_document(template, pull_request, slot)["config"]


def test_a_preview_made_by_preview_open_passes_every_policy(capture: list[Registration]) -> None:
    diagnostics = analyze("pr-7", preview_stack_config(), capture)
    assert [(d.policyName, d.message) for d in diagnostics] == []
    # ...and it has what the preview policies check: Docker resources, Fly data and a release.
    assert {CONTAINER, DOCKER_NETWORK, DOCKER_VOLUME, COMMAND} <= types_of(capture)
    names = {r.request.name for r in capture}
    assert {
        "acme-image-descriptor-pr-7-app",
        "acme-image-descriptor-pr-7-volume-cache_data",
        "acme-image-descriptor-pr-7-release",
    } <= names


def test_a_preview_run_as_staging_would_break_the_preview_rules(capture: list[Registration]) -> None:
    """The staging program's resources, checked as pr-7's: unlabelled, a bigger machine."""
    diagnostics = analyze("staging", load_stack_config("staging"), capture, PREVIEW)
    found = {d.policyName for d in diagnostics}
    assert {"preview-resources-expire", "preview-smallest-machine"} <= found
    assert {d.enforcementLevel for d in diagnostics} == {proto.MANDATORY}


def test_prod_exercises_every_guarded_resource_type(capture: list[Registration]) -> None:
    analyze("prod", load_stack_config("prod"), capture)
    assert {
        REMOTE_IMAGE,
        CONTAINER,
        COMMAND,
        GITHUB_ENVIRONMENT,
        GITHUB_BRANCH_POLICY,
        GITHUB_ENVIRONMENT_VARIABLE,
        DOCKER_VOLUME,
    } <= types_of(capture)
    protected = {r.request.name for r in capture if r.request.protect}
    assert {"acme-image-descriptor-app", "acme-image-descriptor-volume-cache_data", "production"} <= protected
    volumes = {r.request.name for r in capture if r.request.type == DOCKER_VOLUME}
    assert volumes and volumes <= protected


def test_the_programs_fly_commands_are_found_by_their_place(capture: list[Registration]) -> None:
    analyze("prod", load_stack_config("prod"), capture)
    under_fly_app = [r for r in capture if urn_types(r.urn)[-2:] == (FLY_APP_TYPE, COMMAND)]
    roles = {
        r.request.name: fly_role(
            ResourceValidationArgs(COMMAND, {}, r.urn, r.request.name, options(parent=r.request.parent), None)
        )
        for r in under_fly_app
    }
    assert roles == {
        "acme-image-descriptor-app": "app",
        "acme-image-descriptor-volume-cache_data": "volume",
        "acme-image-descriptor-secrets": None,
        "acme-image-descriptor-release": "release",
    }


def test_prod_with_unprotected_fly_data_is_refused(capture: list[Registration]) -> None:
    config = copy.deepcopy(load_stack_config("prod"))
    config["service-infra:services"]["image-descriptor"]["fly"]["protect"] = False
    diagnostics = analyze("prod", config, capture)
    found = [(d.policyName, d.enforcementLevel) for d in diagnostics]
    assert found == [("fly-volumes-protected", proto.MANDATORY)] * 2
    messages = sorted(d.message for d in diagnostics)
    assert "Command 'acme-image-descriptor-app': the Fly app is not protected" in messages[0]
    assert "Command 'acme-image-descriptor-volume-cache_data': the Fly volume is not protected" in messages[1]


def test_staging_with_unprotected_fly_data_is_allowed(capture: list[Registration]) -> None:
    config = copy.deepcopy(load_stack_config("staging"))
    config["service-infra:services"]["image-descriptor"]["fly"]["protect"] = False
    assert list(analyze("staging", config, capture)) == []


def test_a_plaintext_password_in_a_local_command_is_flagged_as_advice(capture: list[Registration]) -> None:
    """A value that passes the settings (a weak, low-entropy password after a flag) still meets the
    pack where it reaches a resource: the container's command."""
    config = copy.deepcopy(load_stack_config("local"))
    config["service-infra:services"]["llm-server"]["docker"]["command"] = ["serve", "--db-password", "hunter2-local"]
    config["service-infra:services"]["llm-server"]["docker"].pop("hot_reload", None)
    diagnostics = analyze("local", config, capture)
    assert [(d.policyName, d.enforcementLevel) for d in diagnostics] == [("no-plaintext-secrets", proto.ADVISORY)]
    assert "--db-password is given a literal value" in diagnostics[0].message
    assert "hunter2-local" not in diagnostics[0].message


def test_a_secret_named_plain_env_value_is_refused_before_the_pack_runs() -> None:
    """With secret_env the program makes the whole env list one Pulumi secret, so the pack cannot
    tell a plain `env` entry from a secret one inside it; the settings see the stack file's plain
    value, and refuse it first, in every stack."""
    config = copy.deepcopy(load_stack_config("prod"))
    config["service-infra:services"]["llm-server"]["env"]["DB_PASSWORD"] = "hunter2-prod"
    with pytest.raises(SettingsError, match=r"services\.llm-server\.env\.DB_PASSWORD: looks like a secret"):
        load_settings(config, secret_keys=set(), stack="prod")
