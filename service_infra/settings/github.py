"""The service's GitHub repository: its deployment environments, their protection, secrets and
variables."""

from __future__ import annotations

import re

from pydantic import Field, ValidationInfo, field_validator

from service_infra.contract import MAX_REVIEWERS
from service_infra.settings.base import SECRET_NAME, Model, SecretRef, check_secret_reference


class Reviewers(Model):
    users: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return len(self.users) + len(self.teams)


class GithubEnvironmentSettings(Model):
    """A deployment environment of the service's repository and what it protects."""

    reviewers: Reviewers = Reviewers()
    prevent_self_review: bool = True
    wait_timer: int = Field(default=0, ge=0, le=43200)
    can_admins_bypass: bool = False
    branches: tuple[str, ...] = ()
    secrets: tuple[SecretRef, ...] = ()
    variables: dict[str, str] = Field(default_factory=dict)

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
    owner: str
    repository: str
    base_url: str | None = None
    token_secret: SecretRef = Field(default="GITHUB_TOKEN", validate_default=True)
    environments: dict[str, GithubEnvironmentSettings] = Field(default_factory=dict)
    repository_secrets: tuple[SecretRef, ...] = ()

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
