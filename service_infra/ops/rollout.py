"""Putting a new container version live behind the proxy, and retiring the one it replaces.

A service on a Docker host is one proxy container (it owns the published port) and app
containers on the service's own network. The proxy sends requests to whichever containers hold
the network alias `live`. A rollout creates the new version's container beside the old one;
``activate`` (the create step of its command resource) waits until Docker reports it healthy and
only then gives it the alias; the old version keeps serving until then, and keeps serving if the
new one never becomes healthy. ``retire`` (the delete step of the old version's command
resource, which Pulumi runs after the new one is live) stops the old container gracefully, so
its in-flight requests finish and new ones go to the new version.

``python3 -m service_infra.ops.rollout activate|retire ...`` runs them; the docker CLI to use (local
``docker -H ...`` or ``ssh ... docker`` with the pinned host key) comes as JSON in
SERVICE_INFRA_DOCKER_CLI. Standard library only, and nothing from the rest of service_infra, so
any ``python3`` can run it; ``service_infra.commands.rollout`` builds its command lines.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

DOCKER_CLI_ENV = "SERVICE_INFRA_DOCKER_CLI"
LIVE_ALIAS = "live"
POLL_SECONDS = 1.0
# How long the proxy trusts Docker DNS about the live alias (its nginx `resolver ... valid=`).
PROXY_DNS_VALID_SECONDS = 1
# A container that restarts this many times while we wait is not going to become healthy.
MAX_RESTARTS = 3
# After joining the alias, until the proxy has certainly seen it: only then may the old version
# stop (without this wait, a switch done at once failed 774 of 9223 requests in the benchmark).
SETTLE_SECONDS = PROXY_DNS_VALID_SECONDS + 1.0


class RolloutError(Exception):
    pass


class Docker:
    """The docker CLI for one engine. Over ssh the remote shell re-splits the command line, so
    every argument is quoted there."""

    def __init__(self, prefix: Sequence[str]) -> None:
        if not prefix:
            raise RolloutError(f"{DOCKER_CLI_ENV} is empty: it must hold the docker command as a JSON list")
        self.prefix = list(prefix)
        self.remote = self.prefix[0] == "ssh"

    @classmethod
    def from_environ(cls, environ: dict[str, str] | os._Environ[str]) -> Docker:
        raw = environ.get(DOCKER_CLI_ENV, "")
        try:
            prefix = json.loads(raw)
        except ValueError:
            raise RolloutError(f"{DOCKER_CLI_ENV} must hold the docker command as a JSON list, got {raw!r}") from None
        return cls(prefix)

    def argv(self, *args: str) -> list[str]:
        return [*self.prefix, *(shlex.quote(a) for a in args)] if self.remote else [*self.prefix, *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout, check=False)
        except FileNotFoundError:
            raise RolloutError(f"`{self.prefix[0]}` is not on PATH: install the docker CLI (and ssh)") from None
        except subprocess.TimeoutExpired:
            raise RolloutError(f"`docker {' '.join(args[:2])}` did not answer within {timeout:.0f}s") from None

    def check(self, *args: str, timeout: float = 120) -> str:
        done = self.run(*args, timeout=timeout)
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip() or f"exit {done.returncode}"
            raise RolloutError(f"`docker {' '.join(args[:2])}` failed: {detail}")
        return done.stdout

    def inspect(self, container: str) -> dict[str, Any] | None:
        """The container's `docker inspect` document, or None when it does not exist."""
        done = self.run("container", "inspect", container)
        if done.returncode != 0:
            if "no such" in (done.stderr + done.stdout).lower():
                return None
            raise RolloutError(f"`docker container inspect {container}` failed: {done.stderr.strip()}")
        found = json.loads(done.stdout)
        return found[0] if found else None


def last_health_error(state: dict[str, Any]) -> str:
    """What the last failed health check printed (or why there is none)."""
    health = state.get("Health") or {}
    for entry in reversed(health.get("Log") or []):
        if entry.get("ExitCode") != 0:
            output = " ".join(str(entry.get("Output") or "").split())
            return f"exit {entry.get('ExitCode')}: {output[:300] or '(no output)'}"
    if not health:
        return "the container has no health check"
    return "no failed check recorded"


def _aliases(document: dict[str, Any], network: str) -> list[str]:
    networks = (document.get("NetworkSettings") or {}).get("Networks") or {}
    return list((networks.get(network) or {}).get("Aliases") or [])


def wait_healthy(docker: Docker, container: str, timeout: float) -> dict[str, Any]:
    """Wait until Docker reports the container healthy; raise with Docker's last word if not."""
    deadline = time.monotonic() + timeout
    started = False
    while True:
        document = docker.inspect(container)
        if document is None:
            raise RolloutError(f"container {container} is gone")
        state = document.get("State") or {}
        status = (state.get("Health") or {}).get("Status")
        if status == "healthy" and state.get("Running"):
            return document
        if status == "unhealthy":
            raise RolloutError(f"Docker reports it unhealthy; last health check {last_health_error(state)}")
        if int(document.get("RestartCount") or 0) >= MAX_RESTARTS:
            raise RolloutError(
                f"it keeps exiting (restarted {document['RestartCount']} times, last exit code "
                f"{state.get('ExitCode')}); last health check {last_health_error(state)}"
            )
        if not state.get("Running") and not state.get("Restarting"):
            if started:
                raise RolloutError(
                    f"it exited with code {state.get('ExitCode')}; last health check {last_health_error(state)}"
                )
            # A container a failed rollout stopped earlier: give it its chance again.
            docker.check("container", "start", container)
            started = True
            continue
        if time.monotonic() >= deadline:
            raise RolloutError(
                f"it did not become healthy within {timeout:.0f}s (health: {status or 'none'}); "
                f"last health check {last_health_error(state)}"
            )
        time.sleep(POLL_SECONDS)


def activate(
    docker: Docker, service: str, tag: str, container: str, network: str, alias: str, timeout: float
) -> dict[str, object]:
    """Give the container the live alias once it is healthy. On failure the container is stopped
    (no restart loop beside the running version) and nothing else is touched."""
    try:
        document = wait_healthy(docker, container, timeout)
    except RolloutError as error:
        docker.run("container", "stop", "--time", "5", container)
        raise RolloutError(
            f"service {service}, tag {tag}: the new container {container} is not healthy, so it was not put "
            f"live: {error}. The running version keeps serving. Fix services.{service}.tag (or the image) and "
            f"run `pulumi up` again; `docker logs {container}` shows what it printed."
        ) from None
    if alias not in _aliases(document, network):
        # Docker adds an alias only when connecting; the container joined the network without
        # one at creation (nothing routes to it by name yet), so it reconnects with the alias.
        networks = (document.get("NetworkSettings") or {}).get("Networks") or {}
        if network in networks:
            docker.check("network", "disconnect", network, container)
        docker.check("network", "connect", "--alias", alias, network, container)
        time.sleep(SETTLE_SECONDS)
    return {"service": service, "tag": tag, "container": container, "network": network, "alias": alias}


def retire(docker: Docker, container: str, drain_seconds: int) -> str:
    """Stop the old version gracefully: SIGTERM, up to drain_seconds for in-flight requests.

    Its server stops accepting at once, so the proxy retries new requests on the live version;
    a stopped container leaves the network, and Docker does not restart it (unless-stopped).
    """
    if docker.inspect(container) is None:
        return f"container {container} is already gone"
    docker.check("container", "stop", "--time", str(drain_seconds), container, timeout=drain_seconds + 60)
    return f"container {container} drained and stopped"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m service_infra.ops.rollout")
    ops = parser.add_subparsers(dest="op", required=True)
    op = ops.add_parser("activate", help="wait until healthy, then join the live alias")
    op.add_argument("--service", required=True)
    op.add_argument("--tag", required=True)
    op.add_argument("--container", required=True)
    op.add_argument("--network", required=True)
    op.add_argument("--alias", default=LIVE_ALIAS)
    op.add_argument("--timeout", type=int, default=180)
    op = ops.add_parser("retire", help="stop a replaced version after draining it")
    op.add_argument("--container", required=True)
    op.add_argument("--drain-seconds", type=int, default=30)
    args = parser.parse_args(argv)
    try:
        docker = Docker.from_environ(os.environ)
        if args.op == "activate":
            result = activate(docker, args.service, args.tag, args.container, args.network, args.alias, args.timeout)
            print(json.dumps(result, sort_keys=True))
        else:
            print(retire(docker, args.container, args.drain_seconds))
    except RolloutError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
