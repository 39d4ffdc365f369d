"""The GitHub API stand-in (tests/fakes/github_api) answers as GitHub's REST API does."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.github_api import DEFAULT_TOKEN, DEFAULT_TOKEN_LABEL, GithubApi
from tests.fakes.github_api.client import CHECK, OPENER, call, provider_protection_body, request, seal

OWNER, REPO = "acme", "local-llm-server"
USERS = {"alice-acme": 101, "bob-acme": 102}
TEAMS = {"platform": 7001}
REPO_PATH = f"/repos/{OWNER}/{REPO}"


@pytest.fixture
def api() -> Iterator[GithubApi]:
    with GithubApi(OWNER, REPO, users=USERS, teams=TEAMS) as running:
        yield running


def production(api: GithubApi, **overrides: Any) -> tuple[int, Any]:
    body = {
        "wait_timer": 5,
        "reviewers": [{"type": "User", "id": 101}, {"type": "Team", "id": 7001}],
        "can_admins_bypass": False,
        "prevent_self_review": True,
        "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True},
        **overrides,
    }
    return call(api, "PUT", f"{REPO_PATH}/environments/production", body)


# --- authorization and look-ups ---------------------------------------------------------------


def test_requests_need_the_configured_token(api: GithubApi) -> None:
    assert call(api, "GET", "/user", auth=None) == (
        401,
        {"message": "Requires authentication", "documentation_url": "https://docs.github.com/rest", "status": "401"},
    )
    status, body = call(api, "GET", "/user", auth="Bearer ghp_wrong")
    assert (status, body["message"]) == (401, "Bad credentials")
    assert call(api, "GET", "/user", auth=f"token {DEFAULT_TOKEN}")[0] == 200
    status, user = call(api, "GET", "/user")
    assert status == 200
    assert (user["login"], user["type"]) == ("service-infra-bot", "User")


def test_users_teams_org_and_repository(api: GithubApi) -> None:
    status, user = call(api, "GET", "/users/alice-acme")
    assert status == 200
    assert (user["login"], user["id"], user["type"]) == ("alice-acme", 101, "User")
    assert call(api, "GET", "/users/ALICE-ACME")[1]["id"] == 101  # logins are case-insensitive
    assert call(api, "GET", "/users/alice-acme/gpg_keys") == (200, [])
    assert call(api, "GET", "/users/alice-acme/keys") == (200, [])

    status, team = call(api, "GET", f"/orgs/{OWNER}/teams/platform")
    assert status == 200
    assert (team["id"], team["slug"], team["privacy"]) == (7001, "platform", "closed")
    assert call(api, "GET", f"/orgs/{OWNER}/teams/platform/members") == (200, [])
    # A team lists the repositories it can reach, with its role on each (write by default here).
    status, repos = call(api, "GET", f"/orgs/{OWNER}/teams/platform/repos")
    assert status == 200 and [(r["full_name"], r["role_name"]) for r in repos] == [(f"{OWNER}/{REPO}", "write")]
    api.set_team_access("platform", None)
    assert call(api, "GET", f"/orgs/{OWNER}/teams/platform/repos") == (200, [])

    status, org = call(api, "GET", f"/orgs/{OWNER}")
    assert (status, org["login"], org["type"]) == (200, OWNER, "Organization")

    status, repo = call(api, "GET", REPO_PATH)
    assert (status, repo["id"], repo["full_name"]) == (200, api.repo_id, f"{OWNER}/{REPO}")
    assert call(api, "GET", f"/repositories/{api.repo_id}")[1]["name"] == REPO


@pytest.mark.parametrize(
    "path",
    [
        "/users/nobody-here",
        f"/orgs/{OWNER}/teams/no-such-team",
        "/orgs/other-org/teams/platform",
        "/orgs/other-org",
        f"/repos/{OWNER}/another-repo",
        "/repositories/1",
        f"{REPO_PATH}/environments/missing",
        "/no/such/route",
    ],
)
def test_unknown_things_are_404_with_githubs_json(api: GithubApi, path: str) -> None:
    assert call(api, "GET", path) == (
        404,
        {"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"},
    )


def test_only_the_enterprise_server_paths_are_served(api: GithubApi) -> None:
    assert api.base_url == f"http://127.0.0.1:{api.port}/"
    assert api.rest_url == f"http://127.0.0.1:{api.port}/api/v3/"
    assert call(api, "GET", "/api/users/alice-acme")[0] == 404  # not under /api/v3
    status, body = call(api, "POST", "/api/graphql", {"query": "query { viewer { login } }"})
    assert status == 200
    assert "does not serve GraphQL" in body["errors"][0]["message"]


# --- environments -------------------------------------------------------------------------------


def test_environment_create_read_list_and_delete(api: GithubApi) -> None:
    status, env = production(api)
    assert status == 200
    assert env["name"] == "production"
    assert env["can_admins_bypass"] is False
    assert env["deployment_branch_policy"] == {"protected_branches": False, "custom_branch_policies": True}
    rules = {rule["type"]: rule for rule in env["protection_rules"]}
    assert set(rules) == {"wait_timer", "required_reviewers", "branch_policy"}
    assert rules["wait_timer"]["wait_timer"] == 5
    assert rules["required_reviewers"]["prevent_self_review"] is True
    assert [(r["type"], r["reviewer"]["id"]) for r in rules["required_reviewers"]["reviewers"]] == [
        ("User", 101),
        ("Team", 7001),
    ]
    assert rules["required_reviewers"]["reviewers"][0]["reviewer"]["login"] == "alice-acme"
    assert rules["required_reviewers"]["reviewers"][1]["reviewer"]["slug"] == "platform"

    assert call(api, "GET", f"{REPO_PATH}/environments/production") == (200, env)
    state = api.environments["production"]
    assert state["reviewers"] == [{"type": "User", "id": 101}, {"type": "Team", "id": 7001}]
    assert (state["prevent_self_review"], state["wait_timer"]) == (True, 5)

    status, listed = call(api, "GET", f"{REPO_PATH}/environments")
    assert (status, listed["total_count"], [e["name"] for e in listed["environments"]]) == (200, 1, ["production"])

    assert call(api, "DELETE", f"{REPO_PATH}/environments/production") == (204, None)
    assert "production" not in api.environments
    assert call(api, "DELETE", f"{REPO_PATH}/environments/production")[0] == 404


def test_a_put_replaces_what_it_sends_null_clears(api: GithubApi) -> None:
    production(api)
    status, env = production(api, reviewers=[{"type": "User", "id": 102}], wait_timer=None)
    assert status == 200
    assert api.environments["production"]["reviewers"] == [{"type": "User", "id": 102}]
    assert [rule["type"] for rule in env["protection_rules"]] == ["required_reviewers", "branch_policy"]
    status, env = production(api, reviewers=None, deployment_branch_policy=None)
    assert status == 200
    assert api.environments["production"]["reviewers"] == []
    assert env["deployment_branch_policy"] is None
    assert [rule["type"] for rule in env["protection_rules"]] == ["wait_timer"]


def test_an_empty_put_creates_an_environment_with_defaults(api: GithubApi) -> None:
    status, env = call(api, "PUT", f"{REPO_PATH}/environments/staging")
    assert status == 200
    assert (env["protection_rules"], env["deployment_branch_policy"], env["can_admins_bypass"]) == ([], None, True)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"reviewers": [{"type": "User", "id": 101}] * 4 + [{"type": "Team", "id": 7001}] * 3},
            "A maximum of 6 reviewers is allowed.",
        ),
        ({"reviewers": [{"type": "User", "id": 999}]}, "User 999 cannot be a reviewer: not found."),
        ({"reviewers": [{"type": "Team", "id": 101}]}, "Team 101 cannot be a reviewer: not found."),
        ({"reviewers": [{"type": "Bot", "id": 101}]}, "Each reviewer needs a type (User or Team) and an integer id."),
        (
            {"reviewers": [{"type": "User", "id": "101"}]},
            "Each reviewer needs a type (User or Team) and an integer id.",
        ),
        (
            {"deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": True}},
            "Exactly one of protected_branches or custom_branch_policies must be true.",
        ),
        (
            {"deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": False}},
            "Exactly one of protected_branches or custom_branch_policies must be true.",
        ),
        (
            {"deployment_branch_policy": {"protected_branches": True}},
            "deployment_branch_policy needs protected_branches and custom_branch_policies (booleans).",
        ),
        ({"wait_timer": 43201}, "wait_timer must be an integer between 0 and 43200."),
        ({"wait_timer": -1}, "wait_timer must be an integer between 0 and 43200."),
        ({"prevent_self_review": "yes"}, "For 'prevent_self_review', 'yes' is not a boolean."),
        ({"branches": ["main"]}, "branches is not a permitted key."),
    ],
)
def test_environment_validation_is_422(api: GithubApi, overrides: dict[str, Any], message: str) -> None:
    status, body = production(api, **overrides)
    assert status == 422
    assert body["message"].endswith(message)
    assert body["documentation_url"] == "https://docs.github.com/rest"
    assert "production" not in api.environments  # nothing half-made


def test_six_reviewers_are_fine(api: GithubApi) -> None:
    users = {f"user-{n}": 200 + n for n in range(5)}
    with GithubApi(OWNER, REPO, users=users, teams=TEAMS) as six:
        reviewers = [{"type": "User", "id": uid} for uid in users.values()] + [{"type": "Team", "id": 7001}]
        assert production(six, reviewers=reviewers)[0] == 200
        assert len(six.environments["production"]["reviewers"]) == 6


def test_a_seventh_reviewer_is_422(api: GithubApi) -> None:
    users = {f"user-{n}": 200 + n for n in range(6)}
    with GithubApi(OWNER, REPO, users=users, teams=TEAMS) as seven:
        reviewers = [{"type": "User", "id": uid} for uid in users.values()] + [{"type": "Team", "id": 7001}]
        assert production(seven, reviewers=reviewers) == (
            422,
            {
                "message": "Invalid request.\n\nA maximum of 6 reviewers is allowed.",
                "documentation_url": "https://docs.github.com/rest",
                "status": "422",
                "errors": [{"resource": "Environment", "field": "reviewers", "code": "too_long"}],
            },
        )
        assert seven.environments == {}


@pytest.mark.parametrize("access", [None, "pull", "triage"])
def test_a_team_without_write_access_is_accepted_but_left_out(api: GithubApi, access: Any) -> None:
    api.set_team_access("platform", access)
    status, env = production(api)
    assert status == 200  # GitHub says nothing...
    rules = {rule["type"]: rule for rule in env["protection_rules"]}
    assert [(r["type"], r["reviewer"]["id"]) for r in rules["required_reviewers"]["reviewers"]] == [("User", 101)]
    assert api.environments["production"]["reviewers"] == [{"type": "User", "id": 101}]  # ...and keeps no team
    assert call(api, "GET", f"{REPO_PATH}/environments/production") == (200, env)

    status, env = production(api, reviewers=[{"type": "Team", "id": 7001}])  # the team alone: no reviewer rule
    assert status == 200
    assert "required_reviewers" not in [rule["type"] for rule in env["protection_rules"]]


@pytest.mark.parametrize("access", ["push", "maintain", "admin"])
def test_a_team_with_write_access_reviews(api: GithubApi, access: Any) -> None:
    api.set_team_access("platform", access)
    assert production(api)[0] == 200
    assert api.environments["production"]["reviewers"] == [{"type": "User", "id": 101}, {"type": "Team", "id": 7001}]


def test_team_access_takes_githubs_permissions_only(api: GithubApi) -> None:
    assert api.team_access == {"platform": "push"}  # the default: teams can review
    with pytest.raises(ValueError, match="permission must be one of"):
        api.set_team_access("platform", "write")  # pyright: ignore[reportArgumentType]  # the UI's word


# --- deployment branch policies -----------------------------------------------------------------


def test_custom_branch_policies(api: GithubApi) -> None:
    policies = f"{REPO_PATH}/environments/production/deployment-branch-policies"
    call(api, "PUT", f"{REPO_PATH}/environments/production", {})
    assert call(api, "POST", policies, {"name": "main"})[0] == 404  # custom policies not enabled
    production(api)
    status, policy = call(api, "POST", policies, {"name": "main", "type": "branch"})
    assert status == 200
    assert (policy["name"], policy["type"]) == ("main", "branch")
    assert call(api, "POST", policies, {"name": "main", "type": "branch"})[0] == 303  # exists already
    assert call(api, "POST", policies, {"name": "v*", "type": "tag"})[0] == 200
    assert call(api, "POST", policies, {"name": "x", "type": "commit"})[0] == 422
    assert call(api, "GET", f"{policies}/{policy['id']}") == (200, policy)
    status, listed = call(api, "GET", policies)
    assert (status, listed["total_count"]) == (200, 2)
    assert [p["name"] for p in listed["branch_policies"]] == ["main", "v*"]
    status, renamed = call(api, "PUT", f"{policies}/{policy['id']}", {"name": "release/*"})
    assert (status, renamed["name"]) == (200, "release/*")
    assert call(api, "DELETE", f"{policies}/{policy['id']}") == (204, None)
    assert call(api, "GET", f"{policies}/{policy['id']}")[0] == 404
    assert [p["name"] for p in api.environments["production"]["branch_policies"].values()] == ["v*"]


@pytest.mark.parametrize(
    "policy", [{"protected_branches": True, "custom_branch_policies": False}, None], ids=["protected", "all"]
)
def test_branch_policies_of_an_environment_not_in_custom_mode_are_404(api: GithubApi, policy: Any) -> None:
    assert production(api, deployment_branch_policy=policy)[0] == 200
    policies = f"{REPO_PATH}/environments/production/deployment-branch-policies"
    not_found = (404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"})
    assert call(api, "POST", policies, {"name": "main", "type": "branch"}) == not_found
    assert call(api, "GET", policies) == not_found
    assert api.environments["production"]["branch_policies"] == {}


# --- secrets ------------------------------------------------------------------------------------


def test_environment_secrets_are_sealed_boxes_the_standin_can_open(api: GithubApi) -> None:
    production(api)
    by_id = f"/repositories/{api.repo_id}/environments/production/secrets"
    status, key = call(api, "GET", f"{by_id}/public-key")
    assert status == 200
    assert set(key) == {"key_id", "key"}
    assert len(base64.b64decode(key["key"])) == 32
    # The same key under GitHub's owner/repo path; the repository has a key of its own.
    assert call(api, "GET", f"{REPO_PATH}/environments/production/secrets/public-key") == (200, key)
    assert call(api, "GET", f"{REPO_PATH}/actions/secrets/public-key")[1]["key_id"] != key["key_id"]

    body = {"encrypted_value": seal(key["key"], "fly-token-value"), "key_id": key["key_id"]}
    assert call(api, "PUT", f"{by_id}/FLY_API_TOKEN", body) == (201, {})
    assert call(api, "PUT", f"{by_id}/FLY_API_TOKEN", body) == (204, None)  # an update
    assert api.decrypt_secret("production", "FLY_API_TOKEN") == "fly-token-value"

    status, secret = call(api, "GET", f"{by_id}/FLY_API_TOKEN")
    assert status == 200
    assert set(secret) == {"name", "created_at", "updated_at"}  # never the value
    assert call(api, "GET", f"{REPO_PATH}/environments/production/secrets/FLY_API_TOKEN") == (200, secret)
    status, listed = call(api, "GET", by_id)
    assert (status, listed["total_count"], listed["secrets"][0]["name"]) == (200, 1, "FLY_API_TOKEN")

    assert call(api, "DELETE", f"{by_id}/FLY_API_TOKEN") == (204, None)
    assert call(api, "GET", f"{by_id}/FLY_API_TOKEN")[0] == 404
    assert call(api, "DELETE", f"{by_id}/FLY_API_TOKEN")[0] == 404


def test_secrets_of_a_missing_environment_are_404(api: GithubApi) -> None:
    assert call(api, "GET", f"/repositories/{api.repo_id}/environments/nope/secrets/public-key")[0] == 404
    assert call(api, "GET", f"/repositories/{api.repo_id + 1}/environments/nope/secrets")[0] == 404


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("GITHUB_TOKEN", None, "must not start with the GITHUB_ prefix."),
        ("1ST", None, "must not start with the GITHUB_ prefix."),
        ("HAS-DASH", None, "must not start with the GITHUB_ prefix."),
        ("OK_NAME", {"encrypted_value": "c2VhbGVk"}, "key_id is not the ID of the current public key."),
        ("OK_NAME", {"key_id": "KEY"}, '"encrypted_value" wasn\'t supplied.'),
        ("OK_NAME", {"encrypted_value": "not base64!", "key_id": "KEY"}, "is not a sealed box for the public key"),
        ("OK_NAME", {"encrypted_value": "c2VhbGVk", "key_id": "KEY"}, "is not a sealed box for the public key"),
    ],
)
def test_secret_validation_is_422(api: GithubApi, name: str, body: dict[str, str] | None, message: str) -> None:
    status, key = call(api, "GET", f"{REPO_PATH}/actions/secrets/public-key")
    assert status == 200
    if body is None:
        body = {"encrypted_value": seal(key["key"], "v"), "key_id": key["key_id"]}
    else:
        body = {k: (key["key_id"] if v == "KEY" else v) for k, v in body.items()}
    status, error = call(api, "PUT", f"{REPO_PATH}/actions/secrets/{name}", body)
    assert status == 422
    assert message in error["message"]
    assert api.repo_secrets == {}


def test_a_box_sealed_for_another_key_is_refused(api: GithubApi) -> None:
    production(api)
    env_key = call(api, "GET", f"/repositories/{api.repo_id}/environments/production/secrets/public-key")[1]
    repo_key = call(api, "GET", f"{REPO_PATH}/actions/secrets/public-key")[1]
    body = {"encrypted_value": seal(env_key["key"], "v"), "key_id": repo_key["key_id"]}
    assert call(api, "PUT", f"{REPO_PATH}/actions/secrets/CODECOV_TOKEN", body)[0] == 422


def test_repository_secrets(api: GithubApi) -> None:
    key = call(api, "GET", f"{REPO_PATH}/actions/secrets/public-key")[1]
    body = {"encrypted_value": seal(key["key"], "codecov-value"), "key_id": key["key_id"]}
    assert call(api, "PUT", f"{REPO_PATH}/actions/secrets/codecov_token", body) == (201, {})
    assert api.repo_secret("CODECOV_TOKEN") == "codecov-value"  # names are upper-cased, as GitHub does
    assert call(api, "GET", f"{REPO_PATH}/actions/secrets/CODECOV_TOKEN")[1]["name"] == "CODECOV_TOKEN"
    assert call(api, "GET", f"{REPO_PATH}/actions/secrets")[1]["total_count"] == 1
    assert call(api, "DELETE", f"{REPO_PATH}/actions/secrets/CODECOV_TOKEN") == (204, None)
    assert api.repo_secrets == {}


# --- variables ----------------------------------------------------------------------------------


def test_environment_variables(api: GithubApi) -> None:
    production(api)
    variables = f"{REPO_PATH}/environments/production/variables"
    assert call(api, "POST", variables, {"name": "MODEL_NAME", "value": "llama3.1:8b"}) == (201, {})
    status, error = call(api, "POST", variables, {"name": "MODEL_NAME", "value": "x"})
    assert (status, error["message"]) == (409, "Already exists - Variable already exists")
    assert call(api, "POST", variables, {"name": "GITHUB_X", "value": "x"})[0] == 422
    assert call(api, "POST", variables, {"name": "NO_VALUE"})[0] == 422

    status, variable = call(api, "GET", f"{variables}/MODEL_NAME")
    assert status == 200
    assert (variable["name"], variable["value"]) == ("MODEL_NAME", "llama3.1:8b")
    assert call(api, "PATCH", f"{variables}/MODEL_NAME", {"name": "MODEL_NAME", "value": "qwen"}) == (204, None)
    assert api.environments["production"]["variables"]["MODEL_NAME"]["value"] == "qwen"
    status, listed = call(api, "GET", variables)
    assert (status, listed["total_count"], listed["variables"][0]["value"]) == (200, 1, "qwen")
    assert call(api, "DELETE", f"{variables}/MODEL_NAME") == (204, None)
    assert call(api, "GET", f"{variables}/MODEL_NAME")[0] == 404
    assert call(api, "PATCH", f"{variables}/MODEL_NAME", {"value": "x"})[0] == 404


def test_deleting_an_environment_takes_its_secrets_variables_and_policies(api: GithubApi) -> None:
    production(api)
    api.set_secret("SSH_PRIVATE_KEY", "key", environment="production")
    api.set_variable("production", "RATE_LIMIT_RPM", "60")
    call(api, "POST", f"{REPO_PATH}/environments/production/deployment-branch-policies", {"name": "main"})
    call(api, "DELETE", f"{REPO_PATH}/environments/production")
    production(api)
    env = api.environments["production"]
    assert (env["secrets"], env["variables"], env["branch_policies"]) == ({}, {}, {})


# --- the Python side: seeding, state and the request log ----------------------------------------


def test_seeded_state_is_served(api: GithubApi) -> None:
    api.add_environment("legacy", reviewers=[{"type": "User", "id": 102}], wait_timer=3)
    api.set_secret("OLD_SECRET", "old-value", environment="legacy")
    api.set_secret("REPO_WIDE", "repo-value")
    api.set_variable("legacy", "OLD_VAR", "x")
    assert api.decrypt_secret("legacy", "OLD_SECRET") == "old-value"
    assert api.repo_secret("REPO_WIDE") == "repo-value"
    status, env = call(api, "GET", f"{REPO_PATH}/environments/legacy")
    assert status == 200
    assert [rule["type"] for rule in env["protection_rules"]] == ["wait_timer", "required_reviewers"]
    assert call(api, "GET", f"/repositories/{api.repo_id}/environments/legacy/secrets/OLD_SECRET")[0] == 200
    assert call(api, "GET", f"{REPO_PATH}/environments/legacy/variables/OLD_VAR")[1]["value"] == "x"
    with pytest.raises(KeyError, match="no environment 'nope'"):
        api.decrypt_secret("nope", "X")


def test_every_request_is_recorded(api: GithubApi) -> None:
    call(api, "GET", "/users/alice-acme")
    production(api, wait_timer=None)
    call(api, "GET", "/users/nobody", auth="token wrong")
    assert [(r.method, r.path, r.status) for r in api.requests] == [
        ("GET", "/api/v3/users/alice-acme", 200),
        ("PUT", "/api/v3/repos/acme/local-llm-server/environments/production", 200),
        ("GET", "/api/v3/users/nobody", 401),
    ]
    assert api.requests[1].body["reviewers"] == [{"type": "User", "id": 101}, {"type": "Team", "id": 7001}]
    assert api.requests[1].body["wait_timer"] is None
    assert api.routes_called() == [
        "GET /users/alice-acme",
        "PUT /repos/acme/local-llm-server/environments/production",
        "GET /users/nobody",
    ]


def test_environment_names_are_url_escaped_in_paths(api: GithubApi) -> None:
    assert call(api, "PUT", f"{REPO_PATH}/environments/pre%20prod", {})[0] == 200
    assert "pre prod" in api.environments
    assert api.requests[-1].route == f"PUT {REPO_PATH}/environments/pre prod"


# --- fine-grained tokens ------------------------------------------------------------------------

REFUSED = {
    "message": "Resource not accessible by personal access token",
    "documentation_url": "https://docs.github.com/rest",
    "status": "403",
}


def call_as(api: GithubApi, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any, str | None]:
    """METHOD /api/v3<path> with `token`: status, JSON body and the X-Accepted-GitHub-Permissions header."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(api.rest_url + path.lstrip("/"), data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with OPENER.open(request, timeout=10) as response:
            raw, status, headers = response.read(), response.status, response.headers
    except urllib.error.HTTPError as error:
        raw, status, headers = error.read(), error.code, error.headers
    return status, json.loads(raw) if raw else None, headers.get("X-Accepted-GitHub-Permissions")


def sealed_for(api: GithubApi, key_path: str, value: str) -> dict[str, str]:
    """A secret body sealed with the key at `key_path` (fetched with the default token)."""
    key = call(api, "GET", key_path)[1]
    return {"encrypted_value": seal(key["key"], value), "key_id": key["key_id"]}


def test_an_environments_token_writes_environment_secrets_and_variables_only(api: GithubApi) -> None:
    production(api)  # made with the default token
    token = api.add_token("github_pat_environments", {"environments": "write"})
    env = f"{REPO_PATH}/environments/production"
    by_id = f"/repositories/{api.repo_id}/environments/production/secrets"
    status, key, accepted = call_as(api, token, "GET", f"{by_id}/public-key")
    assert (status, accepted) == (200, "environments=read")
    secret = {"encrypted_value": seal(key["key"], "fly-token"), "key_id": key["key_id"]}
    assert call_as(api, token, "PUT", f"{by_id}/FLY_API_TOKEN", secret) == (201, {}, "environments=write")
    assert api.decrypt_secret("production", "FLY_API_TOKEN") == "fly-token"
    assert call_as(api, token, "DELETE", f"{env}/secrets/FLY_API_TOKEN")[:2] == (204, None)
    assert call_as(api, token, "POST", f"{env}/variables", {"name": "MODEL_NAME", "value": "qwen"})[:2] == (201, {})
    assert call_as(api, token, "DELETE", f"{env}/variables/MODEL_NAME")[:2] == (204, None)

    assert call_as(api, token, "PUT", env, {"wait_timer": 1}) == (403, REFUSED, "administration=write")
    assert call_as(api, token, "DELETE", env) == (403, REFUSED, "administration=write")
    policy = {"name": "main", "type": "branch"}
    assert call_as(api, token, "POST", f"{env}/deployment-branch-policies", policy) == (
        403,
        REFUSED,
        "administration=write",
    )
    repo_secret = sealed_for(api, f"{REPO_PATH}/actions/secrets/public-key", "codecov")
    assert call_as(api, token, "PUT", f"{REPO_PATH}/actions/secrets/CODECOV_TOKEN", repo_secret) == (
        403,
        REFUSED,
        "secrets=write",
    )
    state = api.environments["production"]
    assert (state["wait_timer"], state["branch_policies"], api.repo_secrets) == (5, {}, {})  # nothing changed
    assert [(r.method, r.token) for r in api.requests if r.status == 403] == [
        ("PUT", token),
        ("DELETE", token),
        ("POST", token),
        ("PUT", token),
    ]


def test_an_administration_token_makes_environments_but_not_their_secrets(api: GithubApi) -> None:
    token = api.add_token("github_pat_administration", {"administration": "write"})
    staging = f"{REPO_PATH}/environments/staging"
    status, env, accepted = call_as(api, token, "PUT", staging, {"wait_timer": 2})
    assert (status, env["name"], accepted) == (200, "staging", "administration=write")
    secret = sealed_for(api, f"{staging}/secrets/public-key", "v")
    assert call_as(api, token, "PUT", f"{staging}/secrets/DEPLOY_KEY", secret) == (
        403,
        REFUSED,
        "environments=write",
    )
    assert api.environments["staging"]["secrets"] == {}
    # Reading an environment back is the Actions permission's, not Administration's.
    assert call_as(api, token, "GET", staging) == (403, REFUSED, "actions=read")


def test_a_read_grant_does_not_write(api: GithubApi) -> None:
    production(api)
    api.set_variable("production", "MODEL_NAME", "llama")
    token = api.add_token(
        "github_pat_readonly", {"environments": "read", "actions": "read", "secrets": "read", "administration": "read"}
    )
    env = f"{REPO_PATH}/environments/production"
    assert call_as(api, token, "GET", env)[::2] == (200, "actions=read")
    assert call_as(api, token, "GET", f"{env}/variables/MODEL_NAME")[1]["value"] == "llama"
    assert call_as(api, token, "GET", f"{REPO_PATH}/actions/secrets")[::2] == (200, "secrets=read")
    assert call_as(api, token, "PATCH", f"{env}/variables/MODEL_NAME", {"value": "qwen"}) == (
        403,
        REFUSED,
        "environments=write",
    )
    assert call_as(api, token, "DELETE", f"{REPO_PATH}/actions/secrets/ANY") == (403, REFUSED, "secrets=write")
    assert call_as(api, token, "PUT", env, {}) == (403, REFUSED, "administration=write")
    assert api.environments["production"]["variables"]["MODEL_NAME"]["value"] == "llama"


def test_every_token_reads_metadata_and_the_default_token_does_everything(api: GithubApi) -> None:
    token = api.add_token("github_pat_nothing", {})
    assert call_as(api, token, "GET", REPO_PATH)[::2] == (200, "metadata=read")
    assert call_as(api, token, "GET", f"/orgs/{OWNER}/teams/platform") == (403, REFUSED, "members=read")
    # The configured token stands for a classic one: every route, and no fine-grained header.
    assert call_as(api, DEFAULT_TOKEN, "GET", f"/orgs/{OWNER}/teams/platform")[::2] == (200, None)
    assert call_as(api, DEFAULT_TOKEN, "PUT", f"{REPO_PATH}/environments/production", {})[::2] == (200, None)


def test_requests_record_which_token_they_carried(api: GithubApi) -> None:
    token = api.add_token("github_pat_ci", {"environments": "write"}, label="ci")
    call(api, "GET", "/user")
    call_as(api, token, "GET", "/user")
    call(api, "GET", "/user", auth=None)
    call(api, "GET", "/user", auth="Bearer ghp_wrong")
    assert [r.token for r in api.requests] == [DEFAULT_TOKEN_LABEL, "ci", None, None]


def test_add_token_takes_githubs_permission_names_and_levels(api: GithubApi) -> None:
    with pytest.raises(ValueError, match="unknown permission 'environment'"):
        api.add_token("github_pat_x", {"environment": "write"})
    with pytest.raises(ValueError, match="must be 'read' or 'write', not 'admin'"):
        api.add_token("github_pat_x", {"environments": "admin"})
    with pytest.raises(ValueError, match="already in use"):
        api.add_token(DEFAULT_TOKEN, {"environments": "write"})


# --- classic branch protection ------------------------------------------------------------------
#
# As terraform-provider-github v6.13.0 (pulumi-github 6.15.0's upstream) manages
# github_branch_protection_v3: create is PUT .../protection, then DELETE (or POST)
# .../protection/required_signatures, then the read; the read is GET .../protection (with
# If-None-Match: the ETag it kept, once the resource exists) and GET .../required_signatures; an
# update is the same PUT, DELETE .../required_pull_request_reviews when reviews are dropped, the
# signatures call and the read; delete is DELETE .../protection.

PROTECTION = f"{REPO_PATH}/branches/main/protection"


def test_branch_protection_round_trips_what_the_provider_sends(api: GithubApi) -> None:
    assert api.branch_protection("main") is None  # seeded, unprotected
    status, protected = call(api, "PUT", PROTECTION, provider_protection_body())
    assert status == 200
    assert call(api, "DELETE", f"{PROTECTION}/required_signatures") == (204, None)  # require_signed_commits=false
    assert call(api, "GET", PROTECTION) == (200, protected)
    assert call(api, "GET", f"{PROTECTION}/required_signatures")[1]["enabled"] is False

    # What the provider's read takes from it, field for field.
    assert protected["enforce_admins"]["enabled"] is True
    assert protected["required_conversation_resolution"] == {"enabled": False}
    checks = protected["required_status_checks"]
    assert (checks["strict"], checks["contexts"], checks["checks"]) == (
        True,
        [CHECK],
        [{"context": CHECK, "app_id": None}],
    )
    reviews = protected["required_pull_request_reviews"]
    assert {key: value for key, value in reviews.items() if key != "url"} == {
        "dismiss_stale_reviews": True,
        "require_code_owner_reviews": True,
        "required_approving_review_count": 1,
        "require_last_push_approval": True,
    }  # no dismissal restrictions, no bypass allowances: nothing for the provider to diff
    assert "restrictions" not in protected

    assert api.branch_protection("main") == {
        "required_status_checks": {"strict": True, "checks": [{"context": CHECK, "app_id": None}]},
        "enforce_admins": True,
        "required_pull_request_reviews": {
            "dismiss_stale_reviews": True,
            "require_code_owner_reviews": True,
            "required_approving_review_count": 1,
            "require_last_push_approval": True,
            "dismissal_restrictions": None,
            "bypass_pull_request_allowances": None,
        },
        "restrictions": None,
        "required_linear_history": False,
        "allow_force_pushes": False,
        "allow_deletions": False,
        "block_creations": False,
        "required_conversation_resolution": False,
        "lock_branch": False,
        "allow_fork_syncing": False,
        "required_signatures": False,
    }


def test_a_refresh_with_the_kept_etag_is_not_modified(api: GithubApi) -> None:
    call(api, "PUT", PROTECTION, provider_protection_body())
    status, protected, headers = request(api, "GET", PROTECTION)
    etag = headers["ETag"]
    assert (status, etag.startswith('W/"')) == (200, True)
    assert request(api, "GET", PROTECTION, headers={"If-None-Match": etag})[:2] == (304, None)
    # The provider sends the same ETag to .../required_signatures: another document, another ETag.
    assert request(api, "GET", f"{PROTECTION}/required_signatures", headers={"If-None-Match": etag})[0] == 200
    call(api, "POST", f"{PROTECTION}/required_signatures")
    status, changed, headers = request(api, "GET", PROTECTION, headers={"If-None-Match": etag})
    assert (status, changed["required_signatures"]["enabled"], headers["ETag"] != etag) == (200, True, True)
    assert protected["required_signatures"]["enabled"] is False


def test_an_update_replaces_the_protection_and_keeps_signed_commits(api: GithubApi) -> None:
    call(api, "PUT", PROTECTION, provider_protection_body())
    assert call(api, "POST", f"{PROTECTION}/required_signatures")[1]["enabled"] is True
    # After a read the provider holds `contexts` too (computed) and sends each as a check from
    # any app (-1) next to the declared check: the same requirement, kept once.
    checks = {"strict": False, "checks": [{"context": CHECK, "app_id": -1}, {"context": CHECK}]}
    reviews = {**provider_protection_body()["required_pull_request_reviews"], "required_approving_review_count": 2}
    body = provider_protection_body(required_status_checks=checks, required_pull_request_reviews=reviews)
    status, protected = call(api, "PUT", PROTECTION, body)
    assert status == 200
    assert protected["required_status_checks"]["checks"] == [{"context": CHECK, "app_id": None}]
    assert protected["required_pull_request_reviews"]["required_approving_review_count"] == 2
    assert protected["required_signatures"]["enabled"] is True  # its own endpoint's, not the PUT's

    # Dropping reviews: the PUT sends null, then the provider deletes them explicitly.
    status, protected = call(api, "PUT", PROTECTION, provider_protection_body(required_pull_request_reviews=None))
    assert (status, "required_pull_request_reviews" in protected) == (200, False)
    assert call(api, "DELETE", f"{PROTECTION}/required_pull_request_reviews") == (204, None)
    protection = api.branch_protection("main")
    assert protection is not None and protection["required_pull_request_reviews"] is None


def test_deleting_branch_protection_leaves_the_branch_unprotected(api: GithubApi) -> None:
    call(api, "PUT", PROTECTION, provider_protection_body())
    assert call(api, "DELETE", PROTECTION) == (204, None)
    assert api.branch_protection("main") is None
    not_protected = {
        "message": "Branch not protected",
        "documentation_url": "https://docs.github.com/rest",
        "status": "404",
    }
    # The provider's read gets this 404 from a branch someone unprotected: go-github turns the
    # message into ErrBranchNotProtected, which the read returns as an error (it drops the
    # resource from state only on other 404s, such as "Branch not found").
    assert call(api, "GET", PROTECTION) == (404, not_protected)
    assert call(api, "DELETE", PROTECTION) == (404, not_protected)
    for method in ("GET", "POST", "DELETE"):
        assert call(api, method, f"{PROTECTION}/required_signatures") == (404, not_protected)
    # Protected anew, signed commits start off again.
    assert call(api, "PUT", PROTECTION, provider_protection_body())[1]["required_signatures"]["enabled"] is False


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("GET", "/required_signatures"),
        ("POST", "/required_signatures"),
        ("DELETE", "/required_signatures"),
        ("DELETE", "/required_pull_request_reviews"),
    ],
)
def test_an_unknown_branch_is_404_branch_not_found(api: GithubApi, method: str, suffix: str) -> None:
    body = provider_protection_body() if method == "PUT" else None
    path = f"{REPO_PATH}/branches/release/protection{suffix}"
    not_found = {"message": "Branch not found", "documentation_url": "https://docs.github.com/rest", "status": "404"}
    assert call(api, method, path, body) == (404, not_found)
    assert call(api, method, f"{REPO_PATH}/branches/MAIN/protection{suffix}", body) == (404, not_found)  # exact case
    assert call(api, method, f"/repos/{OWNER}/another-repo/branches/main/protection{suffix}", body)[1]["message"] == (
        "Not Found"
    )
    api.add_branch("release")
    assert call(api, method, path, body)[1] != not_found
    with pytest.raises(KeyError, match="no branch 'nope'"):
        api.branch_protection("nope")


def test_branch_names_are_url_escaped_in_paths(api: GithubApi) -> None:
    api.add_branch("release/1.0")
    path = f"{REPO_PATH}/branches/release%2F1.0/protection"  # go-github path-escapes the branch
    assert call(api, "PUT", path, provider_protection_body())[0] == 200
    assert api.branch_protection("release/1.0") is not None
    assert api.branch_protection("main") is None
    with pytest.raises(ValueError, match="does not have"):
        api.add_branch("main")


def test_restrictions_and_dismissal_restrictions_name_known_users_and_teams(api: GithubApi) -> None:
    reviews = {
        **provider_protection_body()["required_pull_request_reviews"],
        "dismissal_restrictions": {"users": ["ALICE-acme"], "teams": ["platform"]},
        "bypass_pull_request_allowances": {"users": ["bob-acme"], "teams": [], "apps": []},
    }
    body = provider_protection_body(
        required_pull_request_reviews=reviews, restrictions={"users": [], "teams": ["platform"], "apps": []}
    )
    status, protected = call(api, "PUT", PROTECTION, body)
    assert status == 200
    dismissal = protected["required_pull_request_reviews"]["dismissal_restrictions"]
    assert ([u["login"] for u in dismissal["users"]], [t["slug"] for t in dismissal["teams"]]) == (
        ["alice-acme"],
        ["platform"],
    )
    bypass = protected["required_pull_request_reviews"]["bypass_pull_request_allowances"]
    assert ([u["id"] for u in bypass["users"]], bypass["teams"], bypass["apps"]) == ([102], [], [])
    restrictions = protected["restrictions"]
    assert (restrictions["users"], [t["id"] for t in restrictions["teams"]]) == (
        [],
        [7001],
    )  # only admins and the team push
    protection = api.branch_protection("main")
    assert protection is not None and protection["restrictions"] == {"users": [], "teams": ["platform"], "apps": []}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"required_status_checks": {"strict": True, "contexts": [CHECK], "checks": [{"context": CHECK}]}},
            'No subschema in "anyOf" matched.\nMore than one subschema in "oneOf" matched.\n'
            'Not all subschemas of "allOf" matched.\n'
            f'For \'anyOf/1\', {{"strict"=>true, "contexts"=>["{CHECK}"], "checks"=>[{{"context"=>"{CHECK}"}}]}}'
            " is not a null.",
        ),
        (
            {"required_status_checks": {"strict": True}},
            'No subschema in "anyOf" matched.\nNo subschema in "oneOf" matched.\n'
            'Not all subschemas of "allOf" matched.\nFor \'anyOf/1\', {"strict"=>true} is not a null.',
        ),
        ({"required_status_checks": {"checks": []}}, '"strict" wasn\'t supplied.'),
        ({"required_status_checks": {"strict": True, "checks": [{"app_id": 1}]}}, '"context" wasn\'t supplied.'),
        ({"enforce_admins": "yes"}, "For 'properties/enforce_admins', \"yes\" is not a boolean."),
        ({"required_linear_history": None}, "For 'properties/required_linear_history', nil is not a boolean."),
        ({"required_signatures": True}, "required_signatures is not a permitted key."),
        ({"restrictions": {"users": []}}, '"teams" wasn\'t supplied.'),
        ({"restrictions": {"users": [], "teams": [], "apps": ["super-ci"]}}, "no app 'super-ci'"),
        ({"restrictions": {"users": ["nobody"], "teams": []}}, "no user 'nobody'"),
    ],
)
def test_branch_protection_validation_is_422(api: GithubApi, overrides: dict[str, Any], message: str) -> None:
    status, body = call(api, "PUT", PROTECTION, provider_protection_body(**overrides))
    assert status == 422
    assert body["message"].startswith("Invalid request.\n\n")
    assert message in body["message"]
    assert "errors" not in body  # validation-error-simple, as this operation answers
    assert api.branch_protection("main") is None  # nothing half-made


@pytest.mark.parametrize(
    ("reviews", "message"),
    [
        ({"required_approving_review_count": 7}, "7 is greater than the maximum of 6."),
        ({"required_approving_review_count": -1}, "-1 is less than the minimum of 0."),
        ({"dismissal_restrictions": {"teams": ["ghosts"]}}, "no team 'ghosts'"),
        ({"require_code_owner_reviews": None}, "nil is not a boolean."),
    ],
)
def test_review_settings_validation_is_422(api: GithubApi, reviews: dict[str, Any], message: str) -> None:
    body = provider_protection_body(
        required_pull_request_reviews={**provider_protection_body()["required_pull_request_reviews"], **reviews}
    )
    status, answer = call(api, "PUT", PROTECTION, body)
    assert (status, message in answer["message"]) == (422, True)


def test_branch_protection_needs_administration(api: GithubApi) -> None:
    call(api, "PUT", PROTECTION, provider_protection_body())
    reader = api.add_token("github_pat_admin_read", {"administration": "read", "contents": "write"})
    assert call_as(api, reader, "GET", PROTECTION)[::2] == (200, "administration=read")
    assert call_as(api, reader, "GET", f"{PROTECTION}/required_signatures")[::2] == (200, "administration=read")
    assert call_as(api, reader, "PUT", PROTECTION, provider_protection_body(enforce_admins=False)) == (
        403,
        REFUSED,
        "administration=write",
    )
    for method, path in (
        ("DELETE", PROTECTION),
        ("POST", f"{PROTECTION}/required_signatures"),
        ("DELETE", f"{PROTECTION}/required_signatures"),
        ("DELETE", f"{PROTECTION}/required_pull_request_reviews"),
    ):
        assert call_as(api, reader, method, path) == (403, REFUSED, "administration=write")
    protection = api.branch_protection("main")
    assert protection is not None and protection["enforce_admins"] is True  # nothing changed

    outsider = api.add_token("github_pat_contents", {"contents": "write", "environments": "write"})
    assert call_as(api, outsider, "GET", PROTECTION) == (403, REFUSED, "administration=read")
    admin = api.add_token("github_pat_admin_write", {"administration": "write"})
    assert call_as(api, admin, "PUT", PROTECTION, provider_protection_body(enforce_admins=False))[::2] == (
        200,
        "administration=write",
    )
    assert call_as(api, admin, "DELETE", PROTECTION)[:2] == (204, None)
