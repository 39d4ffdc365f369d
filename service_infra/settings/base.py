"""What every settings model builds on: the base model, the parse context, shared patterns and
the checks of secret references and image names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo

SECRET_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
IMAGE_REPOSITORY = re.compile(r"^[a-z0-9]+([._:/-][a-z0-9]+)*$")
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DOCKER_LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
PROD_TAG = re.compile(r"^sha-[0-9a-f]{7,40}$")
# A URL path (RFC 3986's path characters, %XX escapes), less what a shell or curl reads apart:
# quotes, ';', '*' and every glob or query character.
URL_PATH = re.compile(r"/(?:[A-Za-z0-9\-._~!$&()+,=:@/]|%[0-9A-Fa-f]{2})*")
# POSIX environment variable names (portable character set): a letter or '_', then letters, digits, '_'.
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FLY_APP_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$")
FLY_VOLUME_NAME = re.compile(r"^[a-z0-9_]{1,30}$")
HOST_KEY = re.compile(
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521)"
    r" [A-Za-z0-9+/]+={0,3}$"
)


class Tier(StrEnum):
    """Which environment the stack is: the `service-infra:environment` key. `preview` is the
    template Pulumi.preview.yaml and every pull request's `pr-<n>` stack made from it."""

    LOCAL = "local"
    STAGING = "staging"
    PROD = "prod"
    PREVIEW = "preview"


class Model(BaseModel):
    """Base of every settings model: immutable, and unknown keys are errors.

    Each field's docstring is its description: `python -m service_infra config-reference`
    renders them into docs/configuration.md.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


# Why a secret value with NUL is refused, wherever it goes: every service gets its secrets as
# environment variables, and an environment entry is a C string. WHERE says how this one gets it.
NUL_IN_ENVIRONMENT = (
    "holds a NUL byte, which no process environment can carry ({where}); remove it, or store the value "
    "encoded (e.g. base64) and decode it in the service"
)


def parse_context(info: ValidationInfo) -> ParseContext:
    context = info.context
    assert isinstance(context, ParseContext)
    return context


class ParseContext:
    """What validators need to know beyond the value they check."""

    def __init__(self, tier: Tier, secrets: Mapping[str, bool]) -> None:
        self.tier = tier
        self.secrets = secrets  # secret name -> stored encrypted


def check_secret_reference(name: str, info: ValidationInfo) -> str:
    secrets = parse_context(info).secrets
    if not SECRET_NAME.match(name):
        raise ValueError(f"secret name {name!r} must be UPPER_SNAKE_CASE")
    if name not in secrets:
        raise ValueError(f"secret {name} is not set: run `pulumi config set --secret --path 'secrets.{name}' <value>`")
    return name


def check_env_name(name: str) -> str:
    """An environment variable name a shell, Docker and fly.toml all read as one flat name."""
    if not ENV_NAME.match(name):
        raise ValueError(
            f"{name!r} is not an environment variable name: use letters, digits and '_', not starting with a digit"
        )
    return name


SecretRef = Annotated[str, Field(min_length=1)]
Port = Annotated[int, Field(ge=1, le=65535)]


def check_image_repository(image: str) -> str:
    if ":" in image.rsplit("/", 1)[-1] or "@" in image:
        raise ValueError(f"give the repository without a tag (set the tag in `tag`), got {image!r}")
    if not IMAGE_REPOSITORY.match(image):
        raise ValueError(f"is not a valid image repository: {image!r}")
    return image
