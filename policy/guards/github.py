"""The production GitHub environment: only reviewed deploys from named branches reach it.

production-environment-protected (each `production` RepositoryEnvironment), and at stack level
production-environment-branch-policy (its RepositoryEnvironmentDeploymentPolicy resources) and
production-environment-exists. Everywhere, `production` needs a reviewer and a branch policy; in
prod, as the settings demand (``settings.stack._prod_guard_problems``), it must also exist, keep
self-review prevented and admins from bypassing, allow only named branches (custom branch
policies, none of whose patterns matches every branch) and be protected.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from service_infra.contract import PRODUCTION_ENVIRONMENT, PROJECT, matches_every_branch

from .resources import GITHUB_BRANCH_POLICY, GITHUB_ENVIRONMENT, label, settings
from .target import LiveTarget, Target
from .values import UNKNOWN

KEY = f"{PROJECT}:github.environments.{PRODUCTION_ENVIRONMENT}"


def _reviewer_count(reviewers: Any) -> int:
    if reviewers is UNKNOWN:
        return 1  # resolved at deploy time: cannot be shown to be missing
    count = 0
    for entry in reviewers if isinstance(reviewers, list) else []:
        if entry is UNKNOWN:
            return max(count, 1)
        if not isinstance(entry, dict):
            continue
        for key in ("users", "teams"):
            ids = entry.get(key)
            if ids is UNKNOWN:
                count += 1
            elif isinstance(ids, list):
                count += sum(1 for i in ids if i is not None)
    return count


def _branch_policy(policy: Any) -> dict[str, Any] | None:
    """The deploymentBranchPolicy block (some provider versions pass a one-element list)."""
    if isinstance(policy, list):
        policy = policy[0] if policy else None
    return policy if isinstance(policy, dict) else None


def _branch_mode(policy: Any) -> str | None:
    """Which branches may deploy: "custom" (named patterns), "protected" (protected branches),
    "any" (no policy), or None when not known yet."""
    if policy is UNKNOWN:
        return None
    block = _branch_policy(policy) or {}
    custom, protected = block.get("customBranchPolicies"), block.get("protectedBranches")
    if custom is True and protected is not True:
        return "custom"
    if protected is True:
        return "protected"
    if UNKNOWN in (custom, protected):
        return None
    return "any"


def _prod_findings(inputs: dict[str, Any], protected: bool) -> Iterator[str]:
    """What prod demands of `production` beyond a reviewer and a branch policy."""
    if inputs.get("preventSelfReview") not in (True, UNKNOWN):  # the provider's default is false
        yield (
            "whoever starts a prod deploy may approve it (preventSelfReview is not true). "
            f"Remove {KEY}.prevent_self_review: false."
        )
    if inputs.get("canAdminsBypass") not in (False, UNKNOWN):  # the provider's default is true
        yield (
            "administrators may bypass its reviewers (canAdminsBypass is not false). "
            f"Remove {KEY}.can_admins_bypass: true."
        )
    if _branch_mode(inputs.get("deploymentBranchPolicy")) == "protected":
        yield (
            "any protected branch may deploy to prod (deploymentBranchPolicy.protectedBranches). "
            f"Name the branches that may deploy under {KEY}.branches (e.g. [main])."
        )
    if not protected:
        yield (
            "the environment is not protected, so an update could delete its reviewers and branch "
            "policies with it. The program declares it with protect=True in prod; no config key turns that off."
        )


def production_environment_findings(args: ResourceValidationArgs, target: Target | LiveTarget) -> Iterator[str]:
    if args.resource_type != GITHUB_ENVIRONMENT:
        return
    inputs = settings(args)
    if inputs.get("environment") != PRODUCTION_ENVIRONMENT:
        return
    name = label(args.resource_type, args.name)
    if _reviewer_count(inputs.get("reviewers")) == 0:
        yield (
            f"{name}: the production environment has no required reviewers. Add at least one under "
            f"{KEY}.reviewers (users or teams)."
        )
    if _branch_mode(inputs.get("deploymentBranchPolicy")) == "any":
        yield (
            f"{name}: the production environment has no deployment branch policy, so any branch can "
            f"deploy. Set {KEY}.branches (e.g. [main])."
        )
    if target.is_prod:
        for finding in _prod_findings(inputs, args.opts.protect):
            yield f"{name}: {finding}"


def _depends_on(resource: PolicyResource, target: PolicyResource) -> bool:
    deps = list(resource.dependencies)
    for urns in resource.property_dependencies.values():
        deps.extend(urns)
    return any(dep is target or dep.urn == target.urn for dep in deps)


def _deployment_policies_of(environment: PolicyResource, policies: list[PolicyResource]) -> list[PolicyResource]:
    """The RepositoryEnvironmentDeploymentPolicy resources that are (or may be, while their
    environment is not known yet) the production environment's."""
    repository = settings(environment).get("repository")
    found = []
    for policy in policies:
        policy_props = settings(policy)
        policy_env = policy_props.get("environment")
        policy_repo = policy_props.get("repository")
        same_env = policy_env == PRODUCTION_ENVIRONMENT or (policy_env is UNKNOWN and _depends_on(policy, environment))
        same_repo = policy_repo == repository or UNKNOWN in (policy_repo, repository)
        if same_env and same_repo:
            found.append(policy)
    return found


def _productions(args: StackValidationArgs) -> list[PolicyResource]:
    return [
        r
        for r in args.resources
        if r.resource_type == GITHUB_ENVIRONMENT and settings(r).get("environment") == PRODUCTION_ENVIRONMENT
    ]


def production_branch_policy_findings(
    args: StackValidationArgs, target: Target | LiveTarget
) -> Iterator[tuple[str, str | None]]:
    policies = [r for r in args.resources if r.resource_type == GITHUB_BRANCH_POLICY]
    for environment in _productions(args):
        matching = _deployment_policies_of(environment, policies)
        # Deploys limited to protected branches take no custom patterns (prod refuses that mode
        # in production-environment-protected).
        limited = _branch_mode(settings(environment).get("deploymentBranchPolicy")) == "protected"
        if not matching and not limited:
            yield (
                f"{label(environment.resource_type, environment.name)}: no RepositoryEnvironmentDeploymentPolicy "
                f"names a branch that may deploy to production. Set {KEY}.branches (e.g. [main]).",
                environment.urn,
            )
        if not target.is_prod:
            continue
        for policy in matching:
            policy_props = settings(policy)
            for field, ref in (("branchPattern", "branch"), ("tagPattern", "tag")):
                pattern = policy_props.get(field)
                if isinstance(pattern, str) and matches_every_branch(pattern):
                    yield (
                        f"{label(policy.resource_type, policy.name)}: the {ref} pattern {pattern!r} lets every "
                        f"{ref} deploy to prod. Name the branches under {KEY}.branches (e.g. [main]).",
                        policy.urn,
                    )


def production_environment_exists_findings(
    args: StackValidationArgs, target: Target | LiveTarget
) -> Iterator[tuple[str, str | None]]:
    """In prod, the production environment exists: without it nothing gates prod's deploys."""
    if not target.is_prod or _productions(args):
        return
    environments = [r for r in args.resources if r.resource_type == GITHUB_ENVIRONMENT]
    if any(settings(r).get("environment") is UNKNOWN for r in environments):
        return  # one of them may turn out to be production
    yield (
        f"prod has no GitHub environment {PRODUCTION_ENVIRONMENT}, so nothing gates its deploys. Add {KEY} "
        "with reviewers and branches (e.g. [main]).",
        None,
    )
