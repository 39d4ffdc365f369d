"""The whole stack: its services, and the rules that span services, hosts and sections."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from service_infra.contract import (
    IMAGE_DIGEST,
    PREVIEW_MEMORY_MB,
    PREVIEW_VM_SIZE,
    PRODUCTION_ENVIRONMENT,
    PROGRAM_LABELS,
    PROJECT,
    VERSION_KEY_SECRET,
    matches_every_branch,
    pull_request_of,
)
from service_infra.settings.base import (
    DOCKER_LABEL_KEY,
    IMAGE_TAG,
    NUL_IN_ENVIRONMENT,
    PROD_TAG,
    SECRET_NAME,
    URL_PATH,
    Model,
    ParseContext,
    SecretRef,
    Tier,
    check_env_name,
    check_image_repository,
    check_secret_reference,
    parse_context,
)
from service_infra.settings.docker import DockerHostSettings, DockerTarget, ProxySettings, RegistrySettings
from service_infra.settings.errors import SettingsError, problems_from
from service_infra.settings.fly import FlyTarget, fly_sets
from service_infra.settings.github import MAX_REVIEWERS, GithubSettings
from service_infra.settings.plain_credentials import plain_credential_problems
from service_infra.settings.preview import (
    PREVIEW_TEMPLATE,
    PreviewSettings,
    preview_app_name,
    preview_labels,
    preview_problems,
    slot_ports,
)


class Service(Model):
    """One deployable service, on a Docker host or on Fly.io (exactly one)."""

    image: str
    """Image repository, without tag, e.g. `ghcr.io/<owner>/<image>`."""
    tag: str = Field(default="", validate_default=True)
    """Image tag. Prod: `sha-` and 7 to 40 hex digits; staging: any tag but `latest`; local:
    unset means `latest`."""
    health_path: str = "/health"
    """Path the health checks and the health gate probe; starts with `/`."""
    env: dict[str, str] = Field(default_factory=dict)
    """Plain environment variables (no secrets: those go in `secret_env`); names are POSIX
    environment variable names (letters, digits, `_`, not starting with a digit)."""
    secret_env: tuple[SecretRef, ...] = ()
    """Secrets (names under `secrets`) the service gets as environment variables of the same
    name."""
    release_digests: dict[str, str] = Field(default_factory=dict)
    """Image digests pinned per tag, `<tag>: sha256:<64 hex>`, written by `rollback`: the entry of
    the current `tag`, if any, is run instead of what the tag names on the registry now, so a
    rollback returns to the bits that tag ran even if it was pushed again since. Entries of
    other tags are ignored."""
    allowed_origins: tuple[str, ...] = ()
    """CORS origins, a list or one comma-separated string, each `http(s)://host[:port]`."""
    origins_env: str = "ALLOWED_ORIGINS"
    """Environment variable the allowed origins are passed in, comma-separated (a POSIX
    environment variable name)."""
    docker: DockerTarget | None = None
    """Run the service as containers on a Docker host (set exactly one of `docker`, `fly`)."""
    fly: FlyTarget | None = None
    """Run the service as a Fly.io app (set exactly one of `docker`, `fly`); not on the local
    stack."""

    _check_image = field_validator("image")(check_image_repository)
    _check_origins_env = field_validator("origins_env")(check_env_name)

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for name, value in env.items():
            check_env_name(name)
            if "\0" in value:
                raise ValueError(f"{name} " + NUL_IN_ENVIRONMENT.format(where="it is a plain env value"))
        return env

    @field_validator("tag")
    @classmethod
    def _tag(cls, tag: str, info: ValidationInfo) -> str:
        environment = parse_context(info).tier
        if environment is Tier.LOCAL:
            if tag and not IMAGE_TAG.match(tag):
                raise ValueError(f"is not a valid image tag: {tag!r}")
            return tag or "latest"
        if tag in {"", "latest"}:
            raise ValueError(
                f"an immutable tag is required in {environment.value} (e.g. sha-1a2b3c4), got {tag or 'none'!r}"
            )
        if environment is Tier.PROD and not PROD_TAG.match(tag):
            raise ValueError(f"prod images are pinned by sha-<7 to 40 hex digits>, got {tag!r}")
        if not IMAGE_TAG.match(tag):
            raise ValueError(f"is not a valid image tag: {tag!r}")
        return tag

    @field_validator("release_digests")
    @classmethod
    def _release_digests(cls, digests: dict[str, str]) -> dict[str, str]:
        for tag, digest in digests.items():
            if not IMAGE_TAG.match(tag):
                raise ValueError(f"{tag!r} is not a valid image tag")
            if not IMAGE_DIGEST.match(digest):
                raise ValueError(f"{tag}: {digest!r} is not an image digest (sha256: and 64 hex digits)")
        return digests

    @field_validator("health_path")
    @classmethod
    def _health_path(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"must start with '/', e.g. /health, got {path!r}")
        if not URL_PATH.fullmatch(path):
            raise ValueError(
                f"must be a URL path: letters, digits, - . _ ~ ! $ & ( ) + , = : @ / and %XX escapes, "
                f"no spaces, quotes, ';', query or glob characters; got {path!r}"
            )
        return path

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            parts = urlsplit(origin)
            if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path or parts.query:
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return origins

    @field_validator("secret_env")
    @classmethod
    def _secret_env(cls, names: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        for name in names:
            check_secret_reference(name, info)
        return names

    @model_validator(mode="after")
    def _one_target(self) -> Service:
        if (self.docker is None) == (self.fly is None):
            raise ValueError("set exactly one of `docker` (a Docker host) or `fly` (a Fly.io app)")
        return self

    @model_validator(mode="after")
    def _no_name_fly_sets(self) -> Service:
        overwritten = sorted(name for name in self.env if self.fly is not None and fly_sets(name))
        if overwritten:
            raise ValueError(
                f"env.{overwritten[0]}: Fly sets {', '.join(overwritten)} itself on every machine, so a value here "
                "would be overwritten without a word (flyctl v0.4.87 internal/appconfig/machines.go sets "
                "FLY_PROCESS_GROUP and PRIMARY_REGION; Fly's init sets FLY_*): rename it"
            )
        return self

    @property
    def image_ref(self) -> str:
        return f"{self.image}:{self.tag}"

    @property
    def pinned_digest(self) -> str | None:
        """The digest `rollback` pinned for the current tag, if any."""
        return self.release_digests.get(self.tag)

    def health_url(self, service_url: str) -> str:
        """What the health gate probes: the target's `health_url` when set, else the service's URL
        (where its host or Fly serves it) with `health_path`."""
        target = self.docker or self.fly
        override = target.health_url if target is not None else None
        return override or f"{service_url}{self.health_path}"

    @property
    def plain_env(self) -> dict[str, str]:
        """Non-secret environment, with the allowed origins under their variable name."""
        env = dict(self.env)
        if self.allowed_origins:
            env[self.origins_env] = ",".join(self.allowed_origins)
        return env


class Settings(Model):
    """The whole stack."""

    environment: Tier
    """Which environment the stack is; the stacks named local, staging and prod must say their
    own name, and `preview` is the template Pulumi.preview.yaml and the `pr-<n>` stacks made
    from it. Prod pins images by `sha-` tags and keeps its data and its reviewers."""
    secrets: tuple[str, ...] = ()
    """Every secret value, encrypted: `pulumi config set --secret --path 'secrets.<NAME>'
    <value>`; names are `UPPER_SNAKE_CASE`. Everything else refers to a secret by its name. A
    plaintext value here, or a secure value anywhere else, is refused. `VERSION_KEY` (a random
    value, set once) is required when a Docker service has `secret_env`: it keys the hash that
    makes a changed secret value a new version, rolled out beside the old one."""
    registry: RegistrySettings | None = None
    """Credentials the Docker hosts pull images with; required outside local when Docker
    services exist."""
    proxy: ProxySettings | None = None
    """The proxy image in front of every Docker service; required when Docker services exist."""
    docker_hosts: dict[str, DockerHostSettings] = Field(default_factory=dict)
    """The Docker engines services run on, by name."""
    services: dict[str, Service] = Field(default_factory=dict)
    """The services, by name."""
    github: GithubSettings | None = None
    """The service's GitHub repository."""
    public_values: tuple[str, ...] = ()
    """Config keys (as an error names them, e.g. `services.web.env.STRIPE_PK`) whose plain values
    look like credentials but are public: every other plain value that looks like a key, token,
    password or private key, or sits under a secret-sounding variable name, is refused."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels added to every container, network and volume the stack makes on its Docker hosts
    (e.g. an owner, or a test run's id), beside the program's own `service-infra.*` labels. A
    change reaches the containers through a rollout; networks and volumes keep the labels they
    were made with."""

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in labels:
            if key in PROGRAM_LABELS:
                raise ValueError(f"{key} is the program's own label; pick another key")
            if not DOCKER_LABEL_KEY.match(key):
                raise ValueError(f"label key {key!r} may hold letters, digits, '.', '-', '_' and '/' only")
        return labels

    preview: PreviewSettings | None = None
    """Pull-request previews (only with `environment: preview`): the template's port pool,
    limits and time to live (docs/delivery.md)."""

    @property
    def instance(self) -> str:
        """What the stack's containers, networks and volumes are named and labelled after on a
        host: its environment, or `pr-<n>` for a pull request's preview (many share one engine)."""
        if self.preview is not None and self.preview.stack is not None:
            return self.preview.stack
        return self.environment.value

    def docker_services(self) -> dict[str, Service]:
        return {name: s for name, s in self.services.items() if s.docker is not None}

    def fly_services(self) -> dict[str, Service]:
        return {name: s for name, s in self.services.items() if s.fly is not None}


def _cross_checks(settings: Settings) -> list[str]:
    """Rules that span several services, hosts or sections."""
    problems: list[str] = []
    env = settings.environment
    used_ports: dict[tuple[str, int], str] = {}
    for name, service in settings.docker_services().items():
        target = service.docker
        assert target is not None
        key = f"{PROJECT}:services.{name}.docker"
        if target.host not in settings.docker_hosts:
            known = ", ".join(settings.docker_hosts) or "none defined"
            problems.append(f"{key}.host: unknown Docker host {target.host!r} (docker_hosts: {known})")
        # A preview's ports come from its pool, one each (settings/preview.py slot_ports).
        clash = used_ports.get((target.host, target.port)) if settings.preview is None else None
        if clash:
            problems.append(
                f"{key}.port: host port {target.port} on {target.host} is already used by service {clash}; pick another"
            )
        used_ports[(target.host, target.port)] = name
        if settings.registry is None and env is not Tier.LOCAL:
            problems.append(f"{PROJECT}:registry: is required to pull {service.image_ref} on {target.host}")
    with_secrets = sorted(name for name, service in settings.docker_services().items() if service.secret_env)
    if with_secrets and VERSION_KEY_SECRET not in settings.secrets:
        problems.append(
            f"{PROJECT}:secrets.{VERSION_KEY_SECRET}: is required with secret_env on Docker services "
            f"({', '.join(with_secrets)}): it keys the hash that makes a changed secret value a new version. "
            f"Set it once to a random value: pulumi config set --secret --path 'secrets.{VERSION_KEY_SECRET}' "
            '"$(openssl rand -hex 32)"'
        )
    if settings.docker_services() and settings.proxy is None:
        problems.append(
            f"{PROJECT}:proxy: is required in front of Docker services (it owns their ports during rollouts); "
            "set proxy.image and proxy.tag to an nginx image with curl, e.g. one built from examples/proxy"
        )
    fly_apps: dict[str, str] = {}
    for name, service in settings.fly_services().items():
        assert service.fly is not None
        if service.fly.app in fly_apps:
            problems.append(
                f"{PROJECT}:services.{name}.fly.app: app {service.fly.app} is already used by service {fly_apps[service.fly.app]}"
            )
        fly_apps[service.fly.app] = name
        if service.fly.private_image:
            key = f"{PROJECT}:services.{name}.fly.private_image"
            if settings.registry is None:
                problems.append(
                    f"{key}: pulling {service.image_ref} here needs its credentials: set registry "
                    "(server, username, password_secret)"
                )
            elif not service.image.startswith(f"{settings.registry.server}/"):
                problems.append(
                    f"{key}: {service.image} is not on registry {settings.registry.server}, whose credentials pull it; "
                    "change registry.server or the image"
                )
        if env is Tier.LOCAL:
            problems.append(f"{PROJECT}:services.{name}.fly: the local stack runs on Docker only; remove `fly`")
    if settings.github is not None:
        problems += _github_scope_problems(settings.github, env)
    return problems


# What only the stack whose GitHub token administers the repository may set (prod's).
ENVIRONMENT_PROTECTION = ("reviewers", "prevent_self_review", "wait_timer", "can_admins_bypass", "branches")
# Glob characters: a branch pattern holding one lets branches nobody named deploy.
_BRANCH_GLOB = re.compile(r"[*?\[\]]")


def _github_scope_problems(github: GithubSettings, env: Tier) -> list[str]:
    """GitHub's fine-grained tokens cannot be scoped to one environment: a token that can set an
    environment's protection can set production's. So the repository-level settings (every
    environment's protection, repository secrets) are the prod stack's; another stack sets only
    its environment's secrets and variables, with a token that has Environments write alone."""
    problems: list[str] = []
    prefix = f"{PROJECT}:github"
    if env is not Tier.PROD:
        where = "Pulumi.prod.yaml"
        if github.repository_secrets:
            problems.append(
                f"{prefix}.repository_secrets: repository secrets are the prod stack's to set (every branch can "
                f"read them, and setting them takes a token with Secrets write on the repository): move them to "
                f"{where}; {env.value}'s token has Environments write and nothing more (docs/delivery.md)"
            )
        for field in ("main_branch", "required_checks"):
            if field in github.model_fields_set:
                problems.append(
                    f"{prefix}.{field}: the protection of the branch prod deploys from is the prod stack's to set: "
                    f"move it to {where}"
                )
        for env_name, gh_env in github.environments.items():
            for field in ENVIRONMENT_PROTECTION:
                if field in gh_env.model_fields_set:
                    problems.append(
                        f"{prefix}.environments.{env_name}.{field}: an environment's protection is the prod stack's "
                        f"to set (only its token administers the repository): move it to {where} under "
                        f"github.environments.{env_name}; {env.value} sets only the environment's secrets and "
                        "variables (docs/delivery.md)"
                    )
        return problems
    for env_name, gh_env in github.environments.items():
        key = f"{prefix}.environments.{env_name}"
        if env_name == PRODUCTION_ENVIRONMENT and gh_env.reviewers.count == 0:
            problems.append(f"{key}.reviewers: production needs 1 to {MAX_REVIEWERS} reviewers (users or teams)")
        if not gh_env.branches:
            problems.append(
                f"{key}.branches: set the branches allowed to deploy (e.g. [main] for production, [staging] for staging)"
            )
        if gh_env.secrets and env_name != PRODUCTION_ENVIRONMENT:  # production's own: _prod_guard_problems
            # It receives prod's secrets: prod's rules, whatever its name.
            for pattern in gh_env.branches:
                if _BRANCH_GLOB.search(pattern):
                    problems.append(
                        f"{key}.branches: {pattern!r} is a pattern, and this environment receives prod's secrets "
                        f"({', '.join(gh_env.secrets)}): name the branches (e.g. main)"
                    )
            if gh_env.can_admins_bypass:
                problems.append(
                    f"{key}.can_admins_bypass: this environment receives prod's secrets; admins may not bypass it"
                )
    credentials = _credential_secrets(github)
    for name in github.repository_secrets:
        if name in credentials or _CREDENTIAL_NAME.search(name):
            problems.append(
                f"{prefix}.repository_secrets: {name} looks like a deploy credential, and every branch can read "
                "repository secrets: put it in the environment that needs it (github.environments.<name>.secrets)"
            )
    return problems


# Names of what deploys or opens an environment: never a repository secret.
_CREDENTIAL_NAME = re.compile(r"PRIVATE_KEY|SSH|PASSPHRASE|DEPLOY|^AWS_|FLY_API_TOKEN|GITHUB_TOKEN|GHCR|PULUMI")


def _credential_secrets(github: GithubSettings) -> set[str]:
    """The stack's own credentials as the GitHub section knows them: its token and what its
    environments hold."""
    return {github.token_secret, *(name for gh_env in github.environments.values() for name in gh_env.secrets)}


def _stack_binding_problems(stack: str | None, tier: Tier) -> list[str]:
    """The stacks named local, staging and prod are those environments, and `preview` and
    `pr-<n>` are previews: prod's guards and defaults follow `environment`, so a stack file
    cannot talk its way out of them, nor a preview into another environment's name."""
    bound = Tier.PREVIEW if pull_request_of(stack) is not None else next((t for t in Tier if t.value == stack), None)
    if bound is not None and bound is not tier:
        return [
            f"{PROJECT}:environment: the stack {stack} must say `environment: {bound.value}`, got {tier.value} "
            f"(the environment of the stacks local, staging, prod, preview and pr-<n> is bound to their name)"
        ]
    if tier is Tier.PREVIEW and stack is not None and bound is None:
        return [
            f"{PROJECT}:environment: preview is the environment of the template stack {PREVIEW_TEMPLATE} and of "
            f"the pull requests' pr-<n> stacks, not of {stack}; pick local, staging or prod"
        ]
    return []


def _preview_rules(settings: Settings, stack: str | None) -> list[str]:
    """A preview is made from the template, costs little and keeps nothing: no GitHub settings
    (they need a token that reaches staging's or prod's environments), no kept volumes, the
    smallest Fly machine."""
    preview = settings.preview
    if settings.environment is not Tier.PREVIEW:
        if preview is not None:
            return [f"{PROJECT}:preview: previews are made from Pulumi.preview.yaml (environment: preview); remove it"]
        return []
    if preview is None:
        return [
            f"{PROJECT}:preview: the preview environment needs its port pool and limits: set preview.ports.first "
            "and preview.ports.last (docs/delivery.md)"
        ]
    fly_apps = [s.fly.app for s in settings.fly_services().values() if s.fly is not None]
    problems = preview_problems(preview, len(settings.docker_services()), fly_apps, stack)
    if settings.github is not None:
        problems.append(
            f"{PROJECT}:github: a preview sets nothing on GitHub (its token would reach staging's and prod's "
            "environments); remove the section"
        )
    for name, service in settings.services.items():
        key = f"{PROJECT}:services.{name}"
        if service.docker is not None and service.docker.retain_volumes:
            problems.append(f"{key}.docker.retain_volumes: a preview keeps nothing once closed; remove it")
        if service.fly is not None:
            if service.fly.protect:
                problems.append(f"{key}.fly.protect: a preview keeps nothing once closed; remove it")
            if (service.fly.vm_size, service.fly.memory_mb) != (PREVIEW_VM_SIZE, PREVIEW_MEMORY_MB):
                problems.append(
                    f"{key}.fly: a preview runs on Fly's smallest machine: set vm_size {PREVIEW_VM_SIZE} and "
                    f"memory_mb {PREVIEW_MEMORY_MB}, got {service.fly.vm_size} with {service.fly.memory_mb}"
                )
    return problems


def preview_instance(settings: Settings) -> Settings:
    """A pull request's preview as it runs: its slot's ports, its Fly apps `<app>-pr-<n>`, and the
    labels naming it and its time to live. The template, and every other stack, as they are."""
    preview = settings.preview
    if preview is None or preview.pull_request is None or preview.slot is None:
        return settings
    ports = slot_ports(preview, preview.slot, list(settings.docker_services()))
    services: dict[str, Service] = {}
    for name, service in settings.services.items():
        if service.docker is not None:
            service = service.model_copy(update={"docker": service.docker.model_copy(update={"port": ports[name]})})
        elif service.fly is not None:
            app = preview_app_name(service.fly.app, preview.pull_request)
            service = service.model_copy(update={"fly": service.fly.model_copy(update={"app": app})})
        services[name] = service
    labels = {**settings.labels, **preview_labels(preview)}
    return settings.model_copy(update={"services": services, "labels": labels})


def _prod_guard_problems(settings: Settings) -> list[str]:
    """What prod must keep, whatever a config edit says: a protected production environment."""
    if settings.environment is not Tier.PROD:
        return []
    key = f"{PROJECT}:github.environments.{PRODUCTION_ENVIRONMENT}"
    production = settings.github.environments.get(PRODUCTION_ENVIRONMENT) if settings.github else None
    if production is None:
        return [
            f"{key}: prod needs the GitHub environment {PRODUCTION_ENVIRONMENT} (reviewers, branches [main]) "
            "to gate its deploys; add it under github.environments"
        ]
    problems = []
    if production.can_admins_bypass:
        problems.append(f"{key}.can_admins_bypass: admins may not bypass prod's reviewers; remove it")
    if not production.prevent_self_review:
        problems.append(f"{key}.prevent_self_review: whoever starts a prod deploy may not approve it; remove it")
    for pattern in production.branches:
        if matches_every_branch(pattern):
            problems.append(
                f"{key}.branches: {pattern!r} lets every branch deploy to prod; name the branches (e.g. main)"
            )
    return problems


def _secret_problems(secrets: Mapping[str, bool]) -> list[str]:
    problems = []
    for name, encrypted in secrets.items():
        key = f"{PROJECT}:secrets.{name}"
        if not SECRET_NAME.match(name):
            problems.append(f"{key}: secret names are UPPER_SNAKE_CASE")
        if not encrypted:
            problems.append(
                f"{key}: is stored in plaintext; set it with `pulumi config set --secret --path 'secrets.{name}' <value>`"
            )
    return problems


def parse_settings(config: Mapping[str, Any], secrets: Mapping[str, bool], stack: str | None = None) -> Settings:
    """Parse the project's config (keys without the ``service-infra:`` prefix).

    `secrets` maps each name under ``service-infra:secrets`` to whether it is stored encrypted;
    `stack` is the stack's name where it is known (the engine, or a Pulumi.<stack>.yaml).
    Raises SettingsError listing every problem found.
    """
    problems = _secret_problems(secrets)
    raw_env = config.get("environment")
    try:
        environment = Tier(raw_env)
    except ValueError:
        problems.append(
            f"{PROJECT}:environment: must be one of local, staging, prod, got {raw_env!r}"
            if raw_env is not None
            else f"{PROJECT}:environment: is required (local, staging or prod)"
        )
        raise SettingsError(problems) from None
    problems += _stack_binding_problems(stack, environment)
    problems += plain_credential_problems(config, remember=environment is not Tier.PROD)
    data = {**config, "secrets": tuple(secrets)}
    try:
        settings = Settings.model_validate(data, context=ParseContext(environment, secrets))
    except ValidationError as error:
        raise SettingsError(problems + problems_from(error, Settings)) from None
    problems += _cross_checks(settings) + _prod_guard_problems(settings) + _preview_rules(settings, stack)
    if problems:
        raise SettingsError(problems)
    return preview_instance(settings)
