"""The checks that decide whether a Docker host can be used: reached over ssh with its pinned
key, `docker` found, the engine answering, and the engine the one pinned. The preflight runs them
before any resource is touched and the doctor reports them line by line: one set of checks, the
same messages, each naming the config key to change."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from service_infra.commands.host_checks import (
    DOCKER_DIRS,
    locate_docker_command,
    path_fix,
    ssh_check_command,
)
from service_infra.contract import PROJECT
from service_infra.settings import DockerHostSettings, Settings

CHECK_TIMEOUT_SECONDS = 30


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    """One check on one host; a warning or failure says what to change (its config key and the
    command that fixes it on the Mac)."""

    host: str
    check: str
    status: Status
    message: str

    def line(self) -> str:
        return f"{self.status.value:<4}  {self.host}  {self.check}: {self.message}"


Runner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


def run_check(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=CHECK_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 255, "", "ssh: connection timed out")


def host_key(name: str) -> str:
    return f"{PROJECT}:docker_hosts.{name}"


def hosts_in_use(config: Settings) -> list[str]:
    in_use = {service.docker.host for service in config.docker_services().values() if service.docker}
    return sorted(name for name in in_use if name in config.docker_hosts)


def ssh_problem(name: str, host: DockerHostSettings, stderr: str) -> str | None:
    """The problem line when ssh itself failed (host key, login, reach), naming the key to change."""
    key = host_key(name)
    where = f"{host.ssh_host}:{host.ssh_port}"
    detail = last_line(stderr) or "ssh failed"
    if "Host key verification failed" in stderr or "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
        return (
            f"{key}.host_key: {where} presented a host key other than the pinned one; if the host was "
            f"reinstalled, pin its new key from `ssh-keyscan -t ed25519 -p {host.ssh_port} {host.ssh_host}`"
        )
    if "Permission denied" in stderr:
        return f"{key}.identity_file: {where} refused the SSH key ({detail}); load the deploy key into ssh-agent or set identity_file"
    if any(s in stderr for s in ("Connection refused", "timed out", "Could not resolve", "No route to host")):
        return f"{key}.url: cannot reach {where} over SSH ({detail}); check the host is up and the url is right"
    return None


def explain(name: str, host: DockerHostSettings, returncode: int, stderr: str) -> str | None:
    """The problem line for one failed check, naming the key to change; None when it passed."""
    if returncode == 0:
        return None
    detail = last_line(stderr) or f"ssh exited with {returncode}"
    return ssh_problem(name, host, stderr) or (
        f"{host_key(name)}.url: the Docker engine on {host.ssh_host}:{host.ssh_port} did not answer over SSH: {detail}"
    )


def docker_not_on_path(name: str, host: DockerHostSettings, found: list[str]) -> str:
    where = f"{host.ssh_host}:{host.ssh_port}"
    seen = f"it is in {', '.join(found)}" if found else f"nor in {', '.join(DOCKER_DIRS)}"
    return (
        f"{host_key(name)}.url: `docker` is not on the PATH of a non-interactive SSH session on {where} "
        f"({seen}), so the Docker provider's `docker system dial-stdio` fails; fix on the Mac: "
        f"{path_fix(found[0] if found else None)}"
    )


def daemon_down(name: str, host: DockerHostSettings, detail: str) -> str:
    return (
        f"{host_key(name)}.url: the Docker daemon on {host.ssh_host}:{host.ssh_port} is not running ({detail}); "
        "fix on the Mac: start the runtime (`open -a Docker`, `colima start` or `orb start`) and make it start "
        "at boot without a login (docs/mac-mini.md)"
    )


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def connection_findings(name: str, host: DockerHostSettings, run: Runner) -> list[Finding]:
    """ssh with the pinned key, `docker` found, the daemon answering: one round trip (what the
    provider does first), and a second only to say where docker is when the PATH lacks it."""
    done = run(ssh_check_command(host))
    if done.returncode == 0:
        where = f"{host.ssh_host}:{host.ssh_port}" if host.is_ssh else host.url
        return [
            Finding(name, "ssh", Status.OK, f"{where} answers with the pinned host key" if host.is_ssh else where),
            Finding(name, "docker", Status.OK, "on the PATH of a non-interactive SSH session"),
            Finding(name, "daemon", Status.OK, f"Docker {done.stdout.strip()} answers"),
        ]
    stderr = done.stderr
    failed_ssh = ssh_problem(name, host, stderr) if host.is_ssh else None
    if failed_ssh:
        return [Finding(name, "ssh", Status.FAIL, failed_ssh)]
    ssh_ok = Finding(name, "ssh", Status.OK, f"{host.ssh_host}:{host.ssh_port} answers with the pinned host key")
    if done.returncode == 127 or "command not found" in stderr:
        located = run(locate_docker_command(host))
        found = located.stdout.split() if located.returncode == 0 else []
        return [ssh_ok, Finding(name, "docker", Status.FAIL, docker_not_on_path(name, host, found))]
    docker_ok = Finding(name, "docker", Status.OK, "on the PATH of a non-interactive SSH session")
    if any(s in stderr for s in ("Cannot connect to the Docker daemon", "error during connect", "docker.sock")):
        return [ssh_ok, docker_ok, Finding(name, "daemon", Status.FAIL, daemon_down(name, host, last_line(stderr)))]
    problem = explain(name, host, done.returncode, stderr) or ""
    return [ssh_ok, docker_ok, Finding(name, "daemon", Status.FAIL, problem)]


def engine_finding(name: str, host: DockerHostSettings, done: subprocess.CompletedProcess[str]) -> Finding:
    engine_id = done.stdout.strip()
    key = f"{host_key(name)}.engine_id"
    if done.returncode != 0 or not engine_id:
        status = Status.FAIL if host.engine_id else Status.WARN
        return Finding(name, "engine", status, f"could not read the engine's ID ({last_line(done.stderr)})")
    if host.engine_id is None:
        return Finding(
            name,
            "engine",
            Status.OK,
            f"ID {engine_id}; pin it so no other engine is taken for this one: "
            f"pulumi config set --path 'docker_hosts.{name}.engine_id' {engine_id}",
        )
    if engine_id != host.engine_id:
        return Finding(
            name,
            "engine",
            Status.FAIL,
            f"{key}: {host.ssh_user + '@' if host.is_ssh else ''}{host.ssh_host or host.url} reaches the engine "
            f"{engine_id}, not the pinned {host.engine_id}: this user's Docker context points at another "
            "environment's engine, or the engine was re-installed (then pin the new ID); nothing was changed",
        )
    return Finding(name, "engine", Status.OK, f"ID {engine_id}, as pinned")
