"""Docker hosts, the services' containers on them, the proxy in front, and registry credentials."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from service_infra.boundary import DRAIN_SECONDS, READY_TIMEOUT_SECONDS, START_PERIOD_SECONDS
from service_infra.contract import DEFAULT_CONTAINER_USER, every_interface, root_user_problem
from service_infra.settings.base import (
    HOST_KEY,
    IMAGE_TAG,
    Model,
    Port,
    SecretRef,
    Tier,
    check_image_repository,
    check_secret_reference,
    parse_context,
)


class RegistrySettings(Model):
    """Credentials the Docker hosts use to pull images (GHCR by default)."""

    server: str = "ghcr.io"
    """Registry host the images are pulled from."""
    username: str = Field(min_length=1)
    """User name the Docker hosts log in with."""
    password_secret: SecretRef
    """The secret (a name under `secrets`) holding the registry password or token."""

    _check = field_validator("password_secret")(check_secret_reference)


class DockerHostSettings(Model):
    """A Docker engine: the local one (``unix://``) or a remote one over SSH with a pinned host key."""

    url: str
    """The engine: `unix:///path/to/docker.sock` (this machine's) or `ssh://user@host[:port]`."""
    host_key: str | None = None
    """Required for `ssh://`: the host's public key, `ssh-ed25519 AAAA…` as `ssh-keyscan -t ed25519
    <host>` prints it, without the host name. Pinned: no trust on first use."""
    identity_file: str | None = None
    """Private key file for SSH; unset: the keys of ssh-agent."""
    public_host: str | None = None
    """Name clients use to reach the published ports; unset: the SSH host, or 127.0.0.1 for a
    local engine."""
    engine_id: str | None = None
    """The Docker engine's ID, as `python -m service_infra doctor` prints it (`docker info
    --format '{{.ID}}'`). Pinned: an update refuses any other engine, and no two stacks may name
    the same one (each environment has an engine of its own: docs/mac-mini.md)."""

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

    @field_validator("engine_id")
    @classmethod
    def _engine_id(cls, engine_id: str | None) -> str | None:
        if engine_id is not None and not re.fullmatch(r"[A-Za-z0-9:_-]{8,200}", engine_id):
            raise ValueError(
                f"must be the engine's ID as `python -m service_infra doctor` prints it, got {engine_id!r}"
            )
        return engine_id

    @model_validator(mode="after")
    def _ssh_needs_pinned_key(self) -> DockerHostSettings:
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
    def ssh_user(self) -> str:
        return urlsplit(self.url).username or ""

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
    """The service's source folder, relative to the project; bind-mounted read-only."""
    target: str = "/app"
    """Where the source is mounted in the container."""
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
    """The server command: one that reloads on edits."""


DEFAULT_BIND = "0.0.0.0"


class DockerTarget(Model):
    """Where and how a service runs as a container on a Docker host."""

    host: str
    """The Docker host: a key of `docker_hosts`."""
    port: Port
    """Host port the service is published on, by its proxy; unique per host."""
    bind: str | None = Field(default=None, validate_default=True)
    """The host address (an IP) the proxy publishes on. Prod must choose it (no default of every
    interface); unset elsewhere: 0.0.0.0."""
    container_port: Port = 8000
    """Port the service listens on inside its container."""
    user: str = DEFAULT_CONTAINER_USER
    """User (`uid:gid`) the container runs as; never root (nor a uid Docker reads as 0)."""
    volumes: dict[str, str] = Field(default_factory=dict)
    """Named volumes, each mounted at an absolute path (`<volume>: <path>`). Every version of
    the service shares them; they outlive every rollout."""
    command: tuple[str, ...] | None = None
    """The container's command; unset: the image's."""
    hot_reload: HotReload | None = None
    """Local stack only: the source bind-mounted, the server reloading on edits."""
    health_url: str | None = None
    """What the health gate probes; unset: `http://<public host>:<port><health_path>`."""
    retain_volumes: bool | None = None
    """Keep the volumes when the stack is destroyed; unset: true in prod, where a destroy must
    not lose data (and where `false` is refused), false elsewhere."""
    ready_timeout_seconds: int = Field(default=READY_TIMEOUT_SECONDS, ge=10, le=3600)
    """How long a new version may take to turn healthy; past it, the rollout stops and the
    running version keeps serving."""
    start_period_seconds: int = Field(default=START_PERIOD_SECONDS, ge=0, le=3600)
    """How long a new version may fail its health check while it starts without it counting;
    after that, 3 failed checks in a row (1 s apart) stop the rollout at once. Raise it for a
    server that takes long to load (a model, a cache); it cannot exceed `ready_timeout_seconds`."""
    drain_seconds: int = Field(default=DRAIN_SECONDS, ge=0, le=600)
    """How long a replaced version may finish its in-flight requests (after SIGTERM) before it
    is stopped."""

    @field_validator("bind")
    @classmethod
    def _bind(cls, bind: str | None, info: ValidationInfo) -> str | None:
        if bind is None:
            if parse_context(info).tier is Tier.PROD:
                raise ValueError(
                    "prod publishes only where you say: set it to the address clients use "
                    "(e.g. the Mac Mini's Tailscale or LAN address, or 127.0.0.1 behind a tunnel)"
                )
            return DEFAULT_BIND
        if every_interface(bind) and parse_context(info).tier is Tier.PROD:
            raise ValueError(
                f"{bind} publishes prod on every interface of the host; set the address clients use "
                "(e.g. the Mac Mini's Tailscale or LAN address, or 127.0.0.1 behind a tunnel)"
            )
        try:
            ipaddress.ip_address(bind)
        except ValueError:
            raise ValueError(f"must be an IP address such as 0.0.0.0 or 127.0.0.1, got {bind!r}") from None
        return bind

    @field_validator("user")
    @classmethod
    def _non_root(cls, user: str) -> str:
        problem = root_user_problem(user)
        if problem:
            raise ValueError(f"containers run as a non-root user; {problem}, use e.g. '{DEFAULT_CONTAINER_USER}'")
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
        prod = parse_context(info).tier is Tier.PROD
        if self.retain_volumes is False and prod:
            raise ValueError("retain_volumes: prod data outlives the stack; remove `retain_volumes: false`")
        if self.retain_volumes is None:
            object.__setattr__(self, "retain_volumes", prod)
        return self

    @model_validator(mode="after")
    def _start_within_ready(self) -> DockerTarget:
        if self.start_period_seconds > self.ready_timeout_seconds:
            raise ValueError(
                f"start_period_seconds ({self.start_period_seconds}) is longer than ready_timeout_seconds "
                f"({self.ready_timeout_seconds}): lower it, or raise ready_timeout_seconds"
            )
        return self

    @field_validator("hot_reload")
    @classmethod
    def _local_only(cls, hot_reload: HotReload | None, info: ValidationInfo) -> HotReload | None:
        if hot_reload is not None and parse_context(info).tier is not Tier.LOCAL:
            raise ValueError("hot reload is for the local stack only; remove it")
        return hot_reload


class ProxySettings(Model):
    """The reverse proxy that owns each Docker service's published port (nginx and curl inside)."""

    image: str
    """Repository of the proxy image, without tag: nginx with curl, e.g. built from
    `examples/proxy/Dockerfile`."""
    tag: str
    """The proxy image's tag: a version, not `latest` outside the local stack."""

    _check_image = field_validator("image")(check_image_repository)

    @field_validator("tag")
    @classmethod
    def _tag(cls, tag: str, info: ValidationInfo) -> str:
        if not IMAGE_TAG.match(tag):
            raise ValueError(f"is not a valid image tag: {tag!r}")
        if tag == "latest" and parse_context(info).tier is not Tier.LOCAL:
            raise ValueError("pin the proxy image by a version tag (e.g. nginx-1.22.1-1), not latest")
        return tag

    @property
    def image_ref(self) -> str:
        return f"{self.image}:{self.tag}"
