"""`python -m service_infra status --stack S [--json]`: the stack now, one screen, read-only.

For each service: where it runs (Docker host or Fly app) and its health now (one GET of the
health URL the health gate probes), the update that made its live release (as `history` has
it); on a Docker host also the live release as the host runs it
(the container holding the `live` alias: tag, digest, since when), its state and restart
count, the proxy's state and target, and the service's volumes; then who holds the stack's
lock, where that can be read (a file:// backend). The tag and digest of Fly services come from
the stack's last update.

Needs no passphrase: the settings come from Pulumi.<stack>.yaml, the outputs from `pulumi stack
export` (secret values stay encrypted), the hosts are asked over the stack's own pinned SSH path
(`docker_cli`), nothing else. What cannot be reached is said on its row (a host down is a row,
not a traceback). Exit 0 when every service answers its health URL, 1 when one does not, 2 when
the stack itself cannot be read. `--json` prints the same as one document (docs/operations.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from typing import Any

from service_infra.boundary import LIVE_ALIAS, Progress
from service_infra.cli.history import Release, stack_releases
from service_infra.cli.recover import FileBackend, RecoverError
from service_infra.cli.rollback import RollbackError, run_pulumi, stack_outputs
from service_infra.cli.text import fit, short_digest, short_time, wrapped
from service_infra.commands.docker import docker_cli
from service_infra.contract import (
    LABEL_ENVIRONMENT,
    LABEL_IMAGE_DIGEST,
    LABEL_IMAGE_TAG,
    LABEL_SERVICE,
    host_name_prefix,
)
from service_infra.ops.probe import get_once
from service_infra.ops.rollout import Docker, RolloutError, aliases
from service_infra.settings import Service, Settings, SettingsError, load_stack_file, stack_file_of


class StatusError(Exception):
    pass


@dataclass
class ServiceStatus:
    """One service's row; `problem` says what could not be read, the rest is what could."""

    service: str
    where: str
    health_url: str | None = None
    healthy: bool = False
    health: str = "not probed"
    tag: str | None = None
    digest: str | None = None
    container: str | None = None
    state: str | None = None
    since: str | None = None
    restarts: int | None = None
    # The update that made the live release: its number, when it started, who ran it (history).
    update: int | None = None
    update_started: str | None = None
    update_by: str | None = None
    proxy: str | None = None
    volumes: list[str] = field(default_factory=list)
    problem: str | None = None


@dataclass
class StackStatus:
    stack: str
    environment: str
    services: list[ServiceStatus]
    lock: list[str] | None  # the holders; None when the backend's locks cannot be read here
    lock_note: str = ""


def service_containers(docker: Docker, service: str, environment: str) -> list[dict[str, Any]]:
    """The `docker inspect` documents of every container of SERVICE in ENVIRONMENT on the host
    (its versions and its proxy), found by the program's labels."""
    listed = docker.check(
        "container", "ls", "--all", "--format", "{{.Names}}",
        "--filter", f"label={LABEL_SERVICE}={service}", "--filter", f"label={LABEL_ENVIRONMENT}={environment}",
    ).split()  # fmt: skip
    return json.loads(docker.check("container", "inspect", *listed)) if listed else []


def live_document(documents: Sequence[Mapping[str, Any]], network: str) -> Mapping[str, Any] | None:
    """The container holding the live alias on the service's NETWORK: the one the proxy serves."""
    return next((document for document in documents if LIVE_ALIAS in aliases(dict(document), network)), None)


def docker_status(row: ServiceStatus, name: str, service: Service, settings: Settings, docker: Docker) -> None:
    """Fill ROW from the host: the live container, the proxy, the volumes."""
    assert service.docker is not None
    base = host_name_prefix(name, settings.instance)
    documents = service_containers(docker, name, settings.instance)
    proxy = next((d for d in documents if d.get("Name", "").lstrip("/") == f"{base}-proxy"), None)
    live = live_document(documents, base)
    if live is not None:
        labels = (live.get("Config") or {}).get("Labels") or {}
        state = live.get("State") or {}
        row.container = live.get("Name", "").lstrip("/")
        row.tag, row.digest = labels.get(LABEL_IMAGE_TAG), labels.get(LABEL_IMAGE_DIGEST)
        row.state, row.since = state.get("Status"), state.get("StartedAt")
        row.restarts = int(live.get("RestartCount") or 0)
    else:
        row.problem = f"no container of {name} holds the `{LIVE_ALIAS}` alias on the network {base}"
    if proxy is None:
        row.proxy = f"{base}-proxy: missing"
    else:
        proxy_state = (proxy.get("State") or {}).get("Status")
        row.proxy = f"{base}-proxy {proxy_state} -> {row.container or 'nothing'}"
    for volume in sorted(service.docker.volumes):
        volume_name = f"{base}-{volume}"
        found = docker.run("volume", "inspect", "--format", "{{.Name}}", volume_name).returncode == 0
        row.volumes.append(volume_name if found else f"{volume_name} (missing)")


def service_status(
    name: str, service: Service, settings: Settings, outputs: Mapping[str, Any], dockers: dict[str, Docker]
) -> ServiceStatus:
    url = (outputs.get("service_urls") or {}).get(name)
    if service.docker is not None:
        host = settings.docker_hosts[service.docker.host]
        where = f"docker host {service.docker.host} ({host.ssh_user + '@' if host.is_ssh else ''}{host.ssh_host or host.url})"
    else:
        assert service.fly is not None
        where = f"fly app {service.fly.app}"
    row = ServiceStatus(name, where, health_url=service.health_url(url) if isinstance(url, str) else None)
    if service.fly is not None:
        row.tag = (outputs.get("image_tags") or {}).get(name)
    if row.health_url is None:
        row.health = "no URL: the stack has no successful update that deployed it"
    else:
        failed = get_once(row.health_url)
        row.healthy, row.health = failed is None, f"GET {row.health_url}: {failed or 'HTTP 200'}"
    if service.docker is not None:
        try:
            docker_status(row, name, service, settings, dockers[service.docker.host])
        except RolloutError as error:
            row.problem = f"host {service.docker.host} did not answer: {error}"
    return row


def lock_status(stack: str) -> tuple[list[str] | None, str]:
    try:
        backend = FileBackend.of(_run, stack)
        if backend is None:
            return None, "only a file:// backend's locks are read here; `pulumi cancel` names any holder"
        return [str(holder) for holder in backend.lock_holders()], ""
    except RecoverError as error:
        return None, str(error)


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=300)
    except FileNotFoundError:
        raise StatusError(f"`{argv[0]}` is not on PATH: run scripts/status.sh, which installs Pulumi") from None


def live_releases(stack: str, outputs: Mapping[str, Any]) -> dict[str, Release]:
    """Per service, the release `history` calls live (empty when the history cannot be read:
    `pulumi stack history` needs no passphrase, only the backend)."""
    try:
        entries = json.loads(run_pulumi(["stack", "history", "--json", "--stack", stack]) or "[]")
    except RollbackError:
        return {}
    return {r.service: r for r in reversed(stack_releases(entries, outputs)) if r.outcome.startswith("live")}


def stack_status(stack: str, settings: Settings, outputs: Mapping[str, Any]) -> StackStatus:
    hosts = sorted({s.docker.host for s in settings.docker_services().values() if s.docker})
    progress = Progress(f"status {stack}")
    progress.phase(f"asking {', '.join(hosts) or 'no Docker host'} and probing each service's health URL")
    with ExitStack() as connections:  # one SSH connection per host for all its questions
        dockers = {host: connections.enter_context(Docker(docker_cli(settings.docker_hosts[host]))) for host in hosts}
        rows = [service_status(name, s, settings, outputs, dockers) for name, s in sorted(settings.services.items())]
    lock, note = lock_status(stack)
    live = live_releases(stack, outputs)
    for row in rows:
        if row.service in live:
            release = live[row.service]
            row.update, row.update_started, row.update_by = release.update, release.started, release.by
    progress.phase("done")
    return StackStatus(stack, settings.environment.value, rows, lock, note)


def render(status: StackStatus) -> str:
    """One screen of 100 columns (`--json` has every value whole)."""
    lines = [f"stack {status.stack} ({status.environment})"]
    for row in status.services:
        lines.append(f"  {row.service}: {row.where}")
        lines += wrapped("    health   ", f"{'ok' if row.healthy else 'FAILING'}: {row.health}")
        if row.tag or row.digest:
            lines.append(f"    release  {row.tag or '?'}{' @ ' + short_digest(row.digest) if row.digest else ''}")
        if row.update is not None:
            lines.append(f"    from     update {row.update}, {short_time(row.update_started)}, by {row.update_by}")
        if row.container:
            lines.append(f"    live     {row.container}")
            lines.append(f"             {row.state} since {short_time(row.since)}, {row.restarts} restarts")
        if row.proxy:
            lines.append(f"    proxy    {row.proxy}")
        for volume in row.volumes:
            lines.append(f"    volume   {volume}")
        if row.problem:
            lines += wrapped("    problem  ", row.problem)
    if status.lock is None:
        lines += wrapped("  lock: ", f"not read ({status.lock_note})")
    else:
        lines += wrapped("  lock: ", f"held by {'; '.join(status.lock)}" if status.lock else "free")
    return "\n".join(fit(line) for line in lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service_infra status", description="the stack now: releases, health, containers, lock"
    )
    parser.add_argument("--stack", required=True)
    parser.add_argument("--json", action="store_true", help="one JSON document (docs/operations.md)")
    args = parser.parse_args(argv)
    stack_file = stack_file_of(args.stack)
    try:
        settings = load_stack_file(stack_file)
        status = stack_status(args.stack, settings, stack_outputs(args.stack))
    except SettingsError as error:
        print("\n".join(f"{stack_file}: {problem}" for problem in error.problems))
        return 2
    except (StatusError, RollbackError) as error:
        print(f"error: {error}")
        return 2
    print(json.dumps(asdict(status), indent=2, sort_keys=True) if args.json else render(status))
    return 0 if all(row.healthy for row in status.services) else 1
