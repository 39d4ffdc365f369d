"""SshHost: a private sshd on 127.0.0.1 whose sessions reach a DockerEngine (a stand-in Mac Mini)."""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from ._util import (
    LOOPBACK,
    Daemon,
    HarnessError,
    ensure_commands,
    free_port,
    is_root,
    machine_wide,
    run,
    stop_process,
    tail,
    wait_for,
)
from .docker_engine import DockerEngine

SSHD = "/usr/sbin/sshd"
DEFAULT_LOGIN_USER = "mini"


def generate_ed25519_key(path: Path, comment: str = "") -> str:
    """Write an ed25519 key pair at ``path`` / ``path.pub``; return the public key line
    ("ssh-ed25519 AAAA...", without comment)."""
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], timeout=60)
    return key_line(path.with_name(path.name + ".pub"))


def key_line(pub_path: Path) -> str:
    """ "<type> <base64>" from a .pub file (comment dropped)."""
    parts = pub_path.read_text().split()
    return f"{parts[0]} {parts[1]}"


class SshHost(Daemon):
    """A private ``sshd`` on 127.0.0.1:<free port> that stands in for the remote Docker host.

    - Own ed25519 host key (``host_key_line``) and a generated client key (``client_key_path``);
      public-key login only, no passwords.
    - Login user: as root, a system user ``mini`` (created if missing, added to the group that
      owns the engine's socket, normally ``docker``); when the engine's socket belongs to group
      root, the login user is ``root``. Not root: the current user (sshd then runs as that user).
    - Every session gets ``DOCKER_HOST=<engine.host>`` (sshd ``SetEnv``), so the remote
      ``docker system dial-stdio`` that ``docker -H ssh://...`` and the Pulumi Docker provider run
      reaches the DockerEngine.
    """

    def __init__(
        self,
        engine: DockerEngine,
        *,
        user: str | None = None,
        start_timeout: float = 30.0,
        base_dir: Path | str | None = None,
    ) -> None:
        self.engine = engine
        self.requested_user = user
        self.start_timeout = start_timeout
        self.base_dir = base_dir
        self.host = LOOPBACK
        self.user = ""
        self.port = 0
        self.host_key_line = ""
        self.client_key_path = Path()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> SshHost:
        if self._proc is None:
            if not self.engine.host:
                raise HarnessError("SshHost needs a started DockerEngine")
            ensure_commands(
                {SSHD: "openssh-server", "ssh": "openssh-client", "ssh-keygen": "openssh-client"}, "starting sshd"
            )
            self._start_in_tempdir("si-sshd-", 0o755)
        return self

    # -- what tests and Pulumi need ----------------------------------------------------------
    @property
    def docker_url(self) -> str:
        """``ssh://user@127.0.0.1:PORT`` for ``docker -H`` / the Pulumi Docker provider's host."""
        return f"ssh://{self.user}@{self.host}:{self.port}"

    @property
    def known_hosts_line(self) -> str:
        """The known_hosts line pinning this host key: ``[127.0.0.1]:PORT ssh-ed25519 AAAA...``."""
        return f"[{self.host}]:{self.port} {self.host_key_line}"

    def write_known_hosts(self, path: Path | str, key_line: str | None = None) -> Path:
        """Write a known_hosts file for this host; ``key_line`` overrides the key (to test a
        wrong pin). Returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"[{self.host}]:{self.port} {key_line or self.host_key_line}\n")
        path.chmod(0o644)
        return path

    def ssh_opts_for(self, known_hosts_path: Path | str) -> list[str]:
        """ssh options that pin the host key from ``known_hosts_path`` and log in with the client
        key, for ``ssh`` and for the Pulumi Docker provider's ``ssh_opts``."""
        return [
            "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known_hosts_path}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes",
            "-i", str(self.client_key_path),
            "-p", str(self.port),
        ]  # fmt: skip

    def ssh(
        self, *remote_command: str, known_hosts_path: Path | str, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a command on the host over ssh (words are shell-quoted)."""
        cmd = [
            "ssh",
            *self.ssh_opts_for(known_hosts_path),
            "-l", self.user,
            "--", self.host,
            " ".join(shlex.quote(w) for w in remote_command),
        ]  # fmt: skip
        return run(cmd, check=check, timeout=timeout)

    def docker_cli_env(self, known_hosts_path: Path | str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for a local ``docker`` CLI to reach this host with ``-H ssh://...``.

        The docker CLI takes no ssh options, so PATH starts with a directory holding an ``ssh``
        wrapper that adds :meth:`ssh_opts_for` (the wrapper is written next to the known_hosts).
        DOCKER_HOST is set to :attr:`docker_url`.
        """
        known = Path(known_hosts_path).resolve()
        wrapper_dir = known.parent / f".ssh-wrapper-{known.name}"
        wrapper_dir.mkdir(exist_ok=True)
        wrapper = wrapper_dir / "ssh"
        real_ssh = run(["sh", "-c", "command -v ssh"]).stdout.strip()
        opts = " ".join(shlex.quote(o) for o in self.ssh_opts_for(known))
        wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(real_ssh)} {opts} "$@"\n')
        wrapper.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY")}
        env["PATH"] = f"{wrapper_dir}{os.pathsep}{env.get('PATH', os.defpath)}"
        env["DOCKER_HOST"] = self.docker_url
        if extra:
            env.update(extra)
        return env

    def docker(
        self,
        *docker_args: str,
        known_hosts_path: Path | str,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        timeout: float = 600.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the local ``docker`` CLI against this host over ssh (``docker -H ssh://...``)."""
        return run(
            ["docker", *docker_args],
            env=self.docker_cli_env(known_hosts_path, env),
            check=check,
            timeout=timeout,
            input=input,
        )

    def go_down(self) -> None:
        """Stop sshd but keep its keys, config and port: the host is unreachable (connection
        refused) until :meth:`come_back`, as a Mac that is switched off."""
        stop_process(self._proc, timeout=self.stop_timeout)
        self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def come_back(self) -> None:
        """Start sshd again after :meth:`go_down`: same address, same host key."""
        assert self.dir is not None and self._proc is None, "come_back follows go_down"
        proc = self._spawn([SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config")], self.dir / "sshd.log")
        self._wait_listening(proc)

    # -- internals ---------------------------------------------------------------------------
    def _start(self) -> None:
        assert self.dir is not None
        d = self.dir
        self.user = self._login_user()
        self.host_key_line = generate_ed25519_key(d / "ssh_host_ed25519_key")
        self.client_key_path = d / "client_ed25519"
        client_pub = generate_ed25519_key(self.client_key_path, comment="service-infra-tests")
        (d / "authorized_keys").write_text(client_pub + "\n")
        (d / "authorized_keys").chmod(0o644)
        if is_root():
            Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)  # privilege separation dir
        self.port = free_port()
        self._prepare_home(d)
        config = self._write_config()
        proc = self._spawn([SSHD, "-D", "-e", "-f", str(config)], d / "sshd.log")
        self._wait_listening(proc)
        known = self.write_known_hosts(d / "known_hosts.check")
        probe = self.ssh("true", known_hosts_path=known, check=False, timeout=60)
        if probe.returncode != 0:
            raise HarnessError(
                f"ssh login as {self.user!r} to {self.host}:{self.port} failed (exit {probe.returncode}): "
                f"{probe.stderr.strip()}\nsshd log ({self.log_path}):\n{tail(self.log_path or '', 30)}"
            )

    def _prepare_home(self, d: Path) -> None:
        """What a variant puts in place before sshd starts (nothing here)."""

    def session_env(self) -> dict[str, str]:
        """What sshd sets in every session (one SetEnv line: sshd keeps only the first)."""
        return {"DOCKER_HOST": self.engine.host}

    def _write_config(self) -> Path:
        assert self.dir is not None
        d = self.dir
        config = d / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"ListenAddress {self.host}",
                    f"Port {self.port}",
                    f"HostKey {d / 'ssh_host_ed25519_key'}",
                    f"PidFile {d / 'sshd.pid'}",
                    f"AuthorizedKeysFile {d / 'authorized_keys'}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    f"AllowUsers {self.user}",
                    "PermitRootLogin prohibit-password" if self.user == "root" else "PermitRootLogin no",
                    "PermitUserEnvironment no",
                    "X11Forwarding no",
                    "PrintMotd no",
                    "PrintLastLog no",
                    # Pulumi opens many ssh connections at once (one per docker call).
                    "MaxStartups 100:30:200",
                    "MaxSessions 100",
                    "SetEnv " + " ".join(f"{k}={v}" for k, v in self.session_env().items()),
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        run([SSHD, "-t", "-f", str(config)], timeout=30)
        return config

    def _wait_listening(self, proc: subprocess.Popen[bytes]) -> None:
        wait_for(
            lambda: _port_open(self.host, self.port),
            self.start_timeout,
            f"sshd did not listen on {self.host}:{self.port} (log: {self.log_path})",
            alive=lambda: proc.poll() is None,
            details=lambda: tail(self.log_path or "", 30),
        )

    def _login_user(self) -> str:
        if not is_root():
            me = pwd.getpwuid(os.geteuid()).pw_name
            if self.requested_user not in (None, me):
                raise HarnessError(f"not root: sshd can only log in as the current user {me!r}")
            return me
        sock_gid = self._socket_group()
        if self.requested_user == "root" or (self.requested_user is None and sock_gid == 0):
            return "root"
        name = self.requested_user or DEFAULT_LOGIN_USER
        groups = {g for g in ("docker",) if _group_exists(g)}
        if sock_gid is not None and sock_gid != 0:
            groups.add(grp.getgrgid(sock_gid).gr_name)
        ensure_login_user(name, groups)
        return name

    def _socket_group(self) -> int | None:
        path = self.engine.socket_path
        if path is None:
            return None
        try:
            st = path.stat()
        except OSError as e:
            raise HarnessError(f"the engine socket {path} is not reachable: {e}") from e
        if not stat.S_ISSOCK(st.st_mode):
            raise HarnessError(f"{path} is not a socket")
        return st.st_gid

    def __repr__(self) -> str:
        return f"SshHost({self.docker_url!r})"


class MacLikeSshHost(SshHost):
    """An SshHost that fails the way a Mac Mini does over SSH, in a home of its own:

    - ``docker`` is not on the PATH of a non-interactive session: it lives in ``~/.docker/bin``
      (Docker Desktop's per-user install), and the session PATH holds the system's commands
      without any ``docker*`` (as macOS's /usr/bin:/bin:/usr/sbin:/sbin);
    - ``~/.docker/config.json`` names ``credsStore: lockedkeychain``, whose helper (next to
      docker) fails as the locked login keychain does: "User interaction is not allowed.".

    :meth:`apply_path_fix` is the runbook's fix (sshd ``SetEnv PATH=<docker dir>:...``), applied
    to this private sshd (reloaded with SIGHUP, same port and host key).
    """

    KEYCHAIN_ERROR = "User interaction is not allowed."

    path_fixed = False

    @property
    def home(self) -> Path:
        assert self.dir is not None
        return self.dir / "home"

    @property
    def docker_dir(self) -> Path:
        return self.home / ".docker" / "bin"

    def session_env(self) -> dict[str, str]:
        system = str(self.home.parent / "system-bin")
        path = f"{self.docker_dir}:{system}" if self.path_fixed else system
        return {**super().session_env(), "HOME": str(self.home), "PATH": path}

    def _prepare_home(self, d: Path) -> None:
        system = d / "system-bin"
        system.mkdir()
        for directory in ("/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"):
            for entry in sorted(Path(directory).iterdir()) if Path(directory).is_dir() else []:
                target = system / entry.name
                if not entry.name.startswith("docker") and not target.exists() and os.access(entry, os.X_OK):
                    target.symlink_to(entry)
        self.docker_dir.mkdir(parents=True)
        real_docker = run(["sh", "-c", "command -v docker"]).stdout.strip()
        (self.docker_dir / "docker").symlink_to(real_docker)
        helper = self.docker_dir / "docker-credential-lockedkeychain"
        helper.write_text(f"#!/bin/sh\necho '{self.KEYCHAIN_ERROR}'\nexit 1\n")
        (self.home / ".docker" / "config.json").write_text('{\n  "auths": {},\n  "credsStore": "lockedkeychain"\n}\n')
        for path in (self.home, self.home / ".docker", self.docker_dir, helper):
            path.chmod(0o755)

    def apply_path_fix(self) -> None:
        """The runbook's fix: docker's folder first on every session's PATH (sshd SetEnv)."""
        assert self._proc is not None
        self.path_fixed = True
        self._write_config()
        self._proc.send_signal(signal.SIGHUP)  # sshd re-executes itself with the new config
        time.sleep(1)
        self._wait_listening(self._proc)

    def __repr__(self) -> str:
        return f"MacLikeSshHost({self.docker_url!r})"


class HoldingSshHost(SshHost):
    """An SshHost whose ``docker`` can be held at one command, so a test can kill an update at an
    instant no event marks (between two docker calls a few milliseconds apart).

    :meth:`hold` names a part of a docker command line (e.g. ``"network connect --alias"``): the
    first session that runs a matching command stops there (:meth:`held` turns true), and exits 1
    without running it once :meth:`release` is called. Every other docker command, the Docker
    provider's ``docker system dial-stdio`` included, runs as usual: only the session's PATH has a
    ``docker`` of its own first.
    """

    # The PATH of a session on Debian's sshd, without a PATH of its own.
    SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    @property
    def hold_dir(self) -> Path:
        assert self.dir is not None
        return self.dir / "hold"

    def session_env(self) -> dict[str, str]:
        return {**super().session_env(), "PATH": f"{self.hold_dir / 'bin'}:{self.SESSION_PATH}"}

    def _prepare_home(self, d: Path) -> None:
        real_docker = run(["sh", "-c", "command -v docker"]).stdout.strip()
        hold = self.hold_dir
        (hold / "bin").mkdir(parents=True)
        wrapper = hold / "bin" / "docker"
        wrapper.write_text(
            "#!/bin/sh\n"
            f"hold={shlex.quote(str(hold))}\n"
            'if [ -f "$hold/gate" ] && [ ! -e "$hold/reached" ]; then\n'
            '  case "$*" in\n'
            '  *"$(cat "$hold/gate")"*)\n'
            '    echo "$*" > "$hold/reached"\n'
            '    while [ -f "$hold/gate" ]; do sleep 0.05; done\n'
            "    exit 1 ;;\n"
            "  esac\n"
            "fi\n"
            f'exec {shlex.quote(real_docker)} "$@"\n'
        )
        for path in (hold, hold / "bin", wrapper):
            path.chmod(0o755)
        # The login user's sessions mark the held command here.
        os.chown(hold, pwd.getpwnam(self.user).pw_uid, -1)

    def hold(self, command: str) -> None:
        """The next docker command line holding COMMAND waits, and never runs."""
        (self.hold_dir / "reached").unlink(missing_ok=True)
        (self.hold_dir / "gate").write_text(command)
        (self.hold_dir / "gate").chmod(0o644)

    def held(self) -> str:
        """The command line being held ('' until one is)."""
        try:
            return (self.hold_dir / "reached").read_text().strip()
        except FileNotFoundError:
            return ""

    def release(self) -> None:
        """The held command exits 1 without running; nothing is held from now on."""
        (self.hold_dir / "gate").unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"HoldingSshHost({self.docker_url!r})"


def ensure_login_user(name: str, groups: set[str] | frozenset[str] = frozenset()) -> None:
    """A system user NAME (with a group of its own name) that sshd lets log in with a key, and
    in GROUPS. Root only; the suite's parallel workers may all add the same user at once."""
    with machine_wide("users"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            run(["useradd", "--system", "--create-home", "--user-group", "--shell", "/bin/sh", name], timeout=60)
        # A locked password ("!") makes sshd (UsePAM no) refuse even key logins; "*" = no password.
        run(["usermod", "-p", "*", name], timeout=60)
        if groups:
            run(["usermod", "-a", "-G", ",".join(sorted(groups)), name], timeout=60)


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
