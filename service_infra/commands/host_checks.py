"""The command lines of the checks on a Docker host (`preflight` before `up`, and `doctor`): each
asks the host one thing over the same pinned ssh path the program uses, and changes nothing."""

from __future__ import annotations

import shlex

from service_infra.commands.docker import docker_command, remote_script
from service_infra.settings import DockerHostSettings


def ssh_check_command(host: DockerHostSettings) -> list[str]:
    """What the Docker provider will do over SSH, reduced to asking the engine its version."""
    return docker_command(host, "version", "--format", "{{.Server.Version}}")


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


def engine_command(host: DockerHostSettings) -> list[str]:
    """The engine's ID: what tells two engines on one host apart (one per environment)."""
    return docker_command(host, "info", "--format", "{{.ID}}")


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


def free_disk_command(host: DockerHostSettings) -> list[str]:
    """Free KiB on the volume holding the user's home (where Docker Desktop, colima and
    OrbStack keep their disk images)."""
    return remote_script(host, 'df -Pk "$HOME" | tail -n 1')


def ollama_command(host: DockerHostSettings, proxy_image: str, port: int) -> list[str]:
    """Reach host.docker.internal:<port> from a throwaway container (the proxy image has curl),
    resolved as the services' containers resolve it; `--pull never` so nothing is downloaded."""
    args = [
        "run", "--rm", "--pull", "never", "--add-host", "host.docker.internal:host-gateway",
        "--entrypoint", "curl", proxy_image, "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
        f"http://host.docker.internal:{port}/api/version",
    ]  # fmt: skip
    return docker_command(host, *args)
