"""Checks that must pass before any resource is touched: outside local, the stack's secrets are
not encrypted with the published example passphrase; every SSH Docker host answers, with the
pinned host key, finds `docker` in a non-interactive session, and runs a Docker engine. A failure
stops the run early, saying what to change, and nothing that is running is changed.

The same checks, and the ones that only warn (credential store, disk, the host's Ollama), are
what `python -m service_infra doctor` reports line by line: one set of checks, two callers.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from service_infra.commands.docker import docker_cli, remote_script
from service_infra.contract import PROJECT
from service_infra.settings import DockerHostSettings, Settings, SettingsError, Tier
from service_infra.settings.isolation import shared_reach_problems, sibling_settings
from service_infra.stack_secrets import refuse_example_passphrase

CHECK_TIMEOUT_SECONDS = 30


def ssh_check_command(host: DockerHostSettings) -> list[str]:
    """What the Docker provider will do over SSH, reduced to asking the engine its version."""
    return [*docker_cli(host), "version", "--format", "{{.Server.Version}}"]


def ssh_problem(name: str, host: DockerHostSettings, stderr: str) -> str | None:
    """The problem line when ssh itself failed (host key, login, reach), naming the key to change."""
    key = host_key(name)
    where = f"{host.ssh_host}:{host.ssh_port}"
    detail = _last_line(stderr) or "ssh failed"
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
    detail = _last_line(stderr) or f"ssh exited with {returncode}"
    return ssh_problem(name, host, stderr) or (
        f"{host_key(name)}.url: the Docker engine on {host.ssh_host}:{host.ssh_port} did not answer over SSH: {detail}"
    )


# Where macOS Docker runtimes put the CLI; none is on the PATH sshd gives a command
# (/usr/bin:/bin:/usr/sbin:/sbin).
DOCKER_DIRS = (
    "/usr/local/bin",  # Docker Desktop (system install)
    "/opt/homebrew/bin",  # Homebrew on Apple silicon: colima, docker CLI
    "$HOME/.docker/bin",  # Docker Desktop (per-user install)
    "$HOME/.orbstack/bin",  # OrbStack
    "/Applications/Docker.app/Contents/Resources/bin",
)
# What sshd's default PATH holds on macOS, kept after the Docker directory in the fix.
MACOS_SSH_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
SSHD_PATH_FILE = "/etc/ssh/sshd_config.d/100-service-infra-path.conf"
# Ollama's port when an env value names host.docker.internal without one.
OLLAMA_PORT = 11434
MIN_FREE_GIB = 10


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


def host_key(name: str) -> str:
    return f"{PROJECT}:docker_hosts.{name}"


def locate_docker_command(host: DockerHostSettings) -> list[str]:
    """Where the docker CLI is on the host, when the non-interactive PATH lacks it."""
    dirs = " ".join(d.replace("$HOME", '"$HOME"') for d in DOCKER_DIRS)
    return remote_script(host, f'for d in {dirs}; do [ -x "$d/docker" ] && echo "$d"; done; exit 0')


def path_fix(docker_dir: str | None) -> str:
    """The macOS command that puts docker on the PATH of every SSH session (sshd reads
    /etc/ssh/sshd_config.d/*.conf for each new connection; no restart needed)."""
    directory = docker_dir or "<the folder holding docker: `command -v docker` in Terminal>"
    line = f"SetEnv PATH={directory}:{MACOS_SSH_PATH}"
    return f"echo {shlex.quote(line)} | sudo tee {SSHD_PATH_FILE}"


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


def _last_line(text: str) -> str:
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
        return [ssh_ok, docker_ok, Finding(name, "daemon", Status.FAIL, daemon_down(name, host, _last_line(stderr)))]
    problem = explain(name, host, done.returncode, stderr) or ""
    return [ssh_ok, docker_ok, Finding(name, "daemon", Status.FAIL, problem)]


def engine_command(host: DockerHostSettings) -> list[str]:
    """The engine's ID: what tells two engines on one host apart (one per environment)."""
    return [*docker_cli(host), "info", "--format", "{{.ID}}"]


def engine_finding(name: str, host: DockerHostSettings, done: subprocess.CompletedProcess[str]) -> Finding:
    engine_id = done.stdout.strip()
    key = f"{host_key(name)}.engine_id"
    if done.returncode != 0 or not engine_id:
        status = Status.FAIL if host.engine_id else Status.WARN
        return Finding(name, "engine", status, f"could not read the engine's ID ({_last_line(done.stderr)})")
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


CREDENTIAL_STORE_SCRIPT = (
    # Helpers sit next to docker: look where docker will be once it is on the PATH.
    f'PATH="$PATH:{":".join(DOCKER_DIRS)}"\n'
    """\
config="${DOCKER_CONFIG:-$HOME/.docker}/config.json"
store=$(sed -n 's/.*"credsStore"[[:space:]]*:[[:space:]]*"\\([^"]*\\)".*/\\1/p' "$config" 2>/dev/null | head -n 1)
if [ -z "$store" ]; then echo none; exit 0; fi
echo "$store"
answer=$(printf '%s' "$1" | "docker-credential-$store" get 2>&1)
code=$?
[ "$code" -eq 0 ] || echo "$answer"
exit "$code"
"""
)


def credential_store_command(host: DockerHostSettings, server: str) -> list[str]:
    """Ask the host's credential helper for the registry, as `docker pull` over SSH would; the
    answer (a secret when it works) never leaves the host."""
    return remote_script(host, CREDENTIAL_STORE_SCRIPT, server)


def credential_store_finding(name: str, config: Settings, done: subprocess.CompletedProcess[str]) -> Finding:
    lines = done.stdout.strip().splitlines() or ["none"]
    store, said = lines[0], " ".join(lines[1:]).strip() or _last_line(done.stderr)
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


def free_disk_command(host: DockerHostSettings) -> list[str]:
    """Free KiB on the volume holding the user's home (where Docker Desktop, colima and
    OrbStack keep their disk images)."""
    return remote_script(host, 'df -Pk "$HOME" | tail -n 1')


def free_disk_finding(name: str, done: subprocess.CompletedProcess[str], min_free_gib: int) -> Finding:
    fields = done.stdout.split()
    if done.returncode != 0 or len(fields) < 4 or not fields[3].isdigit():
        return Finding(name, "disk", Status.WARN, f"could not read free space ({_last_line(done.stderr)})")
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


def ollama_command(host: DockerHostSettings, proxy_image: str, port: int) -> list[str]:
    """Reach host.docker.internal:<port> from a throwaway container (the proxy image has curl),
    resolved as the services' containers resolve it; `--pull never` so nothing is downloaded."""
    args = [
        "run", "--rm", "--pull", "never", "--add-host", "host.docker.internal:host-gateway",
        "--entrypoint", "curl", proxy_image, "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
        f"http://host.docker.internal:{port}/api/version",
    ]  # fmt: skip
    if not host.is_ssh:
        return [*docker_cli(host), *args]
    return [*docker_cli(host), *(shlex.quote(a) for a in args)]


def ollama_finding(name: str, port: int, proxy_image: str, done: subprocess.CompletedProcess[str]) -> Finding:
    check = f"ollama :{port}"
    if done.returncode == 0 and done.stdout.strip() == "200":
        return Finding(name, check, Status.OK, f"host.docker.internal:{port} answers from a container")
    said = _last_line(done.stderr) or done.stdout.strip()
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


class HostCheckError(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"Docker hosts failed their check ({len(problems)}); nothing was changed:\n" + "\n".join(problems)
        )


def run_check(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=CHECK_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 255, "", "ssh: connection timed out")


def hosts_in_use(config: Settings) -> list[str]:
    in_use = {service.docker.host for service in config.docker_services().values() if service.docker}
    return sorted(name for name in in_use if name in config.docker_hosts)


def check_docker_hosts(config: Settings, run: Runner = run_check) -> None:
    """Raise HostCheckError listing every SSH host in use that fails a fatal check (the doctor's
    connection checks, with the same messages). The hosts are asked at once: an unreachable one
    costs its timeout once, not once per host before it."""
    ssh_hosts = [name for name in hosts_in_use(config) if config.docker_hosts[name].is_ssh]

    def fatal(name: str) -> list[str]:
        host = config.docker_hosts[name]
        findings = connection_findings(name, host, run)
        if host.engine_id and all(f.status is Status.OK for f in findings):
            findings.append(engine_finding(name, host, run(engine_command(host))))
        return [f.message for f in findings if f.status is Status.FAIL]

    with ThreadPoolExecutor(max_workers=max(1, len(ssh_hosts))) as pool:
        problems = [message for messages in pool.map(fatal, ssh_hosts) for message in messages]
    if problems:
        raise HostCheckError(problems)


def refuse_shared_reach(config: Settings, stack: str, project_dir: Path) -> None:
    """Prod reaches nothing that another stack of the project reaches: no Docker host identity,
    published port or Fly app of theirs (settings/isolation.py)."""
    problems = shared_reach_problems({stack: config, **sibling_settings(project_dir, stack)}, only=stack)
    if problems:
        raise SettingsError(problems)


def check_before_changes(config: Settings, stack: str, project_dir: Path) -> None:
    """Everything that must hold before the program declares a resource."""
    if config.environment is Tier.PROD:
        refuse_shared_reach(config, stack, project_dir)
    if config.environment is not Tier.LOCAL:
        # Prod derives it every time: a cached "not the example" could have been planted.
        refuse_example_passphrase(stack, project_dir, remember=config.environment is not Tier.PROD)
    check_docker_hosts(config)
