"""The service's GitHub repository: the provider that reaches it and its repository-level secrets."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_github as github

from components import settings


class GithubRepository(pulumi.ComponentResource):
    provider: github.Provider

    def __init__(
        self,
        name: str,
        repo: settings.Github,
        token: pulumi.Output[str],
        secrets: Mapping[str, pulumi.Output[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("service-infra:github_repository:GithubRepository", name, None, opts)
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
