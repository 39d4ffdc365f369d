"""The stacks the integration tests and the rollout benchmark deploy, and how to find what they run."""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import yaml

from service_infra.contract import LABEL_ENVIRONMENT, LABEL_IMAGE_TAG, PROJECT
from tests.fakes.github_api import GithubApi
from tests.support import ROOT
from tests.support.harness import DockerEngine, ExampleImage, Registry, SshHost, free_port, wait_for, wait_http
from tests.support.leftovers import RUN_LABEL, THIS_RUN
from tests.support.pulumi_project import Project, Stack, kill_update

# The `fly` stand-in's folder: first on PATH, it is the flyctl the Fly services' commands run.
FLY_STANDIN = ROOT / "tests" / "fakes" / "fly"

# The repository and the people the GitHub API stand-in knows, as in the committed stack files.
GITHUB_OWNER, GITHUB_REPOSITORY = "acme", "local-llm-server"
GITHUB_USERS = {"alice-acme": 4101, "bob-acme": 4102, "carol-acme": 4103}
GITHUB_TEAMS = {"platform": 5101, "security": 5102}


@contextmanager
def github_stand_in() -> Iterator[GithubApi]:
    """The GitHub API stand-in, holding the repository and the people the committed stack files name."""
    with GithubApi(GITHUB_OWNER, GITHUB_REPOSITORY, users=GITHUB_USERS, teams=GITHUB_TEAMS) as api:
        yield api


def production_github(base_url: str) -> dict[str, Any]:
    """The least GitHub section a prod stack may have: the protected `production` environment."""
    return {
        "owner": GITHUB_OWNER,
        "repository": GITHUB_REPOSITORY,
        "base_url": base_url,
        "environments": {"production": {"reviewers": {"users": ["alice-acme"]}, "branches": ["main"]}},
    }


def committed_config(stack: str) -> tuple[dict[str, Any], list[str]]:
    """The committed stack file's config (keys without the project prefix) and its secret names."""
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    prefix = f"{PROJECT}:"
    config = {key[len(prefix) :]: value for key, value in document["config"].items() if key.startswith(prefix)}
    return config, sorted(config.pop("secrets"))


def committed_stack_on_harness(
    stack: str,
    api: GithubApi,
    ssh_host: SshHost,
    registry: Registry,
    example_image: ExampleImage,
    health_url: str,
) -> dict[str, Any]:
    """The committed stack file's config, its host-specific parts aimed at the harness: the SSH
    host, the registry and the example image, a fresh Fly app name, the GitHub API stand-in."""
    config, _ = committed_config(stack)
    config["registry"].update(server=registry.address, username=registry.username)
    config["proxy"] = example_image.proxy_config()
    config["docker_hosts"] = {
        "mac-mini": {
            "url": ssh_host.docker_url,
            "host_key": ssh_host.host_key_line,
            "identity_file": str(ssh_host.client_key_path),
        }
    }
    llm = config["services"]["llm-server"]
    llm.update(image=example_image.repository, tag=example_image.v1.tag)
    llm["docker"].update(port=free_port(), bind="127.0.0.1")
    fly = config["services"]["image-descriptor"]["fly"]
    fly.update(app=f"it-gh-{stack}-{uuid.uuid4().hex[:10]}", health_url=health_url)
    assert config["github"]["owner"] == GITHUB_OWNER and config["github"]["repository"] == GITHUB_REPOSITORY
    config["github"]["base_url"] = api.base_url
    return config


def secret_values(stack: str, api: GithubApi, registry: Registry) -> dict[str, str]:
    """A known value for every secret the committed stack file holds."""
    _, names = committed_config(stack)
    values = {name: f"it-{stack}-{name.lower().replace('_', '-')}-{uuid.uuid4().hex[:8]}" for name in names}
    values.update(GITHUB_TOKEN=api.token, GHCR_TOKEN=registry.password, SUPABASE_URL="https://it.supabase.example")
    return values


# The service's API key on the SSH host's staging stack.
API_KEY = "it-api-key-3b1f9c0e7d"
# The Fly service's secrets: the token flyctl reads and the app's own.
FLY_SECRETS = {
    "FLY_API_TOKEN": "it-fly-token-5f0d2a",
    "GOOGLE_AI_API_KEY": "it-google-key-8c1e77",
    "SUPABASE_URL": "https://it-project.supabase.example",
}


def ssh_stack_config(
    ssh_host: SshHost, registry: Registry, example_image: ExampleImage, tag: str, port: int
) -> dict[str, Any]:
    """A staging-like stack: the example service on the SSH host, pulling from the registry."""
    return {
        "environment": "staging",
        "registry": {"server": registry.address, "username": registry.username, "password_secret": "GHCR_TOKEN"},
        "proxy": example_image.proxy_config(),
        "docker_hosts": {
            "mini": {
                "url": ssh_host.docker_url,
                "host_key": ssh_host.host_key_line,
                "identity_file": str(ssh_host.client_key_path),
            }
        },
        "services": {
            "llm-server": {
                "image": example_image.repository,
                "tag": tag,
                "env": {"APP_ENV": "staging"},
                "secret_env": ["API_KEY"],
                "allowed_origins": "https://staging.acme.example",
                "docker": {"host": "mini", "port": port, "bind": "127.0.0.1", "volumes": {"cache": "/data"}},
            }
        },
    }


def fly_config(app: str, health_url: str) -> dict[str, Any]:
    """A staging stack with one Fly service (through the `fly` stand-in), its volume and secrets."""
    return {
        "environment": "staging",
        "services": {
            "image-descriptor": {
                "image": "ghcr.io/acme/image-descriptor",
                "tag": "sha-5e0a7c9",
                "health_path": "/api/health",
                "allowed_origins": "https://staging.acme.example",
                "origins_env": "CORS_ORIGINS",
                "fly": {
                    "app": app,
                    "org": "acme",
                    "region": "iad",
                    "volumes": [{"name": "cache_data", "size_gb": 1, "mount": "/data"}],
                    "secrets": ["GOOGLE_AI_API_KEY", "SUPABASE_URL"],
                    "health_url": health_url,
                },
            }
        },
    }


class Healthy(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def public_health_endpoint() -> Iterator[str]:
    """Stands in for https://<app>.fly.dev/api/health, which this machine cannot reach."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/health"
    finally:
        server.shutdown()


def app_containers(engine: DockerEngine, environment: str = "staging", *, all: bool = False) -> list[str]:
    """Names of the service's app containers (not the proxy) on the engine, running unless `all`."""
    args = ["ps", "--format", "{{.Names}}", "--filter", f"label={LABEL_ENVIRONMENT}={environment}"]
    args += ["--filter", f"label={LABEL_IMAGE_TAG}"] + (["-a"] if all else [])
    return sorted(engine.run(*args).stdout.split())


# The bucket docs/team.md names in its examples and in the CI identities' policies.
TEAM_DOC_BUCKET = "acme-service-infra-state"


def team_policies(bucket: str, stack: str) -> dict[str, dict[str, Any]]:
    """The policies exactly as docs/team.md gives them, for BUCKET instead: the state bucket's own
    (`bucket`) and the CI identities' IAM policies (`deploy`, with STACK for STACK, `preview`, and
    `previews`: the pull requests' preview environments)."""
    text = (ROOT / "docs" / "team.md").read_text()
    blocks = dict(re.findall(r"<!-- policy: (\w+) -->\n```json\n(.*?)```", text, re.S))
    if set(blocks) != {"bucket", "deploy", "preview", "previews"}:
        raise ValueError(
            f"docs/team.md: expected the policies bucket, deploy, preview and previews, found {sorted(blocks)}"
        )
    return {
        name: json.loads(block.replace(TEAM_DOC_BUCKET, bucket).replace("/STACK", f"/{stack}"))
        for name, block in blocks.items()
    }


def state_policies(bucket: str, stack: str) -> dict[str, dict[str, Any]]:
    """The CI identities' IAM policies of docs/team.md (`deploy`, `preview`): see team_policies."""
    policies = team_policies(bucket, stack)
    return {name: policies[name] for name in ("deploy", "preview")}


def health(port: int) -> dict[str, Any]:
    _, body = wait_http(f"http://127.0.0.1:{port}/health", timeout=30)
    return json.loads(body)


def deployed(project: Project, ssh_host: SshHost, registry: Registry, example_image: ExampleImage) -> tuple[Stack, int]:
    """The staging stack, up with v1, its tag already set to v2 for the next up."""
    port = free_port()
    stack = project.stack(
        "staging",
        ssh_stack_config(ssh_host, registry, example_image, example_image.v1.tag, port),
        secrets={"GHCR_TOKEN": registry.password, "API_KEY": API_KEY},
    )
    stack.up()
    assert health(port)["version"] == example_image.v1.app_version
    stack.set("services.llm-server.tag", example_image.v2.tag)
    return stack, port


def assert_converged(stack: Stack, engine: DockerEngine, port: int, version: str) -> None:
    """The configured version serves from exactly one app container, and a second up changes nothing."""
    assert health(port)["version"] == version
    assert len(app_containers(engine, all=True)) == 1, app_containers(engine, all=True)
    stack.preview(expect_no_changes=True)


@dataclass(frozen=True)
class TwoUpdates:
    first: subprocess.Popen[str]
    first_output: str
    second: subprocess.CompletedProcess[str]
    seconds: float  # from the second's start to its end


def two_updates_at_once(stack: Stack, first_holds_lock: Callable[[], bool]) -> TwoUpdates:
    """`pulumi up` of STACK and, once FIRST_HOLDS_LOCK, a second one, as a teammate or a CI job
    would start it; returns when both have ended (the first is killed if the test fails)."""
    first = stack.start_up()
    try:
        wait_for(first_holds_lock, 60, "the first up takes the lock", alive=lambda: first.poll() is None)
        started = time.monotonic()
        second = subprocess.run(
            ["pulumi", "up", "--yes", "--non-interactive", "--skip-preview", "--stack", stack.stack.name],
            cwd=stack.project.dir,
            env={**os.environ, **stack.project.env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        seconds = time.monotonic() - started
        output, _ = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            kill_update(first)
    return TwoUpdates(first, output, second, seconds)


def wait_for_new_container(engine: DockerEngine, update: subprocess.Popen[str], tag: str) -> None:
    """Until the running UPDATE has made this run's container of TAG (running or not)."""
    listing = ["ps", "-aq", "--filter", f"label={RUN_LABEL}={THIS_RUN}", "--filter", f"label={LABEL_IMAGE_TAG}={tag}"]
    wait_for(
        lambda: bool(engine.run(*listing).stdout.strip()),
        300,
        "the new version's container",
        interval=0.2,
        alive=lambda: update.poll() is None,
    )
