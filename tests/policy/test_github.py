"""production-environment-protected and production-environment-branch-policy."""

from __future__ import annotations

from typing import Any

import pytest

from policy.guards.resources import GITHUB_BRANCH_POLICY, GITHUB_ENVIRONMENT
from tests.policy.support import (
    UNKNOWN_STRING,
    resource_args,
    stack_resource,
    stack_violations,
    urn,
    violations,
)

RESOURCE_POLICY = "production-environment-protected"
STACK_POLICY = "production-environment-branch-policy"


def environment(name: str = "production", **changes: Any) -> dict[str, Any]:
    """A RepositoryEnvironment's inputs as the program registers them (ids resolved from names)."""
    props: dict[str, Any] = {
        "repository": "local-llm-server",
        "environment": name,
        "reviewers": [{"teams": [29715.0], "users": [53741.0, 89062.0]}],
        "preventSelfReview": True,
        "waitTimer": 5.0,
        "canAdminsBypass": False,
        "deploymentBranchPolicy": {"protectedBranches": False, "customBranchPolicies": True},
    }
    for key, value in changes.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return props


def check(props: dict[str, Any]) -> list[str]:
    return violations(RESOURCE_POLICY, resource_args(GITHUB_ENVIRONMENT, props["environment"], props))


def test_protected_production_environment_passes() -> None:
    assert check(environment()) == []


@pytest.mark.parametrize(
    "reviewers",
    [None, [], [{"users": [], "teams": []}], [{"users": []}]],
)
def test_production_without_reviewers_is_a_violation(reviewers: Any) -> None:
    (message,) = check(environment(reviewers=reviewers))
    assert "RepositoryEnvironment 'production'" in message
    assert "no required reviewers" in message
    assert "github.environments.production.reviewers" in message


@pytest.mark.parametrize("reviewers", [[{"users": [53741.0]}], [{"teams": [29715.0]}]])
def test_one_user_or_one_team_is_enough(reviewers: Any) -> None:
    assert check(environment(reviewers=reviewers)) == []


@pytest.mark.parametrize(
    "branch_policy",
    [None, {"protectedBranches": False, "customBranchPolicies": False}],
)
def test_production_without_a_branch_policy_is_a_violation(branch_policy: Any) -> None:
    (message,) = check(environment(deploymentBranchPolicy=branch_policy))
    assert "no deployment branch policy" in message and "branches" in message


def test_protected_branches_are_a_branch_policy() -> None:
    policy = {"protectedBranches": True, "customBranchPolicies": False}
    assert check(environment(deploymentBranchPolicy=policy)) == []


def test_other_environments_are_not_held_to_productions_rules() -> None:
    assert check(environment("staging", reviewers=None, deploymentBranchPolicy=None)) == []


def test_reviewer_ids_not_known_yet_are_not_a_violation() -> None:
    assert check(environment(reviewers=[{"users": UNKNOWN_STRING, "teams": []}])) == []


# --- stack level: a RepositoryEnvironmentDeploymentPolicy for production --------------------------


def branch_policy(environment_name: Any, branch: str = "main", **kwargs: Any) -> Any:
    props = {"repository": "local-llm-server", "environment": environment_name, "branchPattern": branch}
    return stack_resource(GITHUB_BRANCH_POLICY, f"production-branch-{branch}", props, **kwargs)


def test_production_with_a_branch_policy_resource_passes() -> None:
    production = stack_resource(GITHUB_ENVIRONMENT, "production", environment())
    assert stack_violations(STACK_POLICY, [production, branch_policy("production")]) == []


def test_production_without_a_branch_policy_resource_is_a_violation_on_the_environment() -> None:
    production = stack_resource(GITHUB_ENVIRONMENT, "production", environment())
    staging = stack_resource(GITHUB_ENVIRONMENT, "staging", environment("staging"))
    found = stack_violations(STACK_POLICY, [production, staging, branch_policy("staging", "staging")])
    ((message, at),) = found
    assert at == urn(GITHUB_ENVIRONMENT, "production")
    assert "RepositoryEnvironment 'production'" in message
    assert "RepositoryEnvironmentDeploymentPolicy" in message


def test_a_branch_policy_of_another_repository_does_not_count() -> None:
    production = stack_resource(GITHUB_ENVIRONMENT, "production", environment())
    other = stack_resource(
        GITHUB_BRANCH_POLICY,
        "other",
        {"repository": "another-repo", "environment": "production", "branchPattern": "main"},
    )
    assert len(stack_violations(STACK_POLICY, [production, other])) == 1


def test_a_branch_policy_whose_environment_is_not_known_counts_by_its_dependency() -> None:
    production = stack_resource(GITHUB_ENVIRONMENT, "production", environment())
    pending = branch_policy(UNKNOWN_STRING, property_dependencies={"environment": [production]})
    unrelated = branch_policy(UNKNOWN_STRING, "other")
    assert stack_violations(STACK_POLICY, [production, pending]) == []
    assert len(stack_violations(STACK_POLICY, [production, unrelated])) == 1


def test_production_limited_to_protected_branches_needs_no_branch_policy_resource() -> None:
    props = environment(deploymentBranchPolicy={"protectedBranches": True, "customBranchPolicies": False})
    production = stack_resource(GITHUB_ENVIRONMENT, "production", props)
    assert stack_violations(STACK_POLICY, [production]) == []


def test_a_stack_without_a_production_environment_passes() -> None:
    staging = stack_resource(GITHUB_ENVIRONMENT, "staging", environment("staging"))
    assert stack_violations(STACK_POLICY, [staging]) == []
