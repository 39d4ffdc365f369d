"""The service's GitHub repository: the provider that reaches it and its repository-level secrets."""

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
        self.register_outputs({"repository": f"{repo.owner}/{repo.repository}"})
