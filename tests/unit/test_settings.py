"""The settings rules: committed stack files pass; each bad config gets its exact error line."""

from __future__ import annotations

import base64
import copy
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from service_infra.settings import SettingsError, Tier, load_settings, load_stack_file
from service_infra.stack_secrets import EXAMPLE_PASSPHRASE, encryption_salt, stack_key
from tests.support import ROOT
from tests.support.mocks import load_stack_config

Config = dict[str, Any]
P = "service-infra:"


def services(config: Config) -> Config:
    return config[f"{P}services"]


def llm(config: Config) -> Config:
    return services(config)["llm-server"]


def fly(config: Config) -> Config:
    return services(config)["image-descriptor"]["fly"]


def production(config: Config) -> Config:
    return config[f"{P}github"]["environments"]["production"]


@pytest.mark.parametrize("stack", ["local", "staging", "prod"])
def test_committed_stack_files_are_valid(stack: str) -> None:
    settings = load_stack_file(ROOT / f"Pulumi.{stack}.yaml")
    assert settings.environment is Tier(stack)


def test_csv_origins_become_a_list() -> None:
    settings = load_stack_file(ROOT / "Pulumi.prod.yaml")
    assert settings.services["llm-server"].allowed_origins == ("https://app.acme.example", "https://www.acme.example")


def test_prod_fly_volumes_are_protected_by_default() -> None:
    prod = load_stack_file(ROOT / "Pulumi.prod.yaml").services["image-descriptor"].fly
    staging = load_stack_file(ROOT / "Pulumi.staging.yaml").services["image-descriptor"].fly
    assert prod is not None and prod.protect is True
    assert staging is not None and staging.protect is False


def set_(path: Callable[[Config], Config], key: str, value: Any) -> Callable[[Config], None]:
    return lambda config: path(config).__setitem__(key, value)


def delete(path: Callable[[Config], Config], key: str) -> Callable[[Config], None]:
    return lambda config: path(config).__delitem__(key)


def plaintext_secret(config: Config) -> None:
    config[f"{P}secrets"]["API_KEY"] = "hunter2"


def secure_value_outside_secrets(config: Config) -> None:
    llm(config)["env"]["API_KEY"] = {"secure": "v1:abc"}


def port_clash(config: Config) -> None:
    clone = copy.deepcopy(llm(config))
    clone["docker"]["volumes"] = {}
    services(config)["llm-worker"] = clone


def private_image_elsewhere(config: Config) -> None:
    fly(config)["private_image"] = True
    config[f"{P}registry"]["server"] = "registry.example"


def seven_reviewers(config: Config) -> None:
    production(config)["reviewers"] = {"users": [f"user{i}" for i in range(5)], "teams": ["a", "b"]}


def not_a_url_path(path: str) -> str:
    return (
        f"{P}services.llm-server.health_path: must be a URL path: letters, digits, - . _ ~ ! $ & ( ) + , = : @ / and "
        f"%XX escapes, no spaces, quotes, ';', query or glob characters; got {path!r}"
    )


BAD_PROD_CONFIGS: list[tuple[str, Callable[[Config], None], str]] = [
    ("typo in a key", set_(lambda c: llm(c)["docker"], "prot", 1),
     f"{P}services.llm-server.docker.prot: unknown key; did you mean `port`?"),
    ("unknown top-level key", lambda c: c.__setitem__(f"{P}servics", {}),
     f"{P}servics: unknown key; did you mean `services`?"),
    ("environment", lambda c: c.__setitem__(f"{P}environment", "production"),
     f"{P}environment: must be one of local, staging, prod, got 'production'"),
    ("latest in prod", set_(llm, "tag", "latest"),
     f"{P}services.llm-server.tag: an immutable tag is required in prod (e.g. sha-1a2b3c4), got 'latest'"),
    ("no tag in prod", delete(llm, "tag"),
     f"{P}services.llm-server.tag: an immutable tag is required in prod (e.g. sha-1a2b3c4), got 'none'"),
    ("prod tag not sha", set_(llm, "tag", "v1.2.3"),
     f"{P}services.llm-server.tag: prod images are pinned by sha-<7 to 40 hex digits>, got 'v1.2.3'"),
    ("tag inside image", set_(llm, "image", "ghcr.io/acme/x:sha-3f9c2a1"),
     f"{P}services.llm-server.image: give the repository without a tag (set the tag in `tag`), got 'ghcr.io/acme/x:sha-3f9c2a1'"),
    ("port out of range", set_(lambda c: llm(c)["docker"], "port", 70000),
     f"{P}services.llm-server.docker.port: input should be less than or equal to 65535, got 70000"),
    ("port clash", port_clash,
     f"{P}services.llm-worker.docker.port: host port 8000 on mac-mini is already used by service llm-server; pick another"),
    ("bad origin", set_(llm, "allowed_origins", "https://ok.example,ftp://files.example"),
     f"{P}services.llm-server.allowed_origins: 'ftp://files.example' is not an origin like https://app.example.com"),
    ("origin with path", set_(llm, "allowed_origins", "https://app.example/path"),
     f"{P}services.llm-server.allowed_origins: 'https://app.example/path' is not an origin like https://app.example.com"),
    ("health path with a space", set_(llm, "health_path", "/health check"),
     not_a_url_path("/health check")),
    ("health path with a command", set_(llm, "health_path", "/health;id"),
     not_a_url_path("/health;id")),
    ("health path with a glob", set_(llm, "health_path", "/health[1-9]"),
     not_a_url_path("/health[1-9]")),
    ("root container", set_(lambda c: llm(c)["docker"], "user", "root"),
     f"{P}services.llm-server.docker.user: containers run as a non-root user; got 'root', use e.g. '10001:10001'"),
    ("hot reload in prod", set_(lambda c: llm(c)["docker"], "hot_reload", {"source": "examples/service"}),
     f"{P}services.llm-server.docker.hot_reload: hot reload is for the local stack only; remove it"),
    ("unknown docker host", set_(lambda c: llm(c)["docker"], "host", "mac-maxi"),
     f"{P}services.llm-server.docker.host: unknown Docker host 'mac-maxi' (docker_hosts: mac-mini)"),
    ("unpinned ssh host", delete(lambda c: c[f"{P}docker_hosts"]["mac-mini"], "host_key"),
     f"{P}docker_hosts.mac-mini.host_key: an ssh:// host needs its host key pinned (no trust on first use): "
     "set it to the output of `ssh-keyscan -t ed25519 <host>` without the host name"),
    ("bad host key", set_(lambda c: c[f"{P}docker_hosts"]["mac-mini"], "host_key", "AAAA"),
     f"{P}docker_hosts.mac-mini.host_key: must be one public key line such as 'ssh-ed25519 AAAA...' "
     "(take it from `ssh-keyscan -t ed25519 <host>`)"),
    ("bad docker url", set_(lambda c: c[f"{P}docker_hosts"]["mac-mini"], "url", "tcp://mini:2375"),
     f"{P}docker_hosts.mac-mini.url: must be unix:///path/to/docker.sock or ssh://user@host[:port], got 'tcp://mini:2375'"),
    ("missing secret", lambda c: c[f"{P}secrets"].pop("SUPABASE_URL"),
     f"{P}services.image-descriptor.fly.secrets: secret SUPABASE_URL is not set: run "
     "`pulumi config set --secret --path 'secrets.SUPABASE_URL' <value>`"),
    ("plaintext secret", plaintext_secret,
     f"{P}secrets.API_KEY: is stored in plaintext; set it with `pulumi config set --secret --path 'secrets.API_KEY' <value>`"),
    ("secure value outside secrets", secure_value_outside_secrets,
     f"{P}services.llm-server.env.API_KEY: secret values belong under service-infra:secrets.<NAME> and are referenced by name here"),
    ("fly region", set_(fly, "region", "xyz"),
     f"{P}services.image-descriptor.fly.region: unknown Fly region 'xyz'; one of: ams, arn, atl, bog, bom, bos, cdg, den, "
     "dfw, ewr, eze, fra, gdl, gig, gru, hkg, iad, jnb, lax, lhr, mad, mia, nrt, ord, otp, phx, qro, scl, sea, sin, sjc, syd, waw, yul, yyz"),
    ("fly app name", set_(fly, "app", "Image_Descriptor"),
     f"{P}services.image-descriptor.fly.app: Fly app names use lowercase letters, digits and '-' (2-63), got 'Image_Descriptor'"),
    ("fly volume name", lambda c: fly(c)["volumes"][0].__setitem__("name", "cache-data"),
     f"{P}services.image-descriptor.fly.volumes.0.name: Fly volume names use lowercase letters, digits and '_' (at most 30), got 'cache-data'"),
    ("fly volume size", lambda c: fly(c)["volumes"][0].__setitem__("size_gb", 0),
     f"{P}services.image-descriptor.fly.volumes.0.size_gb: input should be greater than or equal to 1, got 0"),
    ("two fly volumes", lambda c: fly(c)["volumes"].append({"name": "logs", "size_gb": 1, "mount": "/logs"}),
     f"{P}services.image-descriptor.fly.volumes: a Fly Machine mounts one volume (flyctl: fly.toml only supports "
     "one mount per machine), got 2; keep one and remove the others"),
    ("shared memory step", set_(fly, "memory_mb", 300),
     f"{P}services.image-descriptor.fly.memory_mb: shared-cpu-1x takes 256 to 2048 MB in steps of 256, got 300; "
     "change memory_mb or vm_size"),
    ("shared memory above the per-CPU cap", set_(fly, "memory_mb", 4096),
     f"{P}services.image-descriptor.fly.memory_mb: shared-cpu-1x takes 256 to 2048 MB in steps of 256, got 4096; "
     "change memory_mb or vm_size"),
    ("performance memory below its floor", lambda c: fly(c).update(vm_size="performance-2x", memory_mb=2048),
     f"{P}services.image-descriptor.fly.memory_mb: performance-2x takes 4096 to 16384 MB in steps of 1024, got 2048; "
     "change memory_mb or vm_size"),
    ("performance memory step", lambda c: fly(c).update(vm_size="performance-1x", memory_mb=2560),
     f"{P}services.image-descriptor.fly.memory_mb: performance-1x takes 2048 to 8192 MB in steps of 1024, got 2560; "
     "change memory_mb or vm_size"),
    ("env name with a dot", lambda c: services(c)["image-descriptor"].setdefault("env", {}).__setitem__("a.b", "x"),
     f"{P}services.image-descriptor.env: 'a.b' is not an environment variable name: use letters, digits and '_', "
     "not starting with a digit"),
    ("env name starting with a digit", lambda c: llm(c).setdefault("env", {}).__setitem__("1X", "x"),
     f"{P}services.llm-server.env: '1X' is not an environment variable name: use letters, digits and '_', "
     "not starting with a digit"),
    ("origins_env injecting a table", set_(llm, "origins_env", 'X = "1"\n[deploy]\nrelease_command = "sh"\n#'),
     f"{P}services.llm-server.origins_env: 'X = \"1\"\\n[deploy]\\nrelease_command = \"sh\"\\n#' is not an "
     "environment variable name: use letters, digits and '_', not starting with a digit"),
    ("private image on another registry", private_image_elsewhere,
     f"{P}services.image-descriptor.fly.private_image: ghcr.io/acme/image-descriptor is not on registry "
     "registry.example, whose credentials pull it; change registry.server or the image"),
    ("no reviewers in production", delete(production, "reviewers"),
     f"{P}github.environments.production.reviewers: production needs 1 to 6 reviewers (users or teams)"),
    ("seven reviewers", seven_reviewers,
     f"{P}github.environments.production.reviewers: GitHub allows at most 6 reviewers, got 7"),
    ("no branch policy", delete(production, "branches"),
     f"{P}github.environments.production.branches: set the branches allowed to deploy "
     "(e.g. [main] for production, [staging] for staging)"),
    ("environment name with slash", lambda c: c[f"{P}github"]["environments"].__setitem__("prod/eu", {"branches": ["main"]}),
     f"{P}github.environments: environment name 'prod/eu' may hold letters, digits, '_', '.', '-' only"),
    ("no proxy", lambda c: c.pop(f"{P}proxy"),
     f"{P}proxy: is required in front of Docker services (it owns their ports during rollouts); set proxy.image "
     "and proxy.tag to an nginx image with curl, e.g. one built from examples/proxy"),
    ("proxy latest", set_(lambda c: c[f"{P}proxy"], "tag", "latest"),
     f"{P}proxy.tag: pin the proxy image by a version tag (e.g. nginx-1.22.1-1), not latest"),
    ("proxy image with tag", set_(lambda c: c[f"{P}proxy"], "image", "nginx:1.27"),
     f"{P}proxy.image: give the repository without a tag (set the tag in `tag`), got 'nginx:1.27'"),
    ("ready timeout too short", set_(lambda c: llm(c)["docker"], "ready_timeout_seconds", 1),
     f"{P}services.llm-server.docker.ready_timeout_seconds: input should be greater than or equal to 10, got 1"),
    ("both targets", set_(lambda c: services(c)["image-descriptor"], "docker", {"host": "mac-mini", "port": 9000, "bind": "127.0.0.1"}),
     f"{P}services.image-descriptor: set exactly one of `docker` (a Docker host) or `fly` (a Fly.io app)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "expected"), [(c, e) for _, c, e in BAD_PROD_CONFIGS], ids=[i for i, _, _ in BAD_PROD_CONFIGS]
)
def test_bad_config_gets_its_error_line(change: Callable[[Config], None], expected: str) -> None:
    config = load_stack_config("prod")
    change(config)
    with pytest.raises(SettingsError) as raised:
        load_settings(config, secret_keys=set())
    assert raised.value.problems == [expected]


@pytest.mark.parametrize(
    ("vm_size", "memory_mb"),
    [("shared-cpu-1x", 256), ("shared-cpu-1x", 2048), ("shared-cpu-4x", 1024), ("shared-cpu-8x", 16384),
     ("performance-1x", 2048), ("performance-1x", 8192), ("performance-16x", 131072)],
)  # fmt: skip
def test_memory_within_the_vm_size_rules_is_accepted(vm_size: str, memory_mb: int) -> None:
    config = load_stack_config("prod")
    fly(config).update(vm_size=vm_size, memory_mb=memory_mb)
    target = load_settings(config, secret_keys=set()).services["image-descriptor"].fly
    assert target is not None and (target.vm_size, target.memory_mb) == (vm_size, memory_mb)


def test_a_private_fly_image_needs_the_registry_it_is_pulled_from() -> None:
    config = load_stack_config("prod")
    fly(config)["private_image"] = True
    target = load_settings(config, secret_keys=set()).services["image-descriptor"].fly
    assert target is not None and target.private_image
    staging = load_stack_config("staging")
    fly(staging)["private_image"] = True
    staging.pop(f"{P}registry", None)
    services(staging).pop("llm-server")  # a Fly-only stack needs no registry, unless its image is private
    with pytest.raises(SettingsError) as raised:
        load_settings(staging, secret_keys=set())
    assert raised.value.problems == [
        f"{P}services.image-descriptor.fly.private_image: pulling ghcr.io/acme/image-descriptor:sha-5e0a7c9 here "
        "needs its credentials: set registry (server, username, password_secret)"
    ]


def test_latest_is_refused_in_staging_but_allowed_locally() -> None:
    staging = load_stack_config("staging")
    llm(staging)["tag"] = "latest"
    with pytest.raises(SettingsError) as raised:
        load_settings(staging, secret_keys=set())
    assert raised.value.problems == [
        f"{P}services.llm-server.tag: an immutable tag is required in staging (e.g. sha-1a2b3c4), got 'latest'"
    ]
    local = load_stack_config("local")
    llm(local)["tag"] = "latest"
    load_settings(local, secret_keys=set())


def test_every_problem_is_reported_at_once() -> None:
    config = load_stack_config("prod")
    llm(config)["tag"] = "latest"
    fly(config)["region"] = "mars"
    plaintext_secret(config)
    with pytest.raises(SettingsError) as raised:
        load_settings(config, secret_keys=set())
    assert len(raised.value.problems) == 3
    assert str(raised.value).startswith("invalid stack configuration (3 problems); nothing was changed:\n")


def test_a_secret_key_read_from_the_engine_counts_as_encrypted() -> None:
    config = load_stack_config("prod")
    config[f"{P}secrets"] = {name: "decrypted" for name in config[f"{P}secrets"]}
    load_settings(config, secret_keys={f"{P}secrets"})


def run_check(*files: Path, passphrase: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_CONFIG_PASSPHRASE")}
    if passphrase is not None:
        env["PULUMI_CONFIG_PASSPHRASE"] = passphrase
    return subprocess.run(
        [sys.executable, "-m", "service_infra", "check", *map(str, files)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _encrypted(stack_file: Path, value: str) -> str:
    """`value` as Pulumi's passphrase secrets manager stores it in this stack file (example passphrase)."""
    salt = encryption_salt(stack_file)
    key = stack_key(EXAMPLE_PASSPHRASE, salt) if salt else None
    assert key is not None
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, value.encode(), None)
    return f"v1:{base64.b64encode(nonce).decode()}:{base64.b64encode(sealed).decode()}"


def test_offline_check_passes_committed_stack_files() -> None:
    done = run_check(*sorted(path.relative_to(ROOT) for path in ROOT.glob("Pulumi.*.yaml")))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "Pulumi.local.yaml: ok",
        "Pulumi.preview.yaml: ok",
        "Pulumi.prod.yaml: ok",
        "Pulumi.staging.yaml: ok",
    ]


def test_offline_check_with_the_passphrase_checks_the_committed_secret_values_too() -> None:
    done = run_check(Path("Pulumi.staging.yaml"), passphrase=EXAMPLE_PASSPHRASE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["Pulumi.staging.yaml: ok"]
    assert "not checked" not in done.stderr

    without = run_check(Path("Pulumi.staging.yaml"))
    assert "Pulumi.staging.yaml: secret values not checked (set PULUMI_CONFIG_PASSPHRASE" in without.stderr


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("line one\r\nline two", "CRLF"),  # flyctl's parser drops the \r
        ("x" * 70_000, "65535"),  # flyctl's parser silently stops at a line that long
        ("before\0after", "NUL"),
    ],
    ids=["crlf", "long-line", "nul"],
)
def test_offline_check_with_the_passphrase_refuses_a_secret_value_its_service_would_not_get_intact(
    tmp_path: Path, value: str, why: str
) -> None:
    stack_file = tmp_path / "Pulumi.staging.yaml"
    document = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    document["config"][f"{P}secrets"]["API_KEY"] = {"secure": _encrypted(ROOT / "Pulumi.staging.yaml", value)}
    stack_file.write_text(yaml.safe_dump(document))

    done = run_check(stack_file, passphrase=EXAMPLE_PASSPHRASE)

    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines and all(line.startswith(f"{stack_file}: {P}secrets.API_KEY: ") for line in lines), lines
    assert any(f"{P}services.image-descriptor" in line for line in lines), lines
    assert why.lower() in done.stdout.lower()
    assert value not in done.stdout + done.stderr
    # Without the passphrase only presence is checked: the same file passes.
    assert run_check(stack_file).returncode == 0


def test_offline_check_prints_one_line_per_problem(tmp_path: Path) -> None:
    document = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    llm(document["config"])["tag"] = "latest"
    llm(document["config"])["docker"]["prot"] = 1
    bad = tmp_path / "Pulumi.prod.yaml"
    bad.write_text(yaml.safe_dump(document))
    done = run_check(bad)
    assert done.returncode == 2
    assert done.stdout.splitlines() == [
        f"{bad}: {P}services.llm-server.tag: an immutable tag is required in prod (e.g. sha-1a2b3c4), got 'latest'",
        f"{bad}: {P}services.llm-server.docker.prot: unknown key; did you mean `port`?",
    ]
