"""Typed settings: the one place the stack configuration is read and checked.

The whole stack config is parsed into frozen pydantic models before any resource is declared.
Every problem is reported at once, one line each, naming the full config key
(``service-infra:services.llm-server.docker.port``) and saying what to change.

Secret *values* never enter these models: all of them live under ``service-infra:secrets``
(set with ``pulumi config set --secret --path secrets.NAME``) and everything else refers to
them by name. The models only know which names exist and whether each is stored encrypted.

Rooms: ``base`` (the base model, parse context, shared checks), one module per section
(``docker``, ``fly``, ``github``), ``stack`` (services, the whole stack and its cross-checks),
``errors`` (one line per problem) and ``loader`` (the engine or a stack file as the source).
"""

from service_infra.settings.base import Tier
from service_infra.settings.docker import DockerHostSettings, DockerTarget, HotReload, ProxySettings, RegistrySettings
from service_infra.settings.errors import SettingsError
from service_infra.settings.fly import FlyTarget, FlyVolume
from service_infra.settings.github import GithubEnvironmentSettings, GithubSettings, Reviewers
from service_infra.settings.loader import (
    check_secret_values,
    load_runtime_settings,
    load_settings,
    load_stack_file,
    read_plain_secrets,
    read_secrets,
    split_config,
    stack_file_of,
)
from service_infra.settings.stack import Service, Settings, parse_settings

__all__ = [
    "DockerHostSettings",
    "DockerTarget",
    "FlyTarget",
    "FlyVolume",
    "GithubEnvironmentSettings",
    "GithubSettings",
    "HotReload",
    "ProxySettings",
    "RegistrySettings",
    "Reviewers",
    "Service",
    "Settings",
    "SettingsError",
    "Tier",
    "check_secret_values",
    "load_runtime_settings",
    "load_settings",
    "load_stack_file",
    "parse_settings",
    "read_plain_secrets",
    "read_secrets",
    "split_config",
    "stack_file_of",
]
