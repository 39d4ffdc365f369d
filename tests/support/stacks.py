"""The stacks the integration tests and the rollout benchmark deploy, and how to find what they run."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from service_infra.contract import LABEL_ENVIRONMENT, LABEL_IMAGE_TAG
from tests.support import ROOT
from tests.support.harness import DockerEngine, ExampleImage, Registry, SshHost, free_port

# The `fly` stand-in's folder: first on PATH, it is the flyctl the Fly services' commands run.
FLY_STANDIN = ROOT / "tests" / "fakes" / "fly"

# The repository and the people the GitHub API stand-in knows, as in the committed stack files.
GITHUB_OWNER, GITHUB_REPOSITORY = "acme", "local-llm-server"
GITHUB_USERS = {"alice-acme": 4101, "bob-acme": 4102, "carol-acme": 4103}
GITHUB_TEAMS = {"platform": 5101, "security": 5102}


def production_github(base_url: str) -> dict[str, Any]:
    """The least GitHub section a prod stack may have: the protected `production` environment."""
    return {
        "owner": GITHUB_OWNER,
        "repository": GITHUB_REPOSITORY,
        "base_url": base_url,
        "environments": {"production": {"reviewers": {"users": ["alice-acme"]}, "branches": ["main"]}},
    }


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
