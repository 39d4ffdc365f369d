"""The integration harness itself works for real: engine, SSH host, registry, example image."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.harness import (
    DockerEngine,
    ExampleImage,
    HarnessError,
    Registry,
    SshHost,
    free_port,
    generate_ed25519_key,
    http_get,
    wait_http,
)
from tests.support.leftovers import label_args

pytestmark = pytest.mark.integration


@pytest.fixture
def known_hosts(ssh_host: SshHost, tmp_path: Path) -> Path:
    return ssh_host.write_known_hosts(tmp_path / "known_hosts")


@pytest.fixture
def cleanup(engine: DockerEngine) -> Iterator[list[tuple[str, str]]]:
    """Collects ("container"|"volume", name) to remove after the test."""
    items: list[tuple[str, str]] = []
    yield items
    for kind, name in reversed(items):
        args = ["rm", "-f", name] if kind == "container" else ["volume", "rm", "-f", name]
        engine.run(*args, check=False)


def test_free_port_and_wait_http_timeout() -> None:
    port = free_port()
    # Below the kernel's ephemeral range, so no outgoing connection can take it before use.
    low, _high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert 1024 <= port < low
    # Reserved for this process: another process asking gets other ports.
    others = subprocess.run(
        [sys.executable, "-c", "from tests.support.harness import free_port; print(*(free_port() for _ in range(50)))"],
        check=True, capture_output=True, text=True, cwd=Path(__file__).parents[2],
    ).stdout.split()  # fmt: skip
    assert str(port) not in others and len(set(others)) == 50
    with pytest.raises(HarnessError, match=r"did not answer with HTTP 200 within"):
        wait_http(f"http://127.0.0.1:{port}/health", timeout=1)


def test_example_image_has_two_pushed_versions(example_image: ExampleImage, registry: Registry) -> None:
    v1, v2 = example_image.v1, example_image.v2
    assert v1.app_version != v2.app_version
    assert v1.tag != v2.tag and v1.digest != v2.digest
    for v in (v1, v2):
        assert re.fullmatch(r"sha-[0-9a-f]{7,}", v.tag)
        assert v.ref == f"{registry.address}/acme/local-llm-server:{v.tag}"
        assert v.ref.startswith("127.0.0.1:")
    # Both pushed (tests that ran before on this worker may have pushed variants of v1 beside them).
    assert {v1.tag, v2.tag} <= set(registry.tags("acme/local-llm-server"))
    # Anonymous access is refused.
    assert registry.api_get("/v2/acme/local-llm-server/tags/list", auth=False)[0] == 401


class _HostHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the host"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_engine_runs_example_image_and_volume_survives_rollout(
    engine: DockerEngine, example_image: ExampleImage, cleanup: list[tuple[str, str]]
) -> None:
    suffix = secrets.token_hex(4)
    volume = f"si-test-data-{suffix}"
    engine.run("volume", "create", *label_args(), volume)
    cleanup.append(("volume", volume))

    def start(name: str, ref: str) -> int:
        port = free_port()
        engine.run(
            "run", "-d", "--name", name, *label_args(),
            "--add-host", "host.docker.internal:host-gateway",
            "-p", f"127.0.0.1:{port}:8000",
            "-e", "APP_ENV=harness",
            "-e", "ALLOWED_ORIGINS=https://a.example, https://b.example",
            "-v", f"{volume}:/data",
            ref,
        )  # fmt: skip
        cleanup.append(("container", name))
        return port

    name1 = f"si-test-v1-{suffix}"
    # The engine-local builds: tests before this one may have removed the pulled tags.
    port = start(name1, example_image.v1.local_ref)
    _, body = wait_http(f"http://127.0.0.1:{port}/health", timeout=90)
    assert json.loads(body) == {"status": "ok", "env": "harness", "version": example_image.v1.app_version}
    _, body = wait_http(f"http://127.0.0.1:{port}/", timeout=10)
    assert json.loads(body)["allowed_origins"] == ["https://a.example", "https://b.example"]
    assert http_get(f"http://127.0.0.1:{port}/api/cache/missing")[0] == 404

    # The container runs as uid 10001 and reaches a service on the host via host.docker.internal.
    assert engine.run("exec", name1, "id", "-u").stdout.strip() == "10001"
    gateway = engine.gateway_ip
    assert gateway, "the engine reports no bridge gateway"
    hosts = engine.run("exec", name1, "cat", "/etc/hosts").stdout
    assert re.search(rf"^{re.escape(gateway)}\s+host\.docker\.internal$", hosts, re.M), hosts
    server = ThreadingHTTPServer((gateway, 0), _HostHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # The app image has Python, not curl.
        url = f"http://host.docker.internal:{server.server_port}/"
        fetch = (
            f"import sys, urllib.request; sys.stdout.write(urllib.request.urlopen({url!r}, timeout=10).read().decode())"
        )
        out = engine.run("exec", name1, "python3", "-c", fetch)
        assert out.stdout == "hello from the host"
    finally:
        server.shutdown()
        server.server_close()

    # Data written through v1 survives a rollout to v2 on the same volume.
    import urllib.request

    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/cache/rollout", data=b"kept", method="POST")
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=10) as resp:
        assert resp.status == 200
    engine.run("rm", "-f", name1)

    port2 = start(f"si-test-v2-{suffix}", example_image.v2.local_ref)
    _, body = wait_http(f"http://127.0.0.1:{port2}/api/health", timeout=90)
    assert json.loads(body)["version"] == example_image.v2.app_version
    assert http_get(f"http://127.0.0.1:{port2}/api/cache/rollout") == (200, b"kept")


def test_docker_over_ssh_with_pinned_host_key(engine: DockerEngine, ssh_host: SshHost, known_hosts: Path) -> None:
    engine_id = engine.run("info", "--format", "{{.ID}}").stdout.strip()
    # docker CLI: docker -H ssh://user@127.0.0.1:PORT
    assert ssh_host.docker("info", "--format", "{{.ID}}", known_hosts_path=known_hosts).stdout.strip() == engine_id
    # What the Pulumi Docker provider does: ssh <ssh_opts> ... docker system dial-stdio, here with
    # a plain docker command over the same options.
    out = ssh_host.ssh("docker", "info", "--format", "{{.ID}}", known_hosts_path=known_hosts)
    assert out.stdout.strip() == engine_id
    assert ssh_host.ssh("id", "-un", known_hosts_path=known_hosts).stdout.strip() == ssh_host.user
    # Exactly the provider's transport: `ssh <ssh_opts> -l user -p port -- host docker system dial-stdio`
    # carrying the Docker API over stdin/stdout.
    dial = subprocess.run(
        ["ssh", *ssh_host.ssh_opts_for(known_hosts), "-l", ssh_host.user, "-p", str(ssh_host.port), "--", ssh_host.host,
         "docker", "system", "dial-stdio"],
        input=b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n",
        capture_output=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert dial.returncode == 0, dial.stderr
    assert dial.stdout.startswith(b"HTTP/1.1 200 OK") and dial.stdout.endswith(b"OK"), dial.stdout
    opts = ssh_host.ssh_opts_for(known_hosts)
    assert opts[opts.index("-p") + 1] == str(ssh_host.port)
    assert "StrictHostKeyChecking=yes" in opts and f"UserKnownHostsFile={known_hosts}" in opts


def test_docker_over_ssh_with_wrong_host_key_fails(ssh_host: SshHost, tmp_path: Path) -> None:
    wrong_key = generate_ed25519_key(tmp_path / "other_host_key")
    assert wrong_key != ssh_host.host_key_line
    wrong = ssh_host.write_known_hosts(tmp_path / "known_hosts_wrong", key_line=wrong_key)
    out = ssh_host.docker("info", known_hosts_path=wrong, check=False, timeout=120)
    assert out.returncode != 0
    combined = out.stdout + out.stderr
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in combined
    assert "Host key verification failed" in combined

    unknown = tmp_path / "known_hosts_empty"
    unknown.write_text("")
    out = ssh_host.ssh("true", known_hosts_path=unknown, check=False)
    assert out.returncode != 0 and "Host key verification failed" in out.stderr


def test_registry_login_push_pull_through_ssh_engine(
    ssh_host: SshHost, registry: Registry, example_image: ExampleImage, known_hosts: Path, tmp_path: Path
) -> None:
    ref = example_image.v1.ref
    anon = {"DOCKER_CONFIG": str(tmp_path / "anon-config")}
    authed = {"DOCKER_CONFIG": str(tmp_path / "authed-config")}

    def docker(*args: str, env: dict[str, str], check: bool = True, input: str | None = None):
        return ssh_host.docker(*args, known_hosts_path=known_hosts, env=env, check=check, input=input, timeout=600)

    # Drop the registry-named tag (layers stay under the local build name) so pulls are real; a
    # test before this one on its worker may have dropped it already.
    docker("image", "rm", ref, env=anon, check=False)
    assert docker("image", "inspect", ref, env=anon, check=False).returncode != 0, f"{ref} is still on the engine"
    denied = docker("pull", ref, env=anon, check=False)
    assert denied.returncode != 0
    assert re.search(r"no basic auth credentials|unauthorized|authentication required", denied.stderr, re.I), (
        denied.stderr
    )

    bad = docker("login", registry.address, "-u", registry.username, "--password-stdin", env=anon, check=False,
                 input="wrong-password")  # fmt: skip
    assert bad.returncode != 0

    docker("login", registry.address, "-u", registry.username, "--password-stdin", env=authed,
           input=registry.password)  # fmt: skip
    docker("pull", ref, env=authed)
    digests = docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref, env=authed).stdout
    assert example_image.v1.digest in digests
    docker("pull", example_image.v2.digest_ref, env=authed)
