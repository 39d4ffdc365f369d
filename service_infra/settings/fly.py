"""A service as a Fly.io app: its VM, region, volumes and secrets."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator, model_validator

from service_infra.contract import FLY_MEMORY_RULES, FLY_REGIONS, FLY_VM_CPUS, FLY_VM_SIZES
from service_infra.settings.base import (
    FLY_APP_NAME,
    FLY_VOLUME_NAME,
    Model,
    Port,
    SecretRef,
    Tier,
    check_secret_reference,
    parse_context,
)


class FlyVolume(Model):
    """A volume of the Fly app: adopted by name if it exists, never duplicated."""

    name: str
    """Volume name: lowercase letters, digits and `_`, at most 30; unique within the app."""
    size_gb: int = Field(ge=1, le=500)
    """Size in GB."""
    mount: str
    """Absolute path it is mounted at, e.g. `/data`."""

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
    """Fly app name: lowercase letters, digits and `-`, 2 to 63 long, one service per app. Adopted if
    it already exists and is ours."""
    org: str = "personal"
    """Fly organization the app is created in."""
    region: str
    """The app's Fly region (`iad`, `fra`, …: `FLY_REGIONS` in `service_infra/contract.py`)."""
    vm_size: str = "shared-cpu-1x"
    """Fly VM size (`FLY_VM_SIZES` in `service_infra/contract.py`)."""
    memory_mb: int = Field(default=512, ge=256, le=131072)
    """Memory of each machine, in MB: shared CPUs take 256 MB steps, 256 to 2048 MB per CPU;
    performance CPUs 1024 MB steps, 2048 to 8192 MB per CPU (as Fly sizes machines)."""
    internal_port: Port = 8080
    """Port the service listens on inside its machine."""
    volumes: tuple[FlyVolume, ...] = ()
    """The app's volume: at most one, as a Fly Machine mounts one volume. It is created for the
    app's VM size and memory. Its name, mount and size are fixed once deployed: see
    docs/operations.md (Fly volumes) for how to change them."""
    secrets: tuple[SecretRef, ...] = ()
    """Secrets (names under `secrets`) staged into the app with `fly secrets import --stage`, on
    stdin, never in argv."""
    api_token_secret: SecretRef = Field(default="FLY_API_TOKEN", validate_default=True)
    """The secret holding the token flyctl uses."""
    private_image: bool = False
    """The image is private (Fly's builders cannot pull it): pulled where `pulumi up` runs, with
    the `registry` credentials, and pushed to Fly's registry by `fly deploy --local-only`. Needs
    a Docker engine there, and the image on `registry.server`."""
    protect: bool | None = None
    """Protect the app and its volumes from deletion; unset: true in prod, false elsewhere."""
    health_url: str | None = None
    """What the health gate probes; unset: `https://<app>.fly.dev<health_path>`."""

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
            check_secret_reference(name, info)
        return names

    _token = field_validator("api_token_secret")(check_secret_reference)

    @field_validator("volumes")
    @classmethod
    def _unique_volumes(cls, volumes: tuple[FlyVolume, ...]) -> tuple[FlyVolume, ...]:
        names = [volume.name for volume in volumes]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"volume names must be unique, {', '.join(duplicated)} repeated")
        if len(volumes) > 1:
            raise ValueError(
                f"a Fly Machine mounts one volume (flyctl: fly.toml only supports one mount per machine), got "
                f"{len(volumes)}; keep one and remove the others"
            )
        return volumes

    @model_validator(mode="after")
    def _memory_fits_vm(self) -> FlyTarget:
        if self.vm_size not in FLY_VM_CPUS:
            return self  # the vm_size check names it
        cpus, kind = FLY_VM_CPUS[self.vm_size], self.vm_size.split("-")[0]
        step, low, high = FLY_MEMORY_RULES[kind]
        if self.memory_mb % step or not low * cpus <= self.memory_mb <= high * cpus:
            raise ValueError(
                f"memory_mb: {self.vm_size} takes {low * cpus} to {high * cpus} MB in steps of {step}, got "
                f"{self.memory_mb}; change memory_mb or vm_size"
            )
        return self

    @model_validator(mode="after")
    def _default_protect(self, info: ValidationInfo) -> FlyTarget:
        if self.protect is None:
            object.__setattr__(self, "protect", parse_context(info).tier is Tier.PROD)
        return self


# What flyctl v0.4.87 writes into every machine's environment (internal/appconfig/machines.go:
# FLY_PROCESS_GROUP, PRIMARY_REGION from primary_region, RELEASE_COMMAND and FLY_TEST_* on release
# and test machines; internal/command/deploy/machines_launchinput.go: FLY_STANDBY_FOR), and the
# FLY_ prefix Fly's init uses for its own (FLY_APP_NAME, FLY_REGION, FLY_MACHINE_ID, ...).
FLY_SET_NAMES = frozenset({"PRIMARY_REGION", "RELEASE_COMMAND"})


def fly_sets(name: str) -> bool:
    """Whether Fly overwrites the environment variable NAME on a machine, whatever fly.toml says."""
    return name in FLY_SET_NAMES or name.startswith("FLY_")
