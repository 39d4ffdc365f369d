"""The committed staging and prod stacks through the real engine, GitHub part against the API stand-in.

Each stack is built from the committed Pulumi.<stack>.yaml with only the host-specific parts
replaced: the Docker host is the harness's sshd (host key pinned), the registry and image are the
harness's, ports are free and bound to 127.0.0.1, the Fly apps go to the `fly` stand-in and the
GitHub section points at the GitHub API stand-in (`github.base_url`). Secrets get known values,
so that what lands in GitHub can be decrypted and compared.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from service_infra.contract import FLY_APP_SUFFIX, PROJECT
from tests.fakes.github_api import GithubApi
from tests.fakes.github_api.client import call
from tests.fakes.github_api.openapi import SpecChecker, install_spec
from tests.support import ROOT
from tests.support.harness import DockerEngine, ExampleImage, Registry, SshHost, wait_http
from tests.support.pulumi_project import Project, Stack
from tests.support.stacks import GITHUB_OWNER as OWNER
from tests.support.stacks import GITHUB_REPOSITORY as REPOSITORY
from tests.support.stacks import GITHUB_TEAMS as TEAMS
from tests.support.stacks import GITHUB_USERS as USERS
from tests.support.stacks import committed_stack_on_harness, github_stand_in, secret_values

# Every resource of a committed stack: the stack; the environment, Docker host, service, Fly
# app, health gate (x2), GitHub repository and environment components; the docker and github
# providers; the service's network, proxy image, proxy and its configuration command, app image,
# volume, container and its activation command; the Fly app, volume, secrets and release
# commands and the two probes; in GitHub, the environment's two secrets and three variables.
# Prod's stack alone administers the repository, so it adds the environments themselves and their
# branch policies (production, production-preview, staging: component, environment, policy
# each), production-preview's secret, the repository secret and main's branch protection.
PREVIEW_CREATES = {"staging": 30, "prod": 41}

# What was there before the program: must survive every up and the destroy.
SEEDED_ENVIRONMENT = "qa-sandbox"
SEEDED_ENV_SECRET = ("QA_DEPLOY_TOKEN", "qa-deploy-token-3c9e")
SEEDED_REPO_SECRET = ("NPM_TOKEN", "npm-token-77a1d0")


@pytest.fixture
def github_api() -> Iterator[GithubApi]:
    with github_stand_in() as api:
        api.add_environment(
            SEEDED_ENVIRONMENT,
            reviewers=[{"type": "User", "id": USERS["carol-acme"]}],
            deployment_branch_policy={"protected_branches": True, "custom_branch_policies": False},
        )
        api.set_secret(*SEEDED_ENV_SECRET, environment=SEEDED_ENVIRONMENT)
        api.set_variable(SEEDED_ENVIRONMENT, "QA_URL", "https://qa.acme.example")
        api.set_secret(*SEEDED_REPO_SECRET)
        yield api


@pytest.fixture
def project(github_api: GithubApi, project: Project) -> Project:
    """The conftest's project, made after the GitHub stand-in: its stacks are destroyed while the
    stand-in still answers (fixtures are torn down in reverse)."""
    return project


def reviewer_ids(api: GithubApi, environment: str) -> set[tuple[str, int]]:
    return {(reviewer["type"], reviewer["id"]) for reviewer in api.environments[environment]["reviewers"]}


def branch_patterns(api: GithubApi, environment: str) -> list[str]:
    return sorted(policy["name"] for policy in api.environments[environment]["branch_policies"].values())


def variables(api: GithubApi, environment: str) -> dict[str, str]:
    return {name: record["value"] for name, record in api.environments[environment]["variables"].items()}


def assert_seeded_untouched(api: GithubApi) -> None:
    assert SEEDED_ENVIRONMENT in api.environments
    assert reviewer_ids(api, SEEDED_ENVIRONMENT) == {("User", USERS["carol-acme"])}
    assert api.decrypt_secret(SEEDED_ENVIRONMENT, SEEDED_ENV_SECRET[0]) == SEEDED_ENV_SECRET[1]
    assert variables(api, SEEDED_ENVIRONMENT) == {"QA_URL": "https://qa.acme.example"}
    assert api.repo_secret(SEEDED_REPO_SECRET[0]) == SEEDED_REPO_SECRET[1]


def assert_environment_matches(api: GithubApi, name: str, committed: dict[str, Any], secrets: dict[str, str]) -> None:
    """What GitHub holds for environment `name` is what the committed config asks for."""
    wanted = committed["github"]["environments"][name]
    env = api.environments[name]
    reviewers = wanted.get("reviewers", {})
    assert reviewer_ids(api, name) == {("User", USERS[u]) for u in reviewers.get("users", [])} | {
        ("Team", TEAMS[t]) for t in reviewers.get("teams", [])
    }
    assert env["prevent_self_review"] is wanted.get("prevent_self_review", True)
    assert env["wait_timer"] == wanted.get("wait_timer", 0)
    assert env["can_admins_bypass"] is wanted.get("can_admins_bypass", False)
    assert env["deployment_branch_policy"] == {"protected_branches": False, "custom_branch_policies": True}
    assert branch_patterns(api, name) == sorted(wanted["branches"])
    assert sorted(env["secrets"]) == sorted(wanted["secrets"])
    for secret_name in wanted["secrets"]:
        assert api.decrypt_secret(name, secret_name) == secrets[secret_name], secret_name
    assert variables(api, name) == wanted.get("variables", {})


def assert_no_github_errors(api: GithubApi, since: int = 0) -> None:
    failed = [(r.method, r.path, r.status) for r in api.requests[since:] if r.status >= 400]
    assert not failed, f"requests GitHub refused: {failed}"
    assert not [r for r in api.requests[since:] if r.path == "/api/graphql"], "unexpected GraphQL calls"


def changes(summary: dict[str, int]) -> dict[str, int]:
    # A read (the program reads its own stack's last releases) changes nothing.
    return {op: n for op, n in summary.items() if op not in {"same", "read"} and n}


def remove_config(stack: Stack, key: str) -> None:
    """`pulumi config rm --path KEY`, as ops edit a stack."""
    stack.stack.remove_config(f"{PROJECT}:{key}", path=True)


def run_up(stack: Stack) -> dict[str, int]:
    summary = stack.up().summary
    assert summary is not None and summary.resource_changes is not None
    return changes(summary.resource_changes)


def remove_retained_volumes(engine: DockerEngine, stack: str) -> None:
    """Prod keeps its Docker volumes on destroy (retain_volumes); the test removes them itself."""
    names = engine.run("volume", "ls", "-q", "--filter", f"name=^llm-server-{stack}-").stdout.split()
    for name in names:
        engine.run("volume", "rm", "-f", name, check=False)


def test_prod_stack(
    project: Project,
    github_api: GithubApi,
    engine: DockerEngine,
    ssh_host: SshHost,
    registry: Registry,
    example_image: ExampleImage,
    fly_state: dict[str, Path],
    public_health_url: str,
) -> None:
    api = github_api
    config = committed_stack_on_harness("prod", api, ssh_host, registry, example_image, public_health_url)
    secrets = secret_values("prod", api, registry)
    stack = project.stack("prod", config, secrets)
    try:
        stack.up()
        assert_no_github_errors(api)
        assert set(api.environments) == {SEEDED_ENVIRONMENT, "production", "production-preview", "staging"}
        assert_environment_matches(api, "production", config, secrets)
        # Staging's environment and its protection are prod's to set; its secrets are staging's.
        assert branch_patterns(api, "staging") == ["staging"] and reviewer_ids(api, "staging") == set()
        assert api.environments["staging"]["secrets"] == {}
        # main, whose code runs with prod's secrets: another person's approval, a code owner's, admins too.
        protection = api.branch_protection("main")
        assert protection is not None and protection["enforce_admins"] is True
        assert protection["required_pull_request_reviews"] == {
            "dismiss_stale_reviews": True,
            "require_code_owner_reviews": True,
            "required_approving_review_count": 1,
            "require_last_push_approval": True,
            "dismissal_restrictions": None,
            "bypass_pull_request_allowances": None,
        }
        checks = protection["required_status_checks"]
        assert checks is not None and checks["strict"] is True
        assert [c["context"] for c in checks["checks"]] == [
            "lint, types, unit tests, offline check",
            "pulumi preview (staging)",
        ]
        assert not protection["allow_force_pushes"] and not protection["allow_deletions"]
        assert_environment_matches(api, "production-preview", config, secrets)
        # Prod's gate and data cannot be deleted by an update: the production environment, the
        # Docker volume and the Fly app and volume are protected in the state.
        fly_app = config["services"]["image-descriptor"]["fly"]["app"]
        assert {"production", "llm-server-llm-cache", f"{fly_app}{FLY_APP_SUFFIX}"} <= stack.protected()
        # The committed prod config, spelled out: reviewers resolved from names to ids.
        assert reviewer_ids(api, "production") == {("User", 4101), ("User", 4102), ("Team", 5101)}
        assert api.environments["production"]["prevent_self_review"] is True
        assert branch_patterns(api, "production") == ["main"]
        assert sorted(api.repo_secrets) == ["CODECOV_TOKEN", SEEDED_REPO_SECRET[0]]
        assert api.repo_secret("CODECOV_TOKEN") == secrets["CODECOV_TOKEN"]
        assert_seeded_untouched(api)
        port = config["services"]["llm-server"]["docker"]["port"]
        wait_http(f"http://127.0.0.1:{port}/health", timeout=30)

        # A second run changes nothing: no perma-diff on reviewers, nothing written to GitHub.
        writes = len([r for r in api.requests if r.method != "GET"])
        assert run_up(stack) == {}
        stack.preview(expect_no_changes=True)
        stack.preview(refresh=True, expect_no_changes=True)  # what the drift workflow runs
        assert len([r for r in api.requests if r.method != "GET"]) == writes

        # Removing a reviewer from the config removes it in GitHub, and only that.
        remove_config(stack, "github.environments.production.reviewers.users[1]")  # bob-acme
        assert run_up(stack) == {"update": 1}
        assert reviewer_ids(api, "production") == {("User", 4101), ("Team", 5101)}
        stack.preview(expect_no_changes=True)

        # A reviewer who does not exist: a clear error, and GitHub is left as it was.
        stack.set("github.environments.production.reviewers.users[1]", "nobody-acme")
        before = len(api.requests)
        with pytest.raises(auto.CommandError) as failed:
            stack.up()
        message = str(failed.value)
        assert (
            "service-infra:github.environments.production.reviewers.users: GitHub has no user 'nobody-acme'" in message
        ), message[-3000:]
        assert "/users/nobody-acme: 404 Not Found" in message, message[-3000:]
        assert [r.method for r in api.requests[before:] if r.method != "GET"] == []
        assert reviewer_ids(api, "production") == {("User", 4101), ("Team", 5101)}
        wait_http(f"http://127.0.0.1:{port}/health", timeout=30)  # the service still runs
        remove_config(stack, "github.environments.production.reviewers.users[1]")

        # A reviewer team GitHub would silently ignore (no write access): a clear error, nothing written.
        api.set_team_access("platform", "pull")
        before = len(api.requests)
        with pytest.raises(auto.CommandError) as failed:
            stack.up()
        message = str(failed.value)
        assert (
            "service-infra:github.environments.production.reviewers.teams: team 'platform' cannot approve "
            "deployments: it has read access to local-llm-server" in message
        ), message[-3000:]
        assert [r.method for r in api.requests[before:] if r.method != "GET"] == []
        api.set_team_access("platform", "push")

        # Destroy (prod is protected: unprotect first, on purpose, as ops would) removes what the
        # program made in GitHub and nothing else.
        stack.unprotect_all()
        before = len(api.requests)
        stack.destroy()
        assert_no_github_errors(api, before)
        assert set(api.environments) == {SEEDED_ENVIRONMENT}
        assert sorted(api.repo_secrets) == [SEEDED_REPO_SECRET[0]]
        assert api.branch_protection("main") is None
        assert_seeded_untouched(api)
        # Everything the real provider sent, and every answer, as GitHub's REST description has it.
        assert SpecChecker(install_spec()).check_all(api.requests, OWNER, REPOSITORY) == []
    finally:
        destroy_unprotected(stack)
        remove_retained_volumes(engine, "prod")


def destroy_unprotected(stack: Stack) -> None:
    """After a failure: what the project's tear-down cannot destroy while the Fly app is protected."""
    try:
        stack.stack.destroy(exclude_protected=True, color="never")
    except auto.CommandError as error:
        print(f"destroy of {stack.stack.name} (unprotected resources) failed: {error}")


def test_staging_stack(
    project: Project,
    github_api: GithubApi,
    engine: DockerEngine,
    ssh_host: SshHost,
    registry: Registry,
    example_image: ExampleImage,
    fly_state: dict[str, Path],
    public_health_url: str,
) -> None:
    """Staging's token has Environments write and nothing more (GitHub cannot scope a token to one
    environment, so one that could protect staging could unprotect production): it fills in the
    secrets and variables of the environment prod's stack made, and GitHub refuses it the rest."""
    api = github_api
    # The environment as prod's stack makes it (test_prod_stack): branch policy `staging`.
    api.add_environment(
        "staging",
        prevent_self_review=False,
        can_admins_bypass=False,
        deployment_branch_policy={"protected_branches": False, "custom_branch_policies": True},
    )
    api.add_environment("production", reviewers=[{"type": "User", "id": USERS["alice-acme"]}])
    protection_before = {name: dict(api.environments[name]) for name in ("staging", "production")}
    token = api.add_token(f"staging-token-{uuid.uuid4().hex[:8]}", {"environments": "write"}, label="staging")
    config = committed_stack_on_harness("staging", api, ssh_host, registry, example_image, public_health_url)
    secrets = {**secret_values("staging", api, registry), "GITHUB_TOKEN": token}
    stack = project.stack("staging", config, secrets)
    stack.up()
    assert_no_github_errors(api)
    assert {r.token for r in api.requests} == {"staging"}  # every request with staging's own token
    assert set(api.environments) == {SEEDED_ENVIRONMENT, "staging", "production"}
    wanted = config["github"]["environments"]["staging"]
    assert sorted(api.environments["staging"]["secrets"]) == sorted(wanted["secrets"])
    for secret_name in wanted["secrets"]:
        assert api.decrypt_secret("staging", secret_name) == secrets[secret_name], secret_name
    assert variables(api, "staging") == wanted["variables"]
    for name, before in protection_before.items():
        for field in (
            "reviewers",
            "prevent_self_review",
            "wait_timer",
            "can_admins_bypass",
            "deployment_branch_policy",
        ):
            assert api.environments[name][field] == before[field], (name, field)
    assert sorted(api.repo_secrets) == [SEEDED_REPO_SECRET[0]]
    assert_seeded_untouched(api)

    # The same token, used as a branch pusher holding staging's secrets would: refused on production.
    for method, path, body in (
        ("PUT", f"/repos/{OWNER}/{REPOSITORY}/environments/production", {"reviewers": []}),
        ("DELETE", f"/repos/{OWNER}/{REPOSITORY}/environments/production", None),
        ("POST", f"/repos/{OWNER}/{REPOSITORY}/environments/production/deployment-branch-policies", {"name": "*"}),
    ):
        status, answer = call(api, method, path, body, auth=f"Bearer {token}")
        assert status == 403 and answer["message"] == "Resource not accessible by personal access token", (path, answer)
    assert reviewer_ids(api, "production") == {("User", USERS["alice-acme"])}

    writes = len([r for r in api.requests if r.method != "GET"])
    stack.preview(expect_no_changes=True)
    stack.preview(refresh=True, expect_no_changes=True)
    assert len([r for r in api.requests if r.method != "GET"]) == writes

    # A variable edited in the stack file is updated in place.
    stack.set("github.environments.staging.variables.RATE_LIMIT_RPM", "90")
    assert run_up(stack) == {"update": 1}
    assert variables(api, "staging")["RATE_LIMIT_RPM"] == "90"

    # Destroy takes back what staging set, and leaves the environment (prod's).
    before = len(api.requests)
    stack.destroy()
    assert_no_github_errors(api, before)
    assert set(api.environments) == {SEEDED_ENVIRONMENT, "staging", "production"}
    assert api.environments["staging"]["secrets"] == {} and variables(api, "staging") == {}
    assert sorted(api.repo_secrets) == [SEEDED_REPO_SECRET[0]]
    assert_seeded_untouched(api)
    assert engine.run("ps", "-a", "-q", "--filter", "label=service-infra.environment=staging").stdout.strip() == ""


@pytest.mark.parametrize("stack_name", ["staging", "prod"])
def test_pull_request_preview(
    stack_name: str,
    project: Project,
    github_api: GithubApi,
    ssh_host: SshHost,
    registry: Registry,
    example_image: ExampleImage,
    public_health_url: str,
) -> None:
    """`pulumi preview --diff --policy-pack policy` of a stack with no state yet, as the PR workflow runs it."""
    api = github_api
    config = committed_stack_on_harness(stack_name, api, ssh_host, registry, example_image, public_health_url)
    stack = project.stack(stack_name, config, secret_values(stack_name, api, registry))
    run = stack.preview(diff=True, policy_packs=[str(ROOT / "policy")])
    assert run.summary == {"create": PREVIEW_CREATES[stack_name]}, run.output[-3000:]
    assert "error" not in run.output.lower(), run.output[-3000:]
    assert "service-infra-guards" in run.output, run.output[-3000:]
    assert [r.method for r in api.requests if r.method != "GET"] == []  # a preview writes nothing
    assert set(api.environments) == {SEEDED_ENVIRONMENT}
