"""The pack as the engine runs it: a process started the way the Python language host starts it.

`pulumi-language-python` runs `python -u -m pulumi.policy <engine address> <pack dir>` from the
pack's folder, with the stack's name and configuration in PULUMI_STACK and PULUMI_CONFIG; the
pack prints the port of its Analyzer gRPC server. These tests do the same and talk to it over
gRPC, so they cover __main__.py, PulumiPolicy.yaml's layout and the enforcement per stack.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc

from policy import guards
from policy.guards.resources import CONTAINER, DOCKER_VOLUME, GITHUB_ENVIRONMENT, REMOTE_IMAGE
from service_infra.contract import PROJECT
from tests.policy.support import analyze_request, fly_analyze_request, secret, struct, urn

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "policy"


def test_pulumipolicy_yaml_runs_python_from_the_project_venv() -> None:
    spec = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert spec["runtime"]["name"] == "python"
    venv = (PACK / spec["runtime"]["options"]["virtualenv"]).resolve()
    assert venv == (ROOT / ".venv").resolve()
    # The venv these tests run in is the one the pack names, so it has pulumi_policy.
    assert Path(sys.prefix).resolve() == venv


class Served:
    def __init__(self, stack: str, environment: str | None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
        env.update({"PULUMI_STACK": stack, "PULUMI_PROJECT": PROJECT, "PULUMI_DRY_RUN": "true"})
        if environment is not None:
            env["PULUMI_CONFIG"] = json.dumps({guards.ENVIRONMENT_KEY: environment, "service-infra:x": "y"})
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(PACK)],
            cwd=PACK,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 60)
        line = self.process.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            self.close()
            raise AssertionError(f"the pack did not start: {line!r} {self.stderr()}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{line.strip()}")
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return ""
        return self.process.stderr.read()

    def close(self) -> None:
        if getattr(self, "channel", None) is not None:
            self.channel.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def prod() -> Iterator[Served]:
    served = Served("prod", "prod")
    try:
        yield served
    finally:
        served.close()


@pytest.fixture(scope="module")
def staging() -> Iterator[Served]:
    served = Served("staging", "staging")
    try:
        yield served
    finally:
        served.close()


@pytest.fixture(scope="module")
def prod_claiming_staging() -> Iterator[Served]:
    """The stack named prod whose config says `environment: staging` (an edit the settings refuse)."""
    served = Served("prod", "staging")
    try:
        yield served
    finally:
        served.close()


@pytest.fixture(scope="module")
def preview() -> Iterator[Served]:
    """A pull request's preview, named so by the engine, its config not read."""
    served = Served("pr-7", None)
    try:
        yield served
    finally:
        served.close()


def analyze(served: Served, request: Any) -> Any:
    return served.stub.Analyze(request, timeout=30)


def test_served_pack_describes_itself(prod: Served, staging: Served) -> None:
    for served, level in ((prod, proto.MANDATORY), (staging, proto.ADVISORY)):
        info = served.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
        assert info.name == guards.PACK_NAME
        assert {p.name for p in info.policies} == {p.name for p in guards.policies(guards.Target(None, None))}
        assert {p.enforcementLevel for p in info.policies} == {level}


def test_prod_violations_are_mandatory_and_secrets_stay_unflagged(prod: Served) -> None:
    props = {
        "image": "sha256:" + "0" * 64,
        "restart": "always",
        "logOpts": {"max-size": "10m", "max-file": "3"},
        "healthcheck": {"tests": ["CMD", "true"]},
        "user": "10001:10001",
        "envs": secret(["APP_ENV=prod", "API_KEY=test-secret-value-of-API_KEY"]),
    }
    response = analyze(prod, analyze_request(CONTAINER, "llm-server-container", props))
    assert [(d.policyName, d.enforcementLevel) for d in response.diagnostics] == [
        ("containers-healthcheck-restart-logs", proto.MANDATORY)
    ]
    assert "restart policy is 'always'" in response.diagnostics[0].message


def test_staging_violations_are_advisory(staging: Served) -> None:
    response = analyze(staging, analyze_request(REMOTE_IMAGE, "llm-server-image", {"name": "ghcr.io/acme/x:latest"}))
    assert [(d.policyName, d.enforcementLevel) for d in response.diagnostics] == [("images-pinned", proto.ADVISORY)]


def test_the_served_pack_knows_it_is_prod(prod: Served, staging: Served) -> None:
    create = "python3 -m service_infra.ops.fly ensure-app --app acme-image-descriptor --org acme"
    assert [
        d.policyName for d in analyze(prod, fly_analyze_request("image-descriptor-app", {"create": create})).diagnostics
    ] == ["fly-volumes-protected"]
    assert list(analyze(staging, fly_analyze_request("image-descriptor-app", {"create": create})).diagnostics) == []


def policies_and_levels(response: Any) -> list[tuple[str, int]]:
    return sorted((d.policyName, d.enforcementLevel) for d in response.diagnostics)


UNPROTECTED_VOLUME = analyze_request(DOCKER_VOLUME, "llm-server-models", {"name": "llm-server-prod-models"})
# A root user, and the proxy's port on every interface, as an edited program would send them.
ROOT_EVERYWHERE = {
    "image": "sha256:" + "0" * 64,
    "restart": "unless-stopped",
    "logOpts": {"max-size": "10m", "max-file": "3"},
    "healthcheck": {"tests": ["CMD", "true"]},
    "user": "00:0",
    "ports": [{"internal": 8080, "external": 8000, "ip": "0.0.0.0"}],
    "labels": [{"label": "service-infra.service", "value": "llm-server"}],
}


def test_the_stack_named_prod_is_mandatory_whatever_its_config_says(prod_claiming_staging: Served) -> None:
    info = prod_claiming_staging.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert {p.enforcementLevel for p in info.policies} == {proto.MANDATORY}
    response = analyze(prod_claiming_staging, UNPROTECTED_VOLUME)
    assert policies_and_levels(response) == [("docker-volumes-protected", proto.MANDATORY)]


def test_the_served_prod_pack_refuses_unprotected_volumes_root_users_and_open_ports(prod: Served) -> None:
    (volume,) = analyze(prod, UNPROTECTED_VOLUME).diagnostics
    assert "service-infra:services.<service>.docker.volumes" in volume.message
    proxy = analyze(prod, analyze_request(CONTAINER, "llm-server-proxy", ROOT_EVERYWHERE))
    assert policies_and_levels(proxy) == [
        ("containers-non-root", proto.MANDATORY),
        ("published-ports-explicit", proto.MANDATORY),
    ]
    messages = " ".join(d.message for d in proxy.diagnostics)
    assert "services.llm-server.docker.user" in messages and "services.llm-server.docker.bind" in messages
    assert list(analyze(prod, analyze_request(DOCKER_VOLUME, "v", {"name": "v"}, protect=True)).diagnostics) == []


def test_the_served_staging_pack_only_warns_of_root_and_asks_nothing_of_volumes_or_ports(staging: Served) -> None:
    assert list(analyze(staging, UNPROTECTED_VOLUME).diagnostics) == []
    proxy = analyze(staging, analyze_request(CONTAINER, "llm-server-proxy", ROOT_EVERYWHERE, stack="staging"))
    assert policies_and_levels(proxy) == [("containers-non-root", proto.ADVISORY)]


def test_the_served_prod_pack_needs_a_protected_production_environment(prod: Served, staging: Served) -> None:
    staging_environment = {"repository": "local-llm-server", "environment": "staging"}
    request = proto.AnalyzeStackRequest(
        resources=[
            proto.AnalyzerResource(
                urn=urn(GITHUB_ENVIRONMENT, "staging"),
                type=GITHUB_ENVIRONMENT,
                name="staging",
                properties=struct(staging_environment),
            )
        ]
    )
    (missing,) = prod.stub.AnalyzeStack(request, timeout=30).diagnostics
    assert (missing.policyName, missing.enforcementLevel, missing.urn) == (
        "production-environment-exists",
        proto.MANDATORY,
        "",
    )
    assert list(staging.stub.AnalyzeStack(request, timeout=30).diagnostics) == []
    weak = {
        "repository": "local-llm-server",
        "environment": "production",
        "reviewers": [{"users": [1.0]}],
        "preventSelfReview": False,
        "canAdminsBypass": True,
        "deploymentBranchPolicy": {"protectedBranches": False, "customBranchPolicies": True},
    }
    response = analyze(prod, analyze_request(GITHUB_ENVIRONMENT, "production", weak))
    assert policies_and_levels(response) == [("production-environment-protected", proto.MANDATORY)] * 3


def test_the_served_preview_pack_is_mandatory_and_holds_previews_to_their_rules(preview: Served) -> None:
    info = preview.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert {p.enforcementLevel for p in info.policies} == {proto.MANDATORY}
    kept = analyze_request(DOCKER_VOLUME, "llm-server-llm-cache", {"name": "v"}, protect=True, stack="pr-7")
    assert policies_and_levels(analyze(preview, kept)) == [
        ("preview-no-retained-data", proto.MANDATORY),
        ("preview-resources-expire", proto.MANDATORY),
    ]
