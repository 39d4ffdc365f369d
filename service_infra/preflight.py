"""Checks that must pass before any resource is touched: outside local, the stack's secrets are
not encrypted with the published example passphrase; every SSH Docker host answers, with the
pinned host key, and runs a Docker engine. A failure stops the run early, saying what to change,
and nothing that is running is changed."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from service_infra.commands.docker import docker_cli
from service_infra.contract import PROJECT
from service_infra.settings import DockerHostSettings, Settings, Tier
from service_infra.stack_secrets import refuse_example_passphrase

CHECK_TIMEOUT_SECONDS = 30


def ssh_check_command(host: DockerHostSettings) -> list[str]:
    """What the Docker provider will do over SSH, reduced to asking the engine its version."""
    return [*docker_cli(host), "version", "--format", "{{.Server.Version}}"]


def explain(name: str, host: DockerHostSettings, returncode: int, stderr: str) -> str | None:
    """The problem line for one failed check, naming the key to change; None when it passed."""
    if returncode == 0:
        return None
    key = f"{PROJECT}:docker_hosts.{name}"
    where = f"{host.ssh_host}:{host.ssh_port}"
    detail = stderr.strip().splitlines()[-1] if stderr.strip() else f"ssh exited with {returncode}"
    if "Host key verification failed" in stderr or "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
        return (
            f"{key}.host_key: {where} presented a host key other than the pinned one; if the host was "
            f"reinstalled, pin its new key from `ssh-keyscan -t ed25519 -p {host.ssh_port} {host.ssh_host}`"
        )
    if "Permission denied" in stderr:
        return f"{key}.identity_file: {where} refused the SSH key ({detail}); load the deploy key into ssh-agent or set identity_file"
    if any(s in stderr for s in ("Connection refused", "timed out", "Could not resolve", "No route to host")):
        return f"{key}.url: cannot reach {where} over SSH ({detail}); check the host is up and the url is right"
    return f"{key}.url: the Docker engine on {where} did not answer over SSH: {detail}"


class HostCheckError(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"Docker hosts failed their check ({len(problems)}); nothing was changed:\n" + "\n".join(problems)
        )


Runner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=CHECK_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 255, "", "ssh: connection timed out")


def check_docker_hosts(config: Settings, run: Runner = _run) -> None:
    """Raise HostCheckError listing every SSH host in use that fails its check."""
    in_use = {service.docker.host for service in config.docker_services().values() if service.docker}
    problems = []
    for name in sorted(in_use):
        host = config.docker_hosts.get(name)
        if host is None or not host.is_ssh:
            continue
        done = run(ssh_check_command(host))
        problem = explain(name, host, done.returncode, done.stderr)
        if problem:
            problems.append(problem)
    if problems:
        raise HostCheckError(problems)


def check_before_changes(config: Settings, stack: str, project_dir: Path) -> None:
    """Everything that must hold before the program declares a resource."""
    if config.environment is not Tier.LOCAL:
        refuse_example_passphrase(stack, project_dir)
    check_docker_hosts(config)
