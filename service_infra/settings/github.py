"""The service's GitHub repository: its deployment environments, their protection, secrets and
variables."""

from __future__ import annotations

import re

from pydantic import Field, ValidationInfo, field_validator

from service_infra.settings.base import SECRET_NAME, Model, SecretRef, check_secret_reference

# GitHub's limit for required reviewers on a deployment environment.
MAX_REVIEWERS = 6


class Reviewers(Model):
    """Who must approve a deployment, by name: the program resolves names to GitHub's ids, and
    a name the token cannot see stops the run, naming its key."""

    users: tuple[str, ...] = ()
    """GitHub user names."""
    teams: tuple[str, ...] = ()
    """Team slugs of the repository's organization."""

    @property
    def count(self) -> int:
        return len(self.users) + len(self.teams)


class GithubEnvironmentSettings(Model):
    """A deployment environment of the service's repository and what it protects."""

    reviewers: Reviewers = Reviewers()
    """Required reviewers, at most 6 users and teams in all; `production` needs 1 to 6."""
    prevent_self_review: bool = True
    """Whoever starts a deployment may not approve it; prod's `production` must keep it."""
    wait_timer: int = Field(default=0, ge=0, le=43200)
    """Minutes a deployment waits before it proceeds."""
    can_admins_bypass: bool = False
    """Administrators may bypass the protection; refused for prod's `production`."""
    branches: tuple[str, ...] = ()
    """Branch patterns allowed to deploy (`staging` for staging, `main` for production);
    required outside local. Prod's `production` refuses a pattern that matches every branch."""
    secrets: tuple[SecretRef, ...] = ()
    """Secrets (names under `secrets`) set as the environment's Actions secrets."""
    variables: dict[str, str] = Field(default_factory=dict)
    """The environment's Actions variables; names `UPPER_SNAKE_CASE`, not starting with
    `GITHUB_`."""

    @field_validator("reviewers")
    @classmethod
    def _at_most_six(cls, reviewers: Reviewers) -> Reviewers:
        if reviewers.count > MAX_REVIEWERS:
            raise ValueError(f"GitHub allows at most {MAX_REVIEWERS} reviewers, got {reviewers.count}")
        return reviewers

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, names: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        for name in names:
            check_secret_reference(name, info)
        return names

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, variables: dict[str, str]) -> dict[str, str]:
        for name in variables:
            if not SECRET_NAME.match(name) or name.startswith("GITHUB_"):
                raise ValueError(f"variable name {name!r} must be UPPER_SNAKE_CASE and not start with GITHUB_")
        return variables


class GithubSettings(Model):
    """The service's GitHub repository: its deployment environments and repository-level
    secrets. Unset: the stack manages nothing on GitHub."""

    owner: str
    """User or organization that owns the repository."""
    repository: str
    """The repository's name."""
    base_url: str | None = None
    """API URL for GitHub Enterprise; unset: GitHub's API."""
    token_secret: SecretRef = Field(default="GITHUB_TOKEN", validate_default=True)
    """The secret holding the token the github provider uses, a fine-grained or GitHub App token
    on the repository alone. Prod's: Administration, Environments and Secrets write (it sets
    every environment's protection and the repository secrets). Any other stack's: Environments
    write and nothing more (its environment's secrets and variables), so it can never change
    `production`."""
    environments: dict[str, GithubEnvironmentSettings] = Field(default_factory=dict)
    """Deployment environments by name (letters, digits, `_`, `.`, `-`). Prod needs
    `production`, and declares every environment's protection (reviewers, branches, ...),
    staging's too; another stack lists only its own environment's `secrets` and `variables`, and
    that environment must exist (prod's stack makes it). An environment that receives prod's
    secrets gets prod's rules: named branches (no glob characters), no admin bypass."""
    main_branch: str = Field(default="main", min_length=1)
    """Prod only: the branch prod deploys from, protected by the prod stack: an approving review
    by someone other than its last pusher, a code owner's among them (`.github/CODEOWNERS`),
    stale approvals dismissed, `required_checks` passing on an up-to-date branch, for admins too."""
    required_checks: tuple[str, ...] = ("lint, types, unit tests, offline check", "pulumi preview (staging)")
    """Prod only: the status checks `main_branch` requires (the pull-request workflow's job names)."""
    repository_secrets: tuple[SecretRef, ...] = ()
    """Prod only: secrets (names under `secrets`) set as repository-level Actions secrets, which
    every branch can read, e.g. `CODECOV_TOKEN`; a deploy credential (a key, a token the stack
    uses, one of its environments' secrets) is refused here."""

    _token = field_validator("token_secret")(check_secret_reference)

    @field_validator("repository_secrets")
    @classmethod
    def _secrets(cls, names: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        for name in names:
            check_secret_reference(name, info)
        return names

    @field_validator("environments")
    @classmethod
    def _names(cls, environments: dict[str, GithubEnvironmentSettings]) -> dict[str, GithubEnvironmentSettings]:
        for name in environments:
            if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", name):
                # The provider mishandles '/' and spaces in environment names.
                raise ValueError(f"environment name {name!r} may hold letters, digits, '_', '.', '-' only")
        return environments
