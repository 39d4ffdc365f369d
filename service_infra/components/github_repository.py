"""The service's GitHub repository: the provider that reaches it, its repository-level secrets,
and (prod's stack) the protection of the branch prod deploys from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_github as github

from service_infra.contract import GITHUB_REPOSITORY_TYPE
from service_infra.settings import GithubSettings


@dataclass(frozen=True)
class GithubRepositoryArgs:
    github: GithubSettings
    token: pulumi.Output[str]
    # Every stack secret by name; the repository-level ones are picked from it.
    secret_values: Mapping[str, pulumi.Output[str]]
    # Prod's stack: it alone administers the repository, and protects main.
    protect_main: bool = False


class GithubRepository(pulumi.ComponentResource):
    """The provider that reaches the repository, and its repository-level Actions secrets."""

    provider: github.Provider

    def __init__(self, name: str, args: GithubRepositoryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(GITHUB_REPOSITORY_TYPE, name, None, opts)
        repo, token, secrets = args.github, args.token, args.secret_values
        self.repository = repo.repository
        self.provider = github.Provider(
            f"{name}-api",
            owner=repo.owner,
            token=pulumi.Output.secret(token),
            base_url=repo.base_url,
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        for secret_name in repo.repository_secrets:
            github.ActionsSecret(
                f"{name}-secret-{secret_name}",
                repository=repo.repository,
                secret_name=secret_name,
                value=secrets[secret_name],
                opts=child,
            )
        if args.protect_main:
            self.main_protection = self._main_branch_protection(name, repo, child)
        self.register_outputs({"repository": f"{repo.owner}/{repo.repository}"})

    def _main_branch_protection(
        self, name: str, repo: GithubSettings, child: pulumi.ResourceOptions
    ) -> github.BranchProtectionV3:
        """What merged to main runs with prod's secrets (production-preview) before any deploy
        reviewer acts: so nothing reaches main without another person's approval, admins included."""
        return github.BranchProtectionV3(
            f"{name}-{repo.main_branch}",
            repository=repo.repository,
            branch=repo.main_branch,
            enforce_admins=True,
            required_pull_request_reviews=github.BranchProtectionV3RequiredPullRequestReviewsArgs(
                required_approving_review_count=1,
                dismiss_stale_reviews=True,
                require_code_owner_reviews=True,
                require_last_push_approval=True,
            ),
            required_status_checks=github.BranchProtectionV3RequiredStatusChecksArgs(
                strict=True, checks=list(repo.required_checks)
            ),
            # Removing it takes an `unprotect` on purpose, as for production's environment.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=True)),
        )
