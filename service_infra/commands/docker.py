"""The docker CLI aimed at one engine, and the ssh options that trust only its pinned host key."""

from __future__ import annotations

from urllib.parse import urlsplit

from service_infra.boundary import for_remote_shell
from service_infra.settings import DockerHostSettings


def known_hosts_line(host: DockerHostSettings) -> str:
    """The pinned host key as a known_hosts line (port 22 hosts are written bare)."""
    pattern = host.ssh_host if host.ssh_port == 22 else f"[{host.ssh_host}]:{host.ssh_port}"
    return f"{pattern} {host.host_key}"


def ssh_options(host: DockerHostSettings) -> list[str]:
    """ssh options that trust only the pinned host key: no trust on first use, no prompts.

    The key is handed to ssh by KnownHostsCommand, so no known_hosts file (and no
    machine-specific path) is involved, and the user's own known_hosts is ignored.
    """
    options = [
        "-o", "StrictHostKeyChecking=yes",
        "-o", "UserKnownHostsFile=/dev/null",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", f"KnownHostsCommand=/bin/echo {known_hosts_line(host)}",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=10",
    ]  # fmt: skip
    if host.identity_file:
        options += ["-o", "IdentitiesOnly=yes", "-i", host.identity_file]
    return options


def ssh_command(host: DockerHostSettings) -> list[str]:
    """ssh to an SSH Docker host, trusting only its pinned key; the remote command follows."""
    user = urlsplit(host.url).username or ""
    return ["ssh", *ssh_options(host), "-p", str(host.ssh_port), "-l", user, "-T", "--", host.ssh_host]


def docker_cli(host: DockerHostSettings) -> list[str]:
    """The docker CLI aimed at this host's engine: over ssh (pinned key) for the Mac Mini, else
    the local CLI with -H. Arguments appended to an ssh prefix go through the remote shell, so
    callers append them with `service_infra.boundary.for_remote_shell`."""
    if not host.is_ssh:
        return ["docker", "-H", host.url]
    return [*ssh_command(host), "docker"]


def docker_command(host: DockerHostSettings, *args: str) -> list[str]:
    """A docker command for this host's engine, its arguments quoted for the remote shell over ssh."""
    if not host.is_ssh:
        return [*docker_cli(host), *args]
    return for_remote_shell(docker_cli(host), *args)


def remote_script(host: DockerHostSettings, script: str, *args: str) -> list[str]:
    """Run a POSIX sh script on an SSH host, whatever the login shell (zsh on a Mac); the
    script and its arguments are quoted for the remote shell here, never by hand."""
    return for_remote_shell(ssh_command(host), "/bin/sh", "-c", script, "service-infra", *args)
