"""production-environment-protected and production-environment-branch-policy: only reviewed
deploys from named branches reach the production GitHub environment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from service_infra.contract import PRODUCTION_ENVIRONMENT

from .resources import GITHUB_BRANCH_POLICY, GITHUB_ENVIRONMENT, label, props
from .values import UNKNOWN


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


def _branch_policy_set(policy: Any) -> bool | None:
    """True/False, or None when not known yet."""
    if policy is UNKNOWN:
        return None
    if isinstance(policy, list):  # some provider versions pass a one-element list
        policy = policy[0] if policy else None
    if not isinstance(policy, dict):
        return False
    values = [policy.get("protectedBranches"), policy.get("customBranchPolicies")]
    if any(v is True for v in values):
        return True
    if any(v is UNKNOWN for v in values):
        return None
    return False


def production_environment_findings(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type != GITHUB_ENVIRONMENT:
        return
    inputs = props(args)
    if inputs.get("environment") != PRODUCTION_ENVIRONMENT:
        return
    name = label(args.resource_type, args.name)
    if _reviewer_count(inputs.get("reviewers")) == 0:
        yield (
            f"{name}: the production environment has no required reviewers. Add at least one under "
            "service-infra:github.environments.production.reviewers (users or teams)."
        )
    if _branch_policy_set(inputs.get("deploymentBranchPolicy")) is False:
        yield (
            f"{name}: the production environment has no deployment branch policy, so any branch can "
            "deploy. Set service-infra:github.environments.production.branches (e.g. [main])."
        )


def _depends_on(resource: PolicyResource, target: PolicyResource) -> bool:
    deps = list(resource.dependencies)
    for urns in resource.property_dependencies.values():
        deps.extend(urns)
    return any(dep is target or dep.urn == target.urn for dep in deps)


def production_branch_policy_findings(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    environments = [r for r in args.resources if r.resource_type == GITHUB_ENVIRONMENT]
    policies = [r for r in args.resources if r.resource_type == GITHUB_BRANCH_POLICY]
    for environment in environments:
        inputs = props(environment)
        if inputs.get("environment") != PRODUCTION_ENVIRONMENT:
            continue
        branch_policy = inputs.get("deploymentBranchPolicy")
        if isinstance(branch_policy, list):
            branch_policy = branch_policy[0] if branch_policy else None
        if isinstance(branch_policy, dict) and branch_policy.get("protectedBranches") is True:
            continue  # deploys limited to protected branches: GitHub allows no custom patterns then
        repository = inputs.get("repository")
        matching = []
        for policy in policies:
            policy_props = props(policy)
            policy_env = policy_props.get("environment")
            policy_repo = policy_props.get("repository")
            same_env = policy_env == PRODUCTION_ENVIRONMENT or (
                policy_env is UNKNOWN and _depends_on(policy, environment)
            )
            same_repo = policy_repo == repository or UNKNOWN in (policy_repo, repository)
            if same_env and same_repo:
                matching.append(policy)
        if not matching:
            yield (
                f"{label(environment.resource_type, environment.name)}: no RepositoryEnvironmentDeploymentPolicy "
                "names a branch that may deploy to production. Set "
                "service-infra:github.environments.production.branches (e.g. [main]).",
                environment.urn,
            )
