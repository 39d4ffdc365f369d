"""production-environment-protected, production-environment-branch-policy and
production-environment-exists: the production GitHub environment everywhere, and what prod adds."""

from __future__ import annotations

from typing import Any

import pytest

from policy.guards import Target
from policy.guards.resources import GITHUB_BRANCH_POLICY, GITHUB_ENVIRONMENT
from tests.policy.support import (
    PROD,
    STAGING,
    UNKNOWN_STRING,
    resource_args,
    secret,
    stack_resource,
    stack_violations,
    urn,
    violations,
)

RESOURCE_POLICY = "production-environment-protected"
STACK_POLICY = "production-environment-branch-policy"
EXISTS_POLICY = "production-environment-exists"
KEY = "service-infra:github.environments.production"
# A prod-named stack is prod whatever its config says.
PROD_CLAIMING_STAGING = Target(stack="prod", environment="staging")


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


def check(props: dict[str, Any], target: Target = PROD, protect: bool = True) -> list[str]:
    """The program declares `production` with protect in prod."""
    args = resource_args(GITHUB_ENVIRONMENT, props["environment"], props, protect=protect)
    return violations(RESOURCE_POLICY, args, target)


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


def test_protected_branches_are_a_branch_policy_outside_prod() -> None:
    policy = {"protectedBranches": True, "customBranchPolicies": False}
    assert check(environment(deploymentBranchPolicy=policy), STAGING) == []


def test_other_environments_are_not_held_to_productions_rules() -> None:
    assert check(environment("staging", reviewers=None, deploymentBranchPolicy=None)) == []


def test_reviewer_ids_not_known_yet_are_not_a_violation() -> None:
    assert check(environment(reviewers=[{"users": UNKNOWN_STRING, "teams": []}])) == []


# --- prod: what the settings' prod guards demand of production -----------------------------------


@pytest.mark.parametrize("target", [PROD, PROD_CLAIMING_STAGING])
def test_prod_refuses_protected_branches_mode(target: Target) -> None:
    policy = {"protectedBranches": True, "customBranchPolicies": False}
    (message,) = check(environment(deploymentBranchPolicy=policy), target)
    assert "any protected branch may deploy to prod" in message and f"{KEY}.branches" in message


@pytest.mark.parametrize("value", [False, None])
def test_prod_refuses_self_review(value: Any) -> None:
    # Absent, the provider's default applies: self-review allowed.
    (message,) = check(environment(preventSelfReview=value))
    assert "RepositoryEnvironment 'production'" in message
    assert "may approve it" in message and f"{KEY}.prevent_self_review" in message


@pytest.mark.parametrize("value", [True, None])
def test_prod_refuses_admin_bypass(value: Any) -> None:
    # Absent, the provider's default applies: admins may bypass.
    (message,) = check(environment(canAdminsBypass=value))
    assert "administrators may bypass" in message and f"{KEY}.can_admins_bypass" in message


def test_prod_refuses_an_unprotected_production_environment() -> None:
    (message,) = check(environment(), protect=False)
    assert "the environment is not protected" in message and "protect=True" in message


def test_a_prod_named_stack_is_held_to_prods_rules_whatever_its_environment_says() -> None:
    weak = environment(preventSelfReview=False, canAdminsBypass=True)
    assert len(check(weak, PROD_CLAIMING_STAGING, protect=False)) == 3


def test_outside_prod_production_needs_only_reviewers_and_branches() -> None:
    weak = environment(preventSelfReview=False, canAdminsBypass=True)
    assert check(weak, STAGING, protect=False) == []


def test_settings_hidden_in_a_secret_are_still_judged() -> None:
    assert len(check(environment(canAdminsBypass=secret(True), reviewers=secret([])))) == 2


def test_prod_settings_not_known_yet_are_not_a_violation() -> None:
    assert check(environment(preventSelfReview=UNKNOWN_STRING, canAdminsBypass=UNKNOWN_STRING)) == []


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


@pytest.mark.parametrize("pattern", ["*", "**", "**/*", "*/*", "?*", "/*"])
def test_prod_refuses_a_branch_pattern_that_matches_every_branch(pattern: str) -> None:
    production = stack_resource(GITHUB_ENVIRONMENT, "production", environment())
    ((message, at),) = stack_violations(STACK_POLICY, [production, branch_policy("production", pattern)])
    assert at == urn(GITHUB_BRANCH_POLICY, f"production-branch-{pattern}")
    assert f"the branch pattern {pattern!r} lets every branch deploy to prod" in message
    assert f"{KEY}.branches" in message


@pytest.mark.parametrize("pattern", ["main", "release/*", "v*", "*-hotfix"])
def test_named_branch_patterns_pass(pattern: str) -> None:
    production = stack_resource(GITHUB_ENVIRONMENT, "production", environment())
    assert stack_violations(STACK_POLICY, [production, branch_policy("production", pattern)]) == []


def test_a_wildcard_pattern_is_allowed_outside_prod_and_found_in_a_prod_named_stack() -> None:
    production = stack_resource(GITHUB_ENVIRONMENT, "production", environment())
    resources = [production, branch_policy("production", "*")]
    assert stack_violations(STACK_POLICY, resources, STAGING) == []
    assert len(stack_violations(STACK_POLICY, resources, PROD_CLAIMING_STAGING)) == 1


def test_a_wildcard_pattern_is_found_through_the_dependency_while_the_environment_is_unknown() -> None:
    production = stack_resource(GITHUB_ENVIRONMENT, "production", environment())
    pending = branch_policy(UNKNOWN_STRING, "**", property_dependencies={"environment": [production]})
    assert len(stack_violations(STACK_POLICY, [production, pending])) == 1


def test_a_wildcard_tag_pattern_is_refused_too() -> None:
    production = stack_resource(GITHUB_ENVIRONMENT, "production", environment())
    tags = stack_resource(
        GITHUB_BRANCH_POLICY,
        "production-tags",
        {"repository": "local-llm-server", "environment": "production", "tagPattern": "*"},
    )
    ((message, _),) = stack_violations(STACK_POLICY, [production, tags])
    assert "the tag pattern '*' lets every tag deploy to prod" in message


# --- stack level: prod has a production environment -----------------------------------------------


def test_prod_without_a_production_environment_is_refused_at_stack_level() -> None:
    staging = stack_resource(GITHUB_ENVIRONMENT, "staging", environment("staging"))
    for target in (PROD, PROD_CLAIMING_STAGING):
        ((message, at),) = stack_violations(EXISTS_POLICY, [staging], target)
        assert at is None
        assert "prod has no GitHub environment production" in message and KEY in message
    assert len(stack_violations(EXISTS_POLICY, [], PROD)) == 1


def test_prod_with_a_production_environment_passes() -> None:
    production = stack_resource(GITHUB_ENVIRONMENT, "production", environment())
    assert stack_violations(EXISTS_POLICY, [production]) == []


def test_other_stacks_need_no_production_environment() -> None:
    assert stack_violations(EXISTS_POLICY, [], STAGING) == []


def test_an_environment_whose_name_is_not_known_yet_may_be_production() -> None:
    pending = stack_resource(GITHUB_ENVIRONMENT, "production", environment(UNKNOWN_STRING))
    assert stack_violations(EXISTS_POLICY, [pending]) == []
