"""The stand-in's exchanges agree with GitHub's published REST description (tests/fakes/github_api/openapi.py).

The requests are shaped as the real provider (terraform-provider-github v6.13.0 on go-github)
sends them: go-github's CreateUpdateEnvironment always sends wait_timer, reviewers (null to
clear), can_admins_bypass and deployment_branch_policy (null to clear), and prevent_self_review
when set; secrets are {encrypted_value, key_id}; variables {name, value}; branch policies
{name, type}. Environment secrets go by repository id, as go-github addresses them. Branch
protection (github_branch_protection_v3) is a whole ProtectionRequest PUT, with `checks` and no
`contexts`, then the signed-commit and review sub-resources and conditional reads (If-None-Match).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.github_api import ApiRequest, GithubApi
from tests.fakes.github_api.client import call, provider_protection_body, request, seal
from tests.fakes.github_api.openapi import (
    SPEC_VERSION,
    UNREQUIRED_REQUEST_FIELDS,
    SpecChecker,
    SpecUnavailableError,
    install_spec,
)

OWNER, REPO = "acme", "local-llm-server"
USERS = {"alice-acme": 101, "bob-acme": 102}
TEAMS = {"platform": 7001}
REPO_PATH = f"/repos/{OWNER}/{REPO}"
ENV = "/repos/{owner}/{repo}/environments/{environment_name}"
PROTECTION = "/repos/{owner}/{repo}/branches/{branch}/protection"

# Every operation the provider calls (and the stand-in serves), as the description names its path.
PROVIDER_OPERATIONS = {
    "GET /user",
    "GET /users/{username}",
    "GET /users/{username}/keys",
    "GET /users/{username}/gpg_keys",
    "GET /orgs/{org}",
    "GET /orgs/{org}/teams/{team_slug}",
    "GET /orgs/{org}/teams/{team_slug}/members",
    "GET /orgs/{org}/teams/{team_slug}/repos",
    "GET /repos/{owner}/{repo}",
    "GET /repos/{owner}/{repo}/environments",
    *(f"{m} /repos/{{owner}}/{{repo}}/environments/{{environment_name}}" for m in ("GET", "PUT", "DELETE")),
    *(
        f"{m} /repos/{{owner}}/{{repo}}/environments/{{environment_name}}/deployment-branch-policies"
        for m in ("GET", "POST")
    ),
    *(
        f"{m} /repos/{{owner}}/{{repo}}/environments/{{environment_name}}/deployment-branch-policies/{{branch_policy_id}}"
        for m in ("GET", "PUT", "DELETE")
    ),
    "GET /repos/{owner}/{repo}/actions/secrets/public-key",
    "GET /repos/{owner}/{repo}/actions/secrets",
    *(f"{m} /repos/{{owner}}/{{repo}}/actions/secrets/{{secret_name}}" for m in ("GET", "PUT", "DELETE")),
    "GET /repos/{owner}/{repo}/environments/{environment_name}/secrets/public-key",
    "GET /repos/{owner}/{repo}/environments/{environment_name}/secrets",
    *(
        f"{m} /repos/{{owner}}/{{repo}}/environments/{{environment_name}}/secrets/{{secret_name}}"
        for m in ("GET", "PUT", "DELETE")
    ),
    *(f"{m} /repos/{{owner}}/{{repo}}/environments/{{environment_name}}/variables" for m in ("GET", "POST")),
    *(
        f"{m} /repos/{{owner}}/{{repo}}/environments/{{environment_name}}/variables/{{name}}"
        for m in ("GET", "PATCH", "DELETE")
    ),
    *(f"{m} {PROTECTION}" for m in ("GET", "PUT", "DELETE")),
    *(f"{m} {PROTECTION}/required_signatures" for m in ("GET", "POST", "DELETE")),
    f"DELETE {PROTECTION}/required_pull_request_reviews",
}


@pytest.fixture(scope="session")
def checker() -> SpecChecker:
    try:
        return SpecChecker(install_spec())
    except SpecUnavailableError as error:
        pytest.fail(f"GitHub's REST description ({SPEC_VERSION}) is needed to check the stand-in: {error}")


@pytest.fixture
def api() -> Iterator[GithubApi]:
    with GithubApi(OWNER, REPO, users=USERS, teams=TEAMS) as running:
        yield running


def environment_body(**overrides: Any) -> dict[str, Any]:
    """A CreateUpdateEnvironment as go-github marshals it."""
    return {
        "wait_timer": 0,
        "reviewers": [{"type": "User", "id": 101}, {"type": "Team", "id": 7001}],
        "can_admins_bypass": False,
        "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True},
        "prevent_self_review": True,
        **overrides,
    }


def protection_run(api: GithubApi) -> None:
    """github_branch_protection_v3's create, refresh, updates and delete, call for call."""
    protection = f"{REPO_PATH}/branches/main/protection"
    signatures = f"{protection}/required_signatures"
    assert call(api, "PUT", protection, provider_protection_body())[0] == 200  # create
    assert call(api, "DELETE", signatures)[0] == 204  # require_signed_commits = false
    etag = request(api, "GET", protection)[2]["ETag"]  # the read
    call(api, "GET", signatures)
    assert request(api, "GET", protection, headers={"If-None-Match": etag})[0] == 304  # refresh
    request(api, "GET", signatures, headers={"If-None-Match": etag})
    # an update: the contexts read back come as checks from any app; then signed commits required
    checks = {"strict": True, "checks": [{"context": "lint, types, unit tests, offline check", "app_id": -1}]}
    assert call(api, "PUT", protection, provider_protection_body(required_status_checks=checks))[0] == 200
    assert call(api, "POST", signatures)[0] == 200
    assert request(api, "GET", protection, headers={"If-None-Match": etag})[0] == 200
    # an update dropping reviews, then the delete
    assert call(api, "PUT", protection, provider_protection_body(required_pull_request_reviews=None))[0] == 200
    assert call(api, "DELETE", f"{protection}/required_pull_request_reviews")[0] == 204
    assert call(api, "DELETE", protection)[0] == 204
    assert call(api, "GET", protection)[0] == 404  # Branch not protected


def provider_run(api: GithubApi) -> None:
    """What a create, a refresh, an update and a destroy of the program's GitHub part send."""
    for path in ("/user", "/users/alice-acme", "/users/alice-acme/keys", "/users/alice-acme/gpg_keys"):
        call(api, "GET", path)
    for path in (f"/orgs/{OWNER}", f"/orgs/{OWNER}/teams/platform", f"/orgs/{OWNER}/teams/platform/members"):
        call(api, "GET", path)
    call(api, "GET", f"/orgs/{OWNER}/teams/platform/repos")
    call(api, "GET", REPO_PATH)
    call(api, "GET", f"/repositories/{api.repo_id}")

    env = f"{REPO_PATH}/environments/production"
    assert call(api, "PUT", env, environment_body(wait_timer=5))[0] == 200
    call(api, "GET", env)
    call(api, "GET", f"{REPO_PATH}/environments")
    policies = f"{env}/deployment-branch-policies"
    status, policy = call(api, "POST", policies, {"name": "main", "type": "branch"})
    assert status == 200
    assert call(api, "POST", policies, {"name": "main", "type": "branch"})[0] == 303
    call(api, "GET", policies)
    call(api, "GET", f"{policies}/{policy['id']}")
    call(api, "PUT", f"{policies}/{policy['id']}", {"name": "release/*"})

    by_id = f"/repositories/{api.repo_id}/environments/production/secrets"
    key = call(api, "GET", f"{by_id}/public-key")[1]
    call(api, "GET", f"{env}/secrets/public-key")
    secret = {"encrypted_value": seal(key["key"], "fly-token"), "key_id": key["key_id"]}
    assert call(api, "PUT", f"{by_id}/FLY_API_TOKEN", secret)[0] == 201
    assert call(api, "PUT", f"{by_id}/FLY_API_TOKEN", secret)[0] == 204
    call(api, "GET", f"{by_id}/FLY_API_TOKEN")
    call(api, "GET", f"{env}/secrets/FLY_API_TOKEN")
    call(api, "GET", by_id)
    call(api, "GET", f"{env}/secrets")
    repo_key = call(api, "GET", f"{REPO_PATH}/actions/secrets/public-key")[1]
    repo_secret = {"encrypted_value": seal(repo_key["key"], "codecov"), "key_id": repo_key["key_id"]}
    assert call(api, "PUT", f"{REPO_PATH}/actions/secrets/CODECOV_TOKEN", repo_secret)[0] == 201
    call(api, "GET", f"{REPO_PATH}/actions/secrets/CODECOV_TOKEN")
    call(api, "GET", f"{REPO_PATH}/actions/secrets")

    variables = f"{env}/variables"
    assert call(api, "POST", variables, {"name": "MODEL_NAME", "value": "llama3.1:8b"})[0] == 201
    call(api, "GET", f"{variables}/MODEL_NAME")
    assert call(api, "PATCH", f"{variables}/MODEL_NAME", {"name": "MODEL_NAME", "value": "qwen"})[0] == 204
    call(api, "GET", variables)

    # an update that clears what it can, then the destroy
    assert call(api, "PUT", env, environment_body(reviewers=None, prevent_self_review=False))[0] == 200
    call(api, "DELETE", f"{variables}/MODEL_NAME")
    call(api, "DELETE", f"{by_id}/FLY_API_TOKEN")
    call(api, "DELETE", f"{REPO_PATH}/actions/secrets/CODECOV_TOKEN")
    call(api, "DELETE", f"{policies}/{policy['id']}")
    call(api, "DELETE", env)
    call(api, "PUT", f"{env}", environment_body(deployment_branch_policy=None, reviewers=None))
    call(api, "DELETE", f"{env}/secrets/FLY_API_TOKEN")  # already gone: 404
    protection_run(api)


def test_what_the_provider_sends_and_gets_is_as_described(api: GithubApi, checker: SpecChecker) -> None:
    provider_run(api)
    assert [str(problem) for problem in checker.check_all(api.requests, OWNER, REPO)] == []
    assert not [r for r in api.requests if r.status >= 400 and r.status != 404], "the run meant no refusals"
    called = {f"{r.method} {checker.operation_path(r.method, checker.rest_path(r, OWNER, REPO))}" for r in api.requests}
    assert called == PROVIDER_OPERATIONS


def test_an_environments_reviewers_are_a_simple_user_and_a_team(api: GithubApi, checker: SpecChecker) -> None:
    env = call(api, "PUT", f"{REPO_PATH}/environments/production", environment_body())[1]
    (rule,) = [rule for rule in env["protection_rules"] if rule["type"] == "required_reviewers"]
    user, team = (reviewer["reviewer"] for reviewer in rule["reviewers"])
    assert (checker.schema_errors("simple-user", user), checker.schema_errors("team", team)) == ([], [])
    assert checker.schema_errors("team", {**team, "type": "Team"}) == [
        "type: 'Team' is not one of ['enterprise', 'organization']"
    ]


def test_error_answers_are_as_described(api: GithubApi, checker: SpecChecker) -> None:
    call(api, "GET", "/users/nobody-here")
    call(api, "GET", "/user", auth=None)
    call(api, "GET", "/user", auth="Bearer ghp_wrong")
    call(api, "GET", f"{REPO_PATH}/environments/missing")
    call(api, "PUT", f"{REPO_PATH}/environments/production", environment_body(reviewers=[{"type": "User", "id": 9}]))
    seven = [{"type": "User", "id": 101}] * 4 + [{"type": "Team", "id": 7001}] * 3
    call(api, "PUT", f"{REPO_PATH}/environments/production", environment_body(reviewers=seven))
    call(api, "PUT", f"{REPO_PATH}/environments/production", environment_body(deployment_branch_policy=None))
    call(api, "POST", f"{REPO_PATH}/environments/production/deployment-branch-policies", {"name": "main"})
    call(api, "POST", f"{REPO_PATH}/environments/production/variables", {"name": "GITHUB_X", "value": "x"})
    call(api, "PUT", f"{REPO_PATH}/actions/secrets/OK", {"encrypted_value": "c2VhbGVk", "key_id": "nope"})
    call(api, "PUT", f"{REPO_PATH}/branches/release/protection", provider_protection_body())  # Branch not found
    call(api, "GET", f"{REPO_PATH}/branches/main/protection")  # Branch not protected
    call(api, "DELETE", f"{REPO_PATH}/branches/main/protection")
    call(api, "GET", f"{REPO_PATH}/branches/main/protection/required_signatures")
    both = {"strict": True, "contexts": ["lint"], "checks": [{"context": "lint"}]}
    call(api, "PUT", f"{REPO_PATH}/branches/main/protection", provider_protection_body(required_status_checks=both))
    reviews = {**provider_protection_body()["required_pull_request_reviews"], "required_approving_review_count": 7}
    call(
        api,
        "PUT",
        f"{REPO_PATH}/branches/main/protection",
        provider_protection_body(required_pull_request_reviews=reviews),
    )
    assert sorted({r.status for r in api.requests}) == [200, 401, 404, 422]
    assert [str(problem) for problem in checker.check_all(api.requests, OWNER, REPO)] == []


def test_a_refusal_of_a_fine_grained_token_is_as_described(api: GithubApi, checker: SpecChecker) -> None:
    token = api.add_token("github_pat_environments", {"environments": "write"})
    call(api, "PUT", f"{REPO_PATH}/environments/production", environment_body(), auth=f"Bearer {token}")
    secret = {"encrypted_value": "c2VhbGVk", "key_id": "1"}
    call(api, "PUT", f"{REPO_PATH}/actions/secrets/OK", secret, auth=f"Bearer {token}")
    call(api, "PUT", f"{REPO_PATH}/branches/main/protection", provider_protection_body(), auth=f"Bearer {token}")
    call(api, "GET", f"{REPO_PATH}/branches/main/protection", auth=f"Bearer {token}")
    assert [r.status for r in api.requests] == [403, 403, 403, 403]
    assert [str(problem) for problem in checker.check_all(api.requests, OWNER, REPO)] == []


def test_the_checker_finds_what_disagrees(checker: SpecChecker) -> None:
    def exchange(method: str, path: str, body: Any, status: int, response: Any) -> ApiRequest:
        return ApiRequest(method, f"/api/v3{path}", {}, body, status, response)

    env_path = f"{REPO_PATH}/environments/production"
    problems = checker.check_all(
        [
            exchange("GET", "/users/alice-acme", None, 200, {"login": "alice-acme", "id": 101}),
            exchange("PUT", env_path, {"reviewers": [], "branches": ["main"]}, 200, None),
            exchange("POST", f"{env_path}/variables", {"name": "X", "value": "1"}, 200, {}),
            exchange(
                "PUT", f"{REPO_PATH}/actions/secrets/X", {"encrypted_value": "not base64!", "key_id": "1"}, 204, None
            ),
            exchange("GET", "/no/such/operation", None, 200, {}),
        ],
        OWNER,
        REPO,
    )
    found = [(problem.route, problem.problem.split(":")[0]) for problem in problems]
    assert found == [
        ("GET /users/{username}", "response"),
        (f"PUT {ENV}", "request"),
        (f"PUT {ENV}", "response"),  # a 200 with no environment
        ("POST /repos/{owner}/{repo}/environments/{environment_name}/variables", "the operation lists no such status"),
        ("PUT /repos/{owner}/{repo}/actions/secrets/{secret_name}", "request"),
        ("GET /no/such/operation", "the description has no such operation"),
    ]


def test_can_admins_bypass_is_the_one_field_the_description_leaves_out(checker: SpecChecker) -> None:
    refused = {"message": "Validation Failed"}
    sent = ApiRequest("PUT", f"/api/v3{REPO_PATH}/environments/staging", {}, {"can_admins_bypass": True}, 422, refused)
    assert checker.check(sent, OWNER, REPO) == []
    sent = ApiRequest("PUT", f"/api/v3{REPO_PATH}/environments/staging", {}, {"can_admins_bypas": True}, 422, refused)
    assert [p.problem.split(":")[0] for p in checker.check(sent, OWNER, REPO)] == ["request"]


def test_checks_without_contexts_is_the_one_omission_the_description_forbids(checker: SpecChecker) -> None:
    path = f"/api/v3{REPO_PATH}/branches/main/protection"
    refused = {"message": "Invalid request.", "documentation_url": "https://docs.github.com/rest"}
    sent = ApiRequest("PUT", path, {}, provider_protection_body(), 422, refused)
    assert checker.check(sent, OWNER, REPO) == []
    assert sent.body["required_status_checks"] == provider_protection_body()["required_status_checks"]  # left alone
    for checks in ({"checks": [{"context": "lint"}]}, {"strict": "yes", "checks": []}):
        sent = ApiRequest("PUT", path, {}, provider_protection_body(required_status_checks=checks), 422, refused)
        assert [p.problem.split(":")[0] for p in checker.check(sent, OWNER, REPO)] == ["request"]
    assert list(UNREQUIRED_REQUEST_FIELDS) == [("PUT", PROTECTION)]


def test_a_not_modified_answer_is_as_described_without_a_body(checker: SpecChecker) -> None:
    path = f"/api/v3{REPO_PATH}/branches/main/protection"
    assert checker.check(ApiRequest("GET", path, {}, None, 304, None), OWNER, REPO) == []
    (problem,) = checker.check(ApiRequest("GET", path, {}, None, 304, {"url": "x"}), OWNER, REPO)
    assert problem.problem == "a 304 Not Modified carries no body"


def test_the_pinned_description_is_the_one_loaded(checker: SpecChecker) -> None:
    assert checker.version == SPEC_VERSION


def test_without_npm_the_description_cannot_be_had_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SpecUnavailableError, match=r"npm is not on PATH; it is needed once to fetch @octokit/openapi@"):
        install_spec(tmp_path / "cache")
