"""The names and values the program and the policy pack share, stated once.

The policy pack imports this module to recognise what the program declares (its component
types, its labels, its container rules), so a rename here reaches both. Standard library only.
"""

from __future__ import annotations

import ipaddress
import re

PROJECT = "service-infra"
# How a secret value travels in Pulumi's resource protocol (the pack and the mocks see this).
SECRET_SIGNATURE_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"  # {SECRET_SIGNATURE_KEY: SECRET_SIGNATURE, "value": ...}

# Component type tokens: `service-infra:<module>:<Name>`. Deployed stacks hold these in their
# URNs, so they never change (a test guards them).
SERVICE_ENVIRONMENT_TYPE = f"{PROJECT}:environment:ServiceEnvironment"
DOCKER_HOST_TYPE = f"{PROJECT}:docker_host:DockerHost"
DOCKER_SERVICE_TYPE = f"{PROJECT}:docker_service:DockerService"
FLY_APP_TYPE = f"{PROJECT}:fly_app:FlyApp"
GITHUB_REPOSITORY_TYPE = f"{PROJECT}:github_repository:GithubRepository"
GITHUB_ENVIRONMENT_TYPE = f"{PROJECT}:github_environment:GithubEnvironment"
HEALTH_GATE_TYPE = f"{PROJECT}:health_gate:HealthGate"
COMPONENT_TYPES = (
    SERVICE_ENVIRONMENT_TYPE,
    DOCKER_HOST_TYPE,
    DOCKER_SERVICE_TYPE,
    FLY_APP_TYPE,
    GITHUB_REPOSITORY_TYPE,
    GITHUB_ENVIRONMENT_TYPE,
    HEALTH_GATE_TYPE,
)

# A Docker host's provider is named `<host><suffix>`: recover finds a resource's host by it.
DOCKER_PROVIDER_SUFFIX = "-engine"

# Fly app children, named `<FlyApp name><suffix>` (the FlyApp is named after its Fly app): the pack finds the app, its volumes and its release by these.
FLY_APP_SUFFIX = "-app"
FLY_VOLUME_SUFFIX = "-volume-"
FLY_RELEASE_SUFFIX = "-release"


def host_name_prefix(service: str, environment: str) -> str:
    """What a service's network, proxy, volumes and containers are named after on its host."""
    return f"{service}-{environment}"


# Labels on every container, network and volume the program makes on a Docker host.
LABEL_PREFIX = f"{PROJECT}."
LABEL_ENVIRONMENT = f"{LABEL_PREFIX}environment"
LABEL_SERVICE = f"{LABEL_PREFIX}service"
LABEL_ROLE = f"{LABEL_PREFIX}role"
LABEL_IMAGE_TAG = f"{LABEL_PREFIX}image-tag"
LABEL_VERSION = f"{LABEL_PREFIX}version"
# The registry digest the container's image was pulled by (sha256:...), when it came from one.
LABEL_IMAGE_DIGEST = f"{LABEL_PREFIX}image-digest"
ROLE_PROXY = "proxy"
# A pull request's preview (`pr-<n>`) and its time to live: on everything a preview makes.
LABEL_PREVIEW = f"{LABEL_PREFIX}preview"
LABEL_PREVIEW_TTL_HOURS = f"{LABEL_PREFIX}ttl-hours"
# The keys above are the program's; a stack's own `labels` may not set them.
PROGRAM_LABELS = frozenset(
    [
        LABEL_ENVIRONMENT,
        LABEL_SERVICE,
        LABEL_ROLE,
        LABEL_IMAGE_TAG,
        LABEL_VERSION,
        LABEL_IMAGE_DIGEST,
        LABEL_PREVIEW,
        LABEL_PREVIEW_TTL_HOURS,
    ]
)
# A pull request's preview stack is named pr-<pull request number> (the template's is `preview`).
PREVIEW_STACK = re.compile(r"^pr-([1-9][0-9]{0,8})$")
# What a preview's Fly app runs on: Fly's smallest machine.
PREVIEW_VM_SIZE = "shared-cpu-1x"
PREVIEW_MEMORY_MB = 256


def pull_request_of(stack: str | None) -> int | None:
    """42 for the stack `pr-42` (or `org/project/pr-42`); None for any other name."""
    match = PREVIEW_STACK.match((stack or "").rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


# An image pinned by its registry digest: what a release runs and a rollback returns to.
IMAGE_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# The stack secret that keys the hash of secret values in a version's name (a plain hash of a
# secret in a resource name would let anyone with the state test guesses against it).
VERSION_KEY_SECRET = "VERSION_KEY"
# The stack output that carries each Docker service's last releases (tag and digest) from one
# update to the next, newest first, and how many it keeps.
RELEASES_OUTPUT = "releases"
RELEASES_KEPT = 10

# Every container: restarted after a crash or a reboot, logs capped at 10m x 3.
RESTART_POLICY = "unless-stopped"
LOG_DRIVER = "json-file"
LOG_OPTIONS = {"max-size": "10m", "max-file": "3"}
# Containers never run as root; this is the default user the program gives them.
DEFAULT_CONTAINER_USER = "10001:10001"
# Docker reads the user part of `--user` as a uid when Go's strconv.Atoi accepts it (an optional
# sign, then digits: "00", "+0" and "-0" are uid 0), else as a name looked up in the image.
_NUMERIC_USER = re.compile(r"^[+-]?[0-9]+$")


def root_user_problem(user: str) -> str | None:
    """Why `user` (Docker's user[:group]) would run as root or not run at all; None when it is
    fine. Group 0 is root enough: it owns what root's group owns (sockets, keys, /etc files)."""
    name, _, group = user.partition(":")
    if name == "":
        return f"got {user!r} with no user, which Docker runs as the image's user (often root)"
    if name == "root":
        return f"got {user!r}"
    if _NUMERIC_USER.match(name):
        uid = int(name)
        if uid == 0:
            return f"got {user!r}, which Docker reads as uid 0 (root)"
        if uid < 0:
            return f"got {user!r}, a negative uid"
    if group == "root" or (_NUMERIC_USER.match(group) and int(group) == 0):
        return f"got {user!r}, whose group Docker reads as gid 0 (root's group)"
    return None


def every_interface(address: str) -> bool:
    """Whether a published port's host address is every interface of the host, in any spelling:
    0.0.0.0, ::, [::], ::ffff:0.0.0.0, 0 (what inet_aton reads as 0.0.0.0)."""
    bare = address.strip().strip("[]")
    try:
        parsed = ipaddress.ip_address(int(bare) if bare.isdigit() else bare)
    except ValueError:
        return False  # not an address: Docker refuses it, nothing is published
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return parsed.is_unspecified


# Fly.io regions, from `fly platform regions`. The settings check against these tables and the Fly
# stand-in serves them; the stand-in runs on a bare python3, so they live here, not in settings.
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
# Fly's CPU VM sizes and their CPU count, as superfly/fly-go v0.9.5 MachinePresets (the one flyctl
# v0.4.87 builds with) names them; memory per CPU and its step follow the kind (FLY_MEMORY_RULES).
FLY_VM_CPUS = {
    **{f"shared-cpu-{n}x": n for n in (1, 2, 4, 6, 8)},
    **{f"performance-{n}x": n for n in (1, 2, 4, 6, 8, 10, 12, 14, 16)},
}
FLY_VM_SIZES = frozenset(FLY_VM_CPUS)
# kind -> (step, min per CPU, max per CPU) in MB: fly-go MIN/MAX_MEMORY_MB_PER_(SHARED_)CPU and
# flyctl internal/machine/update.go's step check (shared: 256, performance: 1024).
FLY_MEMORY_RULES = {"shared": (256, 256, 2048), "performance": (1024, 2048, 8192)}
# The GitHub deployment environment that gates prod; in prod it must exist, protected.
PRODUCTION_ENVIRONMENT = "production"
# A branch pattern of wildcards only lets every branch deploy (GitHub matches with fnmatch).
_MATCHES_EVERY_BRANCH = re.compile(r"^[*?/]+$")


def matches_every_branch(pattern: str) -> bool:
    """Whether a deployment branch pattern is made of wildcards only (`*`, `**`, `**/*`, ...)."""
    return bool(_MATCHES_EVERY_BRANCH.match(pattern))
