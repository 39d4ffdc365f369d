"""Typed settings: the one place the stack configuration is read and checked.

The whole stack config is parsed into frozen pydantic models before any resource is declared.
Every problem is reported at once, one line each, naming the full config key
(``service-infra:services.llm-server.docker.port``) and saying what to change.

Secret *values* never enter these models: all of them live under ``service-infra:secrets``
(set with ``pulumi config set --secret --path secrets.NAME``) and everything else refers to
them by name. The models only know which names exist and whether each is stored encrypted.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

PROJECT = "service-infra"

SECRET_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
IMAGE_REPOSITORY = re.compile(r"^[a-z0-9]+([._:/-][a-z0-9]+)*$")
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
PROD_TAG = re.compile(r"^sha-[0-9a-f]{7,40}$")
FLY_APP_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$")
FLY_VOLUME_NAME = re.compile(r"^[a-z0-9_]{1,30}$")
HOST_KEY = re.compile(
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521)"
    r" [A-Za-z0-9+/]+={0,3}$"
)
# Fly.io regions, from `fly platform regions`.
FLY_REGIONS = frozenset(
    [
        "ams",
        "arn",
        "atl",
        "bog",
        "bom",
        "bos",
        "cdg",
        "den",
        "dfw",
        "ewr",
        "eze",
        "fra",
        "gdl",
        "gig",
        "gru",
        "hkg",
        "iad",
        "jnb",
        "lax",
        "lhr",
        "mad",
        "mia",
        "nrt",
        "ord",
        "otp",
        "phx",
        "qro",
        "scl",
        "sea",
        "sin",
        "sjc",
        "syd",
        "waw",
        "yul",
        "yyz",
    ]
)
FLY_VM_SIZES = frozenset(
    [
        "shared-cpu-1x",
        "shared-cpu-2x",
        "shared-cpu-4x",
        "shared-cpu-8x",
        "performance-1x",
        "performance-2x",
        "performance-4x",
        "performance-8x",
        "performance-16x",
    ]
)
MAX_REVIEWERS = 6  # GitHub's limit for required reviewers on an environment


class Environment(StrEnum):
    LOCAL = "local"
    STAGING = "staging"
    PROD = "prod"


class Model(BaseModel):
    """Base of every settings model: immutable, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _context(info: ValidationInfo) -> ParseContext:
    context = info.context
    assert isinstance(context, ParseContext)
    return context


class ParseContext:
    """What validators need to know beyond the value they check."""

    def __init__(self, environment: Environment, secrets: Mapping[str, bool]) -> None:
        self.environment = environment
        self.secrets = secrets  # secret name -> stored encrypted


def _check_secret_reference(name: str, info: ValidationInfo) -> str:
    secrets = _context(info).secrets
    if not SECRET_NAME.match(name):
        raise ValueError(f"secret name {name!r} must be UPPER_SNAKE_CASE")
    if name not in secrets:
        raise ValueError(f"secret {name} is not set: run `pulumi config set --secret --path 'secrets.{name}' <value>`")
    return name


SecretRef = Annotated[str, Field(min_length=1)]


def _check_image_repository(image: str) -> str:
    if ":" in image.rsplit("/", 1)[-1] or "@" in image:
        raise ValueError(f"give the repository without a tag (set the tag in `tag`), got {image!r}")
    if not IMAGE_REPOSITORY.match(image):
        raise ValueError(f"is not a valid image repository: {image!r}")
    return image


class Registry(Model):
    """Credentials the Docker hosts use to pull images (GHCR by default)."""

    server: str = "ghcr.io"
    username: str = Field(min_length=1)
    password_secret: SecretRef

    _check = field_validator("password_secret")(_check_secret_reference)


class DockerHost(Model):
    """A Docker engine: the local one (``unix://``) or a remote one over SSH with a pinned host key."""

    url: str
    host_key: str | None = None
    identity_file: str | None = None
    public_host: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme == "unix" and parts.path:
            return url
        if parts.scheme == "ssh":
            if not parts.username or not parts.hostname:
                raise ValueError(f"must look like ssh://user@host[:port], got {url!r}")
            try:
                parts.port  # noqa: B018 - raises on a bad port
            except ValueError:
                raise ValueError(f"has an invalid port in {url!r}") from None
            return url
        raise ValueError(f"must be unix:///path/to/docker.sock or ssh://user@host[:port], got {url!r}")

    @field_validator("host_key")
    @classmethod
    def _host_key(cls, key: str | None) -> str | None:
        if key is not None and not HOST_KEY.match(key.strip()):
            raise ValueError(
                "must be one public key line such as 'ssh-ed25519 AAAA...' "
                "(take it from `ssh-keyscan -t ed25519 <host>`)"
            )
        return key.strip() if key else key

    @model_validator(mode="after")
    def _ssh_needs_pinned_key(self) -> DockerHost:
        if self.is_ssh and not self.host_key:
            raise ValueError(
                "host_key: an ssh:// host needs its host key pinned (no trust on first use): "
                "set it to the output of `ssh-keyscan -t ed25519 <host>` without the host name"
            )
        return self

    @property
    def is_ssh(self) -> bool:
        return self.url.startswith("ssh://")

    @property
    def ssh_host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def ssh_port(self) -> int:
        return urlsplit(self.url).port or 22

    @property
    def reachable_host(self) -> str:
        """The name clients use to reach published ports on this host."""
        return self.public_host or (self.ssh_host if self.is_ssh else "127.0.0.1")


class HotReload(Model):
    """Local development: the service's source bind-mounted and the server restarted on edits."""

    source: str = Field(min_length=1)
    target: str = "/app"
    command: tuple[str, ...] = (
        "python3",
        "-m",
        "uvicorn",
        "app.main:app",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--reload",
    )


Port = Annotated[int, Field(ge=1, le=65535)]


class DockerTarget(Model):
    """Where and how a service runs as a container on a Docker host."""

    host: str
    port: Port
    bind: str = "0.0.0.0"
    container_port: Port = 8000
    user: str = "10001:10001"
    volumes: dict[str, str] = Field(default_factory=dict)
    command: tuple[str, ...] | None = None
    hot_reload: HotReload | None = None
    health_url: str | None = None
    retain_volumes: bool | None = None  # default: true in prod, where a destroy must not lose data
    # A new version must turn healthy within this time, or the rollout stops and the old one stays.
    ready_timeout_seconds: int = Field(default=180, ge=10, le=3600)
    # How long a replaced version may finish its in-flight requests before it is stopped.
    drain_seconds: int = Field(default=30, ge=0, le=600)

    @field_validator("bind")
    @classmethod
    def _bind(cls, bind: str) -> str:
        try:
            ipaddress.ip_address(bind)
        except ValueError:
            raise ValueError(f"must be an IP address such as 0.0.0.0 or 127.0.0.1, got {bind!r}") from None
        return bind

    @field_validator("user")
    @classmethod
    def _non_root(cls, user: str) -> str:
        if user.split(":")[0] in {"0", "root", ""}:
            raise ValueError(f"containers run as a non-root user; got {user!r}, use e.g. '10001:10001'")
        return user

    @field_validator("volumes")
    @classmethod
    def _volumes(cls, volumes: dict[str, str]) -> dict[str, str]:
        for name, path in volumes.items():
            if not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", name):
                raise ValueError(f"volume name {name!r} may hold letters, digits, '_', '.', '-'")
            if not path.startswith("/"):
                raise ValueError(f"volume {name} mount path must be absolute, got {path!r}")
        return volumes

    @model_validator(mode="after")
    def _default_retain(self, info: ValidationInfo) -> DockerTarget:
        if self.retain_volumes is None:
            object.__setattr__(self, "retain_volumes", _context(info).environment is Environment.PROD)
        return self

    @field_validator("hot_reload")
    @classmethod
    def _local_only(cls, hot_reload: HotReload | None, info: ValidationInfo) -> HotReload | None:
        if hot_reload is not None and _context(info).environment is not Environment.LOCAL:
            raise ValueError("hot reload is for the local stack only; remove it")
        return hot_reload


class FlyVolume(Model):
    name: str
    size_gb: int = Field(ge=1, le=500)
    mount: str

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not FLY_VOLUME_NAME.match(name):
            raise ValueError(f"Fly volume names use lowercase letters, digits and '_' (at most 30), got {name!r}")
        return name

    @field_validator("mount")
    @classmethod
    def _mount(cls, mount: str) -> str:
        if not mount.startswith("/"):
            raise ValueError(f"must be an absolute path such as /data, got {mount!r}")
        return mount


class FlyTarget(Model):
    """A Fly.io app: its volumes, secrets and release, driven through flyctl."""

    app: str
    org: str = "personal"
    region: str
    vm_size: str = "shared-cpu-1x"
    memory_mb: int = Field(default=512, ge=256, le=65536)
    internal_port: Port = 8080
    volumes: tuple[FlyVolume, ...] = ()
    secrets: tuple[SecretRef, ...] = ()
    api_token_secret: SecretRef = Field(default="FLY_API_TOKEN", validate_default=True)
    protect: bool | None = None
    health_url: str | None = None

    @field_validator("app")
    @classmethod
    def _app(cls, app: str) -> str:
        if not FLY_APP_NAME.match(app):
            raise ValueError(f"Fly app names use lowercase letters, digits and '-' (2-63), got {app!r}")
        return app

    @field_validator("region")
    @classmethod
    def _region(cls, region: str) -> str:
        if region not in FLY_REGIONS:
            raise ValueError(f"unknown Fly region {region!r}; one of: {', '.join(sorted(FLY_REGIONS))}")
        return region

    @field_validator("vm_size")
    @classmethod
    def _vm_size(cls, size: str) -> str:
        if size not in FLY_VM_SIZES:
            raise ValueError(f"unknown Fly VM size {size!r}; one of: {', '.join(sorted(FLY_VM_SIZES))}")
        return size

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, names: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        for name in names:
            _check_secret_reference(name, info)
        return names

    _token = field_validator("api_token_secret")(_check_secret_reference)

    @field_validator("volumes")
    @classmethod
    def _unique_volumes(cls, volumes: tuple[FlyVolume, ...]) -> tuple[FlyVolume, ...]:
        names = [volume.name for volume in volumes]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"volume names must be unique, {', '.join(duplicated)} repeated")
        return volumes

    @model_validator(mode="after")
    def _default_protect(self, info: ValidationInfo) -> FlyTarget:
        if self.protect is None:
            object.__setattr__(self, "protect", _context(info).environment is Environment.PROD)
        return self


class Service(Model):
    """One deployable service, on a Docker host or on Fly.io (exactly one)."""

    image: str
    tag: str = Field(default="", validate_default=True)
    health_path: str = "/health"
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: tuple[SecretRef, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    origins_env: str = "ALLOWED_ORIGINS"
    docker: DockerTarget | None = None
    fly: FlyTarget | None = None

    _check_image = field_validator("image")(_check_image_repository)

    @field_validator("tag")
    @classmethod
    def _tag(cls, tag: str, info: ValidationInfo) -> str:
        environment = _context(info).environment
        if environment is Environment.LOCAL:
            if tag and not IMAGE_TAG.match(tag):
                raise ValueError(f"is not a valid image tag: {tag!r}")
            return tag or "latest"
        if tag in {"", "latest"}:
            raise ValueError(
                f"an immutable tag is required in {environment.value} (e.g. sha-1a2b3c4), got {tag or 'none'!r}"
            )
        if environment is Environment.PROD and not PROD_TAG.match(tag):
            raise ValueError(f"prod images are pinned by sha-<7 to 40 hex digits>, got {tag!r}")
        if not IMAGE_TAG.match(tag):
            raise ValueError(f"is not a valid image tag: {tag!r}")
        return tag

    @field_validator("health_path")
    @classmethod
    def _health_path(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"must start with '/', e.g. /health, got {path!r}")
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
            _check_secret_reference(name, info)
        return names

    @model_validator(mode="after")
    def _one_target(self) -> Service:
        if (self.docker is None) == (self.fly is None):
            raise ValueError("set exactly one of `docker` (a Docker host) or `fly` (a Fly.io app)")
        return self

    @property
    def image_ref(self) -> str:
        return f"{self.image}:{self.tag}"

    @property
    def plain_env(self) -> dict[str, str]:
        """Non-secret environment, with the allowed origins under their variable name."""
        env = dict(self.env)
        if self.allowed_origins:
            env[self.origins_env] = ",".join(self.allowed_origins)
        return env


class Proxy(Model):
    """The reverse proxy that owns each Docker service's published port (nginx and curl inside)."""

    image: str
    tag: str

    _check_image = field_validator("image")(_check_image_repository)

    @field_validator("tag")
    @classmethod
    def _tag(cls, tag: str, info: ValidationInfo) -> str:
        if not IMAGE_TAG.match(tag):
            raise ValueError(f"is not a valid image tag: {tag!r}")
        if tag == "latest" and _context(info).environment is not Environment.LOCAL:
            raise ValueError("pin the proxy image by a version tag (e.g. nginx-1.22.1-1), not latest")
        return tag

    @property
    def image_ref(self) -> str:
        return f"{self.image}:{self.tag}"


class Reviewers(Model):
    users: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return len(self.users) + len(self.teams)


class GithubEnvironment(Model):
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
            _check_secret_reference(name, info)
        return names

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, variables: dict[str, str]) -> dict[str, str]:
        for name in variables:
            if not SECRET_NAME.match(name) or name.startswith("GITHUB_"):
                raise ValueError(f"variable name {name!r} must be UPPER_SNAKE_CASE and not start with GITHUB_")
        return variables


class Github(Model):
    owner: str
    repository: str
    base_url: str | None = None
    token_secret: SecretRef = Field(default="GITHUB_TOKEN", validate_default=True)
    environments: dict[str, GithubEnvironment] = Field(default_factory=dict)
    repository_secrets: tuple[SecretRef, ...] = ()

    _token = field_validator("token_secret")(_check_secret_reference)

    @field_validator("repository_secrets")
    @classmethod
    def _secrets(cls, names: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        for name in names:
            _check_secret_reference(name, info)
        return names

    @field_validator("environments")
    @classmethod
    def _names(cls, environments: dict[str, GithubEnvironment]) -> dict[str, GithubEnvironment]:
        for name in environments:
            if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", name):
                # The provider mishandles '/' and spaces in environment names.
                raise ValueError(f"environment name {name!r} may hold letters, digits, '_', '.', '-' only")
        return environments


class Settings(Model):
    """The whole stack."""

    environment: Environment
    secrets: tuple[str, ...] = ()
    registry: Registry | None = None
    proxy: Proxy | None = None
    docker_hosts: dict[str, DockerHost] = Field(default_factory=dict)
    services: dict[str, Service] = Field(default_factory=dict)
    github: Github | None = None

    def docker_services(self) -> dict[str, Service]:
        return {name: s for name, s in self.services.items() if s.docker is not None}

    def fly_services(self) -> dict[str, Service]:
        return {name: s for name, s in self.services.items() if s.fly is not None}


class SettingsError(Exception):
    """The stack config has problems; each names its config key and says what to change."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"invalid stack configuration ({count}); nothing was changed:\n" + "\n".join(problems))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _is_mapping_of_models(annotation: Any) -> bool:
    return getattr(annotation, "__origin__", None) is dict


def _walk_model(path: tuple[Any, ...]) -> list[str]:
    """Field names valid at `path` (the error location without the unknown key)."""
    current: type[BaseModel] | None = Settings
    skip_next = False
    for part in path:
        if current is None:
            return []
        if skip_next:  # a key of a dict of models (e.g. a service name)
            skip_next = False
            continue
        if isinstance(part, int):
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        skip_next = _is_mapping_of_models(field.annotation) and _model_in(field.annotation) is not None
        current = _model_in(field.annotation)
    return list(current.model_fields) if current is not None else []


def _key(path: tuple[Any, ...]) -> str:
    dotted = ".".join(str(part) for part in path)
    return f"{PROJECT}:{dotted}" if dotted else PROJECT


def _problems_from(error: ValidationError) -> list[str]:
    problems = []
    for detail in error.errors(include_url=False):
        location = tuple(detail["loc"])
        kind = detail["type"]
        if kind == "extra_forbidden":
            *parent, unknown = location
            message = "unknown key"
            close = difflib.get_close_matches(str(unknown), _walk_model(tuple(parent)), n=1)
            if close:
                message += f"; did you mean `{close[0]}`?"
            else:
                allowed = _walk_model(tuple(parent))
                if allowed:
                    message += f"; allowed here: {', '.join(allowed)}"
        elif kind == "missing":
            message = "is required"
        elif kind == "value_error":
            message = str(detail.get("ctx", {}).get("error", detail["msg"]))
            # A model-level check names its own field first ("host_key: ...").
            field, sep, rest = message.partition(": ")
            if sep and re.match(r"^[a-z_]+$", field):
                location = (*location, field)
                message = rest
        else:
            message = f"{detail['msg'].lower()}, got {detail['input']!r}"
        problems.append(f"{_key(location)}: {message}")
    return problems


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
        clash = used_ports.get((target.host, target.port))
        if clash:
            problems.append(
                f"{key}.port: host port {target.port} on {target.host} is already used by service {clash}; pick another"
            )
        used_ports[(target.host, target.port)] = name
        if settings.registry is None and env is not Environment.LOCAL:
            problems.append(f"{PROJECT}:registry: is required to pull {service.image_ref} on {target.host}")
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
        if env is Environment.LOCAL:
            problems.append(f"{PROJECT}:services.{name}.fly: the local stack runs on Docker only; remove `fly`")
    if settings.github is not None:
        for env_name, gh_env in settings.github.environments.items():
            key = f"{PROJECT}:github.environments.{env_name}"
            if env_name == "production" and gh_env.reviewers.count == 0:
                problems.append(f"{key}.reviewers: production needs 1 to {MAX_REVIEWERS} reviewers (users or teams)")
            if env is not Environment.LOCAL and not gh_env.branches:
                problems.append(
                    f"{key}.branches: set the branches allowed to deploy (e.g. [main] for production, [staging] for staging)"
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


def parse_settings(config: Mapping[str, Any], secrets: Mapping[str, bool]) -> Settings:
    """Parse the project's config (keys without the ``service-infra:`` prefix).

    `secrets` maps each name under ``service-infra:secrets`` to whether it is stored encrypted.
    Raises SettingsError listing every problem found.
    """
    problems = _secret_problems(secrets)
    raw_env = config.get("environment")
    try:
        environment = Environment(raw_env)
    except ValueError:
        problems.append(
            f"{PROJECT}:environment: must be one of local, staging, prod, got {raw_env!r}"
            if raw_env is not None
            else f"{PROJECT}:environment: is required (local, staging or prod)"
        )
        raise SettingsError(problems) from None
    data = {**config, "secrets": tuple(secrets)}
    try:
        settings = Settings.model_validate(data, context=ParseContext(environment, secrets))
    except ValidationError as error:
        raise SettingsError(problems + _problems_from(error)) from None
    problems += _cross_checks(settings)
    if problems:
        raise SettingsError(problems)
    return settings


# --- where the config comes from ------------------------------------------------------------


def _decode(value: Any) -> Any:
    """The engine hands structured config to the program as JSON text."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _secure_leaves(value: Any, path: str) -> list[str]:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return [path]
        return [leaf for k, v in value.items() for leaf in _secure_leaves(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _secure_leaves(v, f"{path}[{i}]")]
    return []


def split_config(config: Mapping[str, Any], secret_keys: set[str]) -> tuple[dict[str, Any], dict[str, bool], list[str]]:
    """Split the project's raw config into settings data and the secret index.

    `config` holds full keys (``service-infra:services``); `secret_keys` the top-level keys
    that hold a secure value. Returns (settings data, secret index, problems).
    """
    data: dict[str, Any] = {}
    secrets: dict[str, bool] = {}
    problems: list[str] = []
    prefix = f"{PROJECT}:"
    for full_key, raw in config.items():
        if not full_key.startswith(prefix):
            continue  # provider config (github:token, docker:host, ...) is not ours to check
        key = full_key[len(prefix) :]
        value = _decode(raw)
        if key == "secrets":
            if not isinstance(value, dict):
                problems.append(f"{full_key}: must be a map of NAME: <secure value>")
                continue
            for name, secret in value.items():
                stored_secure = (isinstance(secret, dict) and set(secret) == {"secure"}) or (
                    full_key in secret_keys and not isinstance(secret, dict)
                )
                secrets[str(name)] = stored_secure
            continue
        leaves = _secure_leaves(value, full_key)
        if leaves or full_key in secret_keys:
            for leaf in leaves or [full_key]:
                problems.append(
                    f"{leaf}: secret values belong under {PROJECT}:secrets.<NAME> and are referenced by name here"
                )
            continue
        data[key] = value
    return data, secrets, problems


def load_settings(config: Mapping[str, Any], secret_keys: set[str]) -> Settings:
    data, secrets, problems = split_config(config, secret_keys)
    try:
        settings = parse_settings(data, secrets)
    except SettingsError as error:
        raise SettingsError(problems + error.problems) from None
    if problems:
        raise SettingsError(problems)
    return settings


def load_stack_file(path: Path) -> Settings:
    """Check a Pulumi.<stack>.yaml offline: no CLI, no passphrase (secure values are checked for presence)."""
    import yaml

    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise SettingsError([f"{path}: cannot read the stack file: {error}"]) from None
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise SettingsError([f"{path}: `config` must be a map"])
    return load_settings(config, secret_keys=set())


def load_runtime_settings() -> Settings:
    """Read the running stack's config from the Pulumi engine."""
    from pulumi.runtime import config as runtime_config

    config = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = {key for key in config if runtime_config.is_config_secret(key)}
    secret_keys |= set(runtime_config.get_config_secret_keys_env())
    return load_settings(config, secret_keys)


def read_secrets(names: set[str]) -> dict[str, Any]:
    """The named secret values as Pulumi secret outputs (decrypted by the engine, never logged)."""
    import pulumi

    if not names:
        return {}
    values = pulumi.Config(PROJECT).require_secret_object("secrets")
    return {name: values.apply(lambda all_values, name=name: str(all_values[name])) for name in sorted(names)}
