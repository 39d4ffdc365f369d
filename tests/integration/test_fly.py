"""Fly.io through the `fly` stand-in: app, volume and staged secrets created once, adopted after."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from service_infra.settings import FlyTarget
from tests.fakes.fly.volumes import DESTROYED_STATES
from tests.fakes.github_api import GithubApi
from tests.support import ROOT
from tests.support.pulumi_project import Project
from tests.support.stacks import (
    FLY_SECRETS,
    GITHUB_OWNER,
    GITHUB_REPOSITORY,
    GITHUB_USERS,
    fly_config,
    production_github,
)


def read_fly_state(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_app_volume_and_secrets_are_created_once(
    project: Project, fly_state: dict[str, Path], public_health_url: str
) -> None:
    stack = project.stack("staging", fly_config("it-image-descriptor", public_health_url), FLY_SECRETS)
    stack.up()
    state = read_fly_state(fly_state["state"])
    assert list(state["apps"]) == ["it-image-descriptor"]
    assert [v["name"] for v in state["volumes"].values()] == ["cache_data"]
    # Placed on a host that can run the app's machine: the stack's VM size and memory went with the create.
    (volume,) = state["volumes"].values()
    target = FlyTarget.model_fields
    assert volume["compute"] == {
        "cpu_kind": "shared",
        "cpus": 1,
        "memory_mb": target["memory_mb"].default,
    }, (volume["compute"], target["vm_size"].default)
    assert set(state["secrets"]["it-image-descriptor"]) == {"GOOGLE_AI_API_KEY", "SUPABASE_URL"}
    (release,) = state["releases"]["it-image-descriptor"]
    assert release["image"] == "ghcr.io/acme/image-descriptor:sha-5e0a7c9"

    stack.preview(expect_no_changes=True)
    # `logs`: the app's log buffer through `fly logs` with the stack's token, its secrets masked.
    key = FLY_SECRETS["GOOGLE_AI_API_KEY"]
    state["logs"] = {
        "it-image-descriptor": [
            {"timestamp": "2026-12-06T08:00:00.1Z", "instance": "148e1", "region": "iad", "message": f" key={key}"}
        ]
    }
    fly_state["state"].write_text(json.dumps(state))
    logs = project.operator_command("logs", "--stack", "staging", "--service", "image-descriptor")
    assert logs.returncode == 0, logs.stdout + logs.stderr
    assert logs.stdout == "2026-12-06T08:00:00Z app[148e1] iad [info] key=[secret GOOGLE_AI_API_KEY]\n", logs.stdout
    (logged,) = [e for e in map(json.loads, fly_state["log"].read_text().splitlines()) if e["argv"][:1] == ["logs"]]
    assert logged["env_token_present"] and logged["app"] == "it-image-descriptor", logged
    # Lost state, same app: a second stack adopts the app and volume instead of duplicating them.
    again = project.stack("staging-again", fly_config("it-image-descriptor", public_health_url), FLY_SECRETS)
    again.up()
    state = read_fly_state(fly_state["state"])
    assert list(state["apps"]) == ["it-image-descriptor"]
    assert [v["name"] for v in state["volumes"].values() if v["state"] not in DESTROYED_STATES] == ["cache_data"]


def test_an_app_name_owned_by_someone_else_is_a_clear_error(
    project: Project, fly_state: dict[str, Path], public_health_url: str
) -> None:
    fly_state["state"].write_text(
        json.dumps({"orgs": {"rival": {"name": "Rival", "member": False}}, "apps": {"taken-name": {"org": "rival"}}})
    )
    stack = project.stack("staging", fly_config("taken-name", public_health_url), FLY_SECRETS)
    with pytest.raises(auto.CommandError) as failed:
        stack.up()
    assert "Fly app name taken-name belongs to someone else" in str(failed.value)
    assert "choose another `fly.app`" in str(failed.value)
    assert read_fly_state(fly_state["state"])["apps"]["taken-name"]["org"] == "rival"


def test_a_deploy_token_reaches_its_own_app_and_is_refused_another(
    project: Project, fly_state: dict[str, Path], public_health_url: str
) -> None:
    """Each stack's FLY_API_TOKEN is a deploy token of its own app (the stand-in refuses it any
    other, as Fly does): staging's adopts staging's app; a staging file naming prod's app is
    stopped with what to do, and prod's app is untouched."""
    token = FLY_SECRETS["FLY_API_TOKEN"]
    fly_state["state"].write_text(
        json.dumps(
            {
                "orgs": {"acme": {"name": "Acme", "type": "SHARED", "member": True}},
                "tokens": {token: {"apps": ["it-deploy-staging"]}},
                "apps": {"it-deploy-staging": {"org": "acme"}, "it-deploy-prod": {"org": "acme"}},
            }
        )
    )
    staging = project.stack("staging", fly_config("it-deploy-staging", public_health_url), FLY_SECRETS)
    staging.up()
    state = read_fly_state(fly_state["state"])
    assert state["releases"]["it-deploy-staging"] and "it-deploy-prod" not in state.get("releases", {})

    reaching = project.stack("staging-reaching", fly_config("it-deploy-prod", public_health_url), FLY_SECRETS)
    with pytest.raises(auto.CommandError) as refused:
        reaching.up()
    message = str(refused.value)
    assert "Fly app it-deploy-prod is not one this stack's token reaches, and the token cannot create apps" in message
    assert "fly tokens create deploy -a it-deploy-prod" in message and token not in message
    after = read_fly_state(fly_state["state"])
    assert "it-deploy-prod" not in after.get("releases", {}) and "it-deploy-prod" not in after.get("secrets", {})
    assert not [v for v in after.get("volumes", {}).values() if v.get("app") == "it-deploy-prod"]


POLICY_PACK = str(ROOT / "policy")


def test_policy_pack_refuses_unprotected_fly_data_in_prod(
    project: Project, fly_state: dict[str, Path], public_health_url: str
) -> None:
    """`pulumi preview --policy-pack policy` through the real engine: mandatory in prod only."""
    config = fly_config("it-policy-app-staging", public_health_url)
    config["services"]["image-descriptor"]["fly"]["protect"] = False

    staging = project.stack("staging", config, FLY_SECRETS)
    advice = staging.preview(policy_packs=[POLICY_PACK])
    assert "fly-volumes-protected" not in advice.output, advice.output[-3000:]
    assert "service-infra-guards" in advice.output, advice.output[-3000:]

    # Prod must have its protected GitHub `production` environment (the settings refuse it
    # otherwise); the stand-in answers the reviewer look-ups a preview makes.
    with GithubApi(GITHUB_OWNER, GITHUB_REPOSITORY, users=GITHUB_USERS) as github_api:
        # Each stack its own app: a prod stack naming a sibling's app is refused before any policy runs.
        prod_config = {
            **fly_config("it-policy-app", public_health_url),
            "environment": "prod",
            "github": production_github(github_api.base_url),
        }
        prod_config["services"]["image-descriptor"]["fly"]["protect"] = False
        prod_secrets = {**FLY_SECRETS, "GITHUB_TOKEN": github_api.token}
        prod = project.stack("prod", prod_config, prod_secrets)
        with pytest.raises(auto.CommandError) as refused:
            prod.preview(policy_packs=[POLICY_PACK])
        message = str(refused.value)
        assert "mandatory" in message and "fly-volumes-protected" in message, message[-3000:]
        assert "the Fly volume is not protected from deletion in prod" in message, message[-3000:]
        assert "service-infra:services.<service>.fly.protect" in message, message[-3000:]
        assert not any(value in message for value in prod_secrets.values())
        assert not fly_state["state"].exists()  # previews wrote nothing to Fly

        protected = fly_config("it-policy-app-protected", public_health_url)["services"]
        protected["image-descriptor"]["fly"]["protect"] = True
        allowed = project.stack("prod-protected", {**prod_config, "services": protected}, prod_secrets)
        run = allowed.preview(policy_packs=[POLICY_PACK])
        assert "fly-volumes-protected" not in run.output, run.output[-3000:]
