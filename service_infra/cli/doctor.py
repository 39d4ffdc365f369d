"""`python -m service_infra doctor Pulumi.<stack>.yaml`: the stack's Docker hosts, checked.

One line per check (ok/warn/fail), each warning or failure with the config key to change and the
command that fixes it on the Mac. Read-only: nothing on a host is changed. The connection and
engine checks are the preflight's (`service_infra.host_checks`), so what fails here stops
`preview`/`up` there too; the rest only warn.
Exit 0 when nothing failed, 1 when a check failed, 2 when the stack file itself has problems.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from service_infra.commands.host_checks import (
    credential_store_command,
    engine_command,
    free_disk_command,
    ollama_command,
)
from service_infra.contract import PROJECT
from service_infra.host_checks import (
    Finding,
    Runner,
    Status,
    connection_findings,
    engine_finding,
    hosts_in_use,
    last_line,
    run_check,
)
from service_infra.settings import Settings, SettingsError, load_stack_file

# Ollama's port when an env value names host.docker.internal without one.
OLLAMA_PORT = 11434

MIN_FREE_GIB = 10


def credential_store_finding(name: str, config: Settings, done: subprocess.CompletedProcess[str]) -> Finding:
    lines = done.stdout.strip().splitlines() or ["none"]
    store, said = lines[0], " ".join(lines[1:]).strip() or last_line(done.stderr)
    if store == "none":
        return Finding(name, "credential store", Status.OK, "no credsStore: logins live in config.json")
    if done.returncode == 0 or "credentials not found" in said:
        return Finding(name, "credential store", Status.OK, f"credsStore {store} answers without a GUI session")
    registry = f"{PROJECT}:registry" if config.registry else f"{PROJECT}:registry (unset: public images)"
    return Finding(
        name,
        "credential store",
        Status.WARN,
        f"credsStore {store!r} in ~/.docker/config.json fails in an SSH session ({said or 'no answer'}); "
        f"the program is unaffected (it pulls with {registry}'s credentials, never the host's store), but "
        "`docker login`/`docker pull` typed over SSH fail; fix on the Mac: "
        "plutil -remove credsStore ~/.docker/config.json",
    )


def free_disk_finding(name: str, done: subprocess.CompletedProcess[str], min_free_gib: int) -> Finding:
    fields = done.stdout.split()
    if done.returncode != 0 or len(fields) < 4 or not fields[3].isdigit():
        return Finding(name, "disk", Status.WARN, f"could not read free space ({last_line(done.stderr)})")
    free_gib = int(fields[3]) / 2**20
    if free_gib >= min_free_gib:
        return Finding(name, "disk", Status.OK, f"{free_gib:.1f} GiB free (at least {min_free_gib})")
    return Finding(
        name,
        "disk",
        Status.WARN,
        f"{free_gib:.1f} GiB free, under {min_free_gib} GiB: pulls and logs will fail when it runs out; fix on "
        "the Mac: docker image prune --force (dangling layers only; never --all, which removes the images of "
        "earlier releases that a rollback runs)",
    )


def ollama_ports(config: Settings, host_name: str) -> list[int]:
    """Ports of host.docker.internal that the host's services' env values point at."""
    ports = set()
    for service in config.docker_services().values():
        if service.docker and service.docker.host == host_name:
            for value in service.env.values():
                for match in re.finditer(r"host\.docker\.internal(?::(\d+))?", value):
                    ports.add(int(match.group(1) or OLLAMA_PORT))
    return sorted(ports)


def ollama_finding(name: str, port: int, proxy_image: str, done: subprocess.CompletedProcess[str]) -> Finding:
    check = f"ollama :{port}"
    if done.returncode == 0 and done.stdout.strip() == "200":
        return Finding(name, check, Status.OK, f"host.docker.internal:{port} answers from a container")
    said = last_line(done.stderr) or done.stdout.strip()
    if "No such image" in said or "Unable to find image" in said:
        return Finding(
            name, check, Status.WARN, f"not checked from a container: {proxy_image} is not on the host until `up`"
        )
    return Finding(
        name,
        check,
        Status.FAIL,
        f"host.docker.internal:{port} does not answer from a container ({said}); a service's env points at it; "
        "fix on the Mac: start Ollama at login (`brew services start ollama`, or open Ollama.app) and check "
        f"`curl -s http://127.0.0.1:{port}/api/version`",
    )


def doctor_findings(config: Settings, run: Runner, min_free_gib: int = MIN_FREE_GIB) -> list[Finding]:
    """Every check on every Docker host the stack uses; nothing on a host is changed."""
    findings: list[Finding] = []
    for name in hosts_in_use(config):
        host = config.docker_hosts[name]
        connection = connection_findings(name, host, run)
        findings += connection
        if connection[0].status is Status.FAIL:  # ssh itself failed: nothing else can be asked
            continue
        if all(f.status is Status.OK for f in connection):
            findings.append(engine_finding(name, host, run(engine_command(host))))
        if host.is_ssh:
            server = config.registry.server if config.registry else "ghcr.io"
            findings.append(credential_store_finding(name, config, run(credential_store_command(host, server))))
            findings.append(free_disk_finding(name, run(free_disk_command(host)), min_free_gib))
        if config.proxy is not None and all(f.status is Status.OK for f in connection):
            for port in ollama_ports(config, name):
                done = run(ollama_command(host, config.proxy.image_ref, port))
                findings.append(ollama_finding(name, port, config.proxy.image_ref, done))
    return findings


def doctor(stack_file: Path, min_free_gib: int = MIN_FREE_GIB, run: Runner | None = None) -> int:
    try:
        config = load_stack_file(stack_file)
    except SettingsError as error:
        for problem in error.problems:
            print(f"{stack_file}: {problem}")
        return 2
    findings = doctor_findings(config, run or run_check, min_free_gib)
    if not findings:
        print(f"{stack_file}: no Docker hosts in use")
    for finding in findings:
        print(finding.line())
    return 1 if any(f.status is Status.FAIL for f in findings) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service_infra doctor", description="check the stack's Docker hosts (read-only)"
    )
    parser.add_argument("stack_file", type=Path, metavar="Pulumi.<stack>.yaml")
    parser.add_argument("--min-free-gib", type=int, default=MIN_FREE_GIB, help="warn below this free disk")
    args = parser.parse_args(argv)
    return doctor(args.stack_file, args.min_free_gib)
