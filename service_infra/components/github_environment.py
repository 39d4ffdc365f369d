"""A deployment environment of the service's repository: protection, secrets and variables.

The prod stack owns every environment (it makes it and sets its protection); another stack sets
only its own environment's secrets and variables, in the environment prod's stack made, with a
token that cannot administer the repository (settings.stack._github_scope_problems)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pulumi
import pulumi_github as github

from service_infra.contract import GITHUB_ENVIRONMENT_TYPE
from service_infra.settings import GithubEnvironmentSettings


@dataclass(frozen=True)
class GithubEnvironmentArgs:
    settings: GithubEnvironmentSettings
    repository: str
    provider: github.Provider
    # Every stack secret by name; the environment's own are picked from it.
    secret_values: Mapping[str, pulumi.Output[str]]
    # Where the settings came from (`service-infra:github.environments.<name>`), for error messages.
    config_key: str
    # Prod's production environment: Pulumi refuses to delete it (its reviewers gate prod).
    protect: bool = False
    # Whether this stack makes the environment and sets its protection (prod's stack), or only
    # fills in the secrets and variables of one that exists.
    owns: bool = True


class UnknownReviewerError(ValueError):
    """A reviewer name GitHub does not know; the message names the config key to fix."""


class ReviewerCannotApproveError(Exception):
    """A reviewer GitHub knows but would silently ignore."""


# Roles on a repository that let a team approve deployments (GitHub ignores weaker ones).
APPROVING_ROLES = frozenset({"write", "push", "maintain", "admin"})


def team_id_if_it_can_approve(team: github.GetTeamResult, repository: str) -> str:
    """The team's id, if it has write access to the repository; GitHub accepts a required
    reviewer team without it, and then nobody in it can approve a deployment."""
    roles = [r.role_name for r in team.repositories_detaileds or [] if r.repo_name == repository]
    if not APPROVING_ROLES.intersection(roles):
        has = f"{roles[0]} access" if roles else "no access"
        raise ReviewerCannotApproveError(
            f"team {team.slug!r} cannot approve deployments: it has {has} to {repository}, and GitHub ignores "
            "reviewers without write access; give the team write access to the repository, or remove it"
        )
    return str(team.id)


def _resolve_ids(
    names: tuple[str, ...], lookup: Callable[[str], str], key: str, kind: str
) -> tuple[list[int], list[str]]:
    """Names to numeric ids (sorted, so the provider sees a stable list), and a problem per name
    GitHub does not know or would ignore."""
    ids, problems = [], []
    for name in names:
        try:
            ids.append(int(lookup(name)))
        except ReviewerCannotApproveError as error:
            problems.append(f"{key}: {error}")
        except Exception as error:  # the provider's invoke error: 404, no access, ...
            problems.append(f"{key}: GitHub has no {kind} {name!r} visible to the token ({error})")
    return sorted(ids), problems


class GithubEnvironment(pulumi.ComponentResource):
    """Required reviewers (names resolved to ids), branch policies, Actions secrets and variables;
    only the secrets and variables where the stack does not own the environment."""

    def __init__(
        self,
        name: str,
        args: GithubEnvironmentArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(GITHUB_ENVIRONMENT_TYPE, name, None, opts)
        environment, repository, provider = args.settings, args.repository, args.provider
        secrets = args.secret_values
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        environment_name: pulumi.Input[str] = name
        in_environment = child
        if args.owns:
            self.environment = self._protected_environment(name, args, child)
            environment_name = self.environment.environment
            in_environment = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.environment]))
            for branch in environment.branches:
                github.RepositoryEnvironmentDeploymentPolicy(
                    f"{name}-branch-{branch}",
                    repository=repository,
                    environment=environment_name,
                    branch_pattern=branch,
                    opts=in_environment,
                )
        for secret_name in environment.secrets:
            github.ActionsEnvironmentSecret(
                f"{name}-secret-{secret_name}",
                repository=repository,
                environment=environment_name,
                secret_name=secret_name,
                value=secrets[secret_name],
                opts=in_environment,
            )
        for variable_name, value in sorted(environment.variables.items()):
            github.ActionsEnvironmentVariable(
                f"{name}-variable-{variable_name}",
                repository=repository,
                environment=environment_name,
                variable_name=variable_name,
                value=value,
                opts=in_environment,
            )
        self.register_outputs({"environment": environment_name})

    def _protected_environment(
        self, name: str, args: GithubEnvironmentArgs, child: pulumi.ResourceOptions
    ) -> github.RepositoryEnvironment:
        """The environment itself, with its reviewers (names resolved to ids) and branch policy."""
        environment, repository, provider, config_key = args.settings, args.repository, args.provider, args.config_key
        # Plain (not output) invokes, so an unknown name fails here, naming its config key,
        # before anything is written to GitHub.
        lookup = pulumi.InvokeOptions(parent=self, provider=provider)
        reviewers = environment.reviewers
        user_ids, user_problems = _resolve_ids(
            reviewers.users,
            lambda u: github.get_user(username=u, opts=lookup).id,
            f"{config_key}.reviewers.users",
            "user",
        )
        team_ids, team_problems = _resolve_ids(
            reviewers.teams,
            lambda t: team_id_if_it_can_approve(github.get_team(slug=t, opts=lookup), repository),
            f"{config_key}.reviewers.teams",
            "team",
        )
        if user_problems or team_problems:
            raise UnknownReviewerError("\n".join(user_problems + team_problems))
        return github.RepositoryEnvironment(
            name,
            repository=repository,
            environment=name,
            reviewers=[github.RepositoryEnvironmentReviewerArgs(users=user_ids, teams=team_ids)]
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
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect)),
        )
