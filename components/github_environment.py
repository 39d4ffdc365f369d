"""A deployment environment of the service's repository: protection, secrets and variables."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_github as github

from components import settings


def _sorted_ids(ids: list[pulumi.Output[int]]) -> pulumi.Output[list[int]]:
    # A stable order keeps the provider from showing a diff on reviewers at every preview.
    return pulumi.Output.all(*ids).apply(lambda values: sorted(int(v) for v in values))


class GithubEnvironment(pulumi.ComponentResource):
    """Required reviewers (names resolved to ids), branch policies, Actions secrets and variables."""

    def __init__(
        self,
        name: str,
        environment: settings.GithubEnvironment,
        repository: str,
        provider: github.Provider,
        secrets: Mapping[str, pulumi.Output[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("service-infra:github_environment:GithubEnvironment", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        lookup = pulumi.InvokeOutputOptions(parent=self, provider=provider)
        reviewers = environment.reviewers
        user_ids = [github.get_user_output(username=user, opts=lookup).id.apply(int) for user in reviewers.users]
        team_ids = [github.get_team_output(slug=team, opts=lookup).id.apply(int) for team in reviewers.teams]

        self.environment = github.RepositoryEnvironment(
            name,
            repository=repository,
            environment=name,
            reviewers=[
                github.RepositoryEnvironmentReviewerArgs(users=_sorted_ids(user_ids), teams=_sorted_ids(team_ids))
            ]
            if reviewers.count
            else None,
            prevent_self_review=environment.prevent_self_review,
            wait_timer=environment.wait_timer,
            can_admins_bypass=environment.can_admins_bypass,
            deployment_branch_policy=github.RepositoryEnvironmentDeploymentBranchPolicyArgs(
                protected_branches=False, custom_branch_policies=True
            )
            if environment.branches
            else None,
            opts=child,
        )
        in_environment = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.environment]))
        for branch in environment.branches:
            github.RepositoryEnvironmentDeploymentPolicy(
                f"{name}-branch-{branch}",
                repository=repository,
                environment=self.environment.environment,
                branch_pattern=branch,
                opts=in_environment,
            )
        for secret_name in environment.secrets:
            github.ActionsEnvironmentSecret(
                f"{name}-secret-{secret_name}",
                repository=repository,
                environment=self.environment.environment,
                secret_name=secret_name,
                value=secrets[secret_name],
                opts=in_environment,
            )
        for variable_name, value in sorted(environment.variables.items()):
            github.ActionsEnvironmentVariable(
                f"{name}-variable-{variable_name}",
                repository=repository,
                environment=self.environment.environment,
                variable_name=variable_name,
                value=value,
                opts=in_environment,
            )
        self.register_outputs({"environment": self.environment.environment})
