"""DockerEngine: the user's Docker engine if one answers, else a private dockerd in a temp dir."""

from __future__ import annotations

import ipaddress
import json
import os
import random
import secrets
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from ._util import (
    Daemon,
    HarnessError,
    ensure_commands,
    is_root,
    machine_wide,
    make_tempdir,
    run,
    stop_process,
    tail,
    wait_for,
)

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
# Private engines take a /16 from 10.200.0.0-10.254.255.255 that no local address or route uses:
# 10.N.0.1/24 is their bridge (and the host-gateway address), 10.N.128.0/17 their pool for
# user-defined networks. The persistent engine of scripts/ensure-docker-engine.sh keeps Docker's
# defaults (docker0 = 172.17.0.1/16, pools in 172.17-31/16 and 192.168/16), so they never overlap.
_PRIVATE_SECOND_OCTETS = range(200, 255)


def _docker_env(host: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")}
    env["DOCKER_HOST"] = host
    if extra:
        env.update(extra)
    return env


def _answers(host: str, timeout: float = 20.0) -> bool:
    try:
        proc = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            env=_docker_env(host),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (subprocess.TimeoutExpired, FileNotFoundError):
        return False
    return proc.returncode == 0 and bool(proc.stdout.strip())


# The default bridge of each private dockerd: BRIDGE_PREFIX + 8 hex digits.
BRIDGE_PREFIX = "sidk"


def _kernel_has_overlayfs() -> bool:
    try:
        return any(line.split()[-1] == "overlay" for line in Path("/proc/filesystems").read_text().splitlines())
    except OSError:
        return False


def existing_engine_host() -> str | None:
    """The engine the user's docker CLI talks to (DOCKER_HOST, else current context, else the
    default socket) if it answers ``docker info``; else None."""
    host = os.environ.get("DOCKER_HOST")
    if not host:
        try:
            proc = subprocess.run(
                ["docker", "context", "inspect", "--format", "{{.Endpoints.docker.Host}}"],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            )
            host = proc.stdout.strip() if proc.returncode == 0 else ""
        except (subprocess.TimeoutExpired, FileNotFoundError):
            host = ""
        host = host or DEFAULT_SOCKET
    return host if _answers(host) else None


class DockerEngine(Daemon):
    """A Docker engine for the tests.

    ``use_existing=True`` (default; env ``SERVICE_INFRA_TEST_PRIVATE_DOCKERD=1`` flips it) uses the
    engine the docker CLI already reaches. Otherwise, or when none answers, it starts (as root) a
    private ``dockerd`` whose socket, data root, exec root, pid file and log live in a temp dir:
    overlay2 storage (vfs where overlayfs is missing), no iptables, its own bridge ``sidk<hex>`` with 10.N.0.1/24 (published ports use
    the userland proxy; ``--add-host host.docker.internal:host-gateway`` resolves to 10.N.0.1).
    Everything it created is removed by :meth:`stop`.
    """

    stop_timeout = 40.0

    def __init__(
        self,
        *,
        use_existing: bool | None = None,
        start_timeout: float = 60.0,
        base_dir: Path | str | None = None,
        socket_group: str | None = None,
    ) -> None:
        # A private engine whose socket only this group may open (dockerd --group), as one
        # environment's engine on a shared host is only its own user's; unset: docker's default.
        self.socket_group = socket_group
        if use_existing is None:
            use_existing = os.environ.get("SERVICE_INFRA_TEST_PRIVATE_DOCKERD", "") not in ("1", "true", "yes")
        self.use_existing = use_existing
        self.start_timeout = start_timeout
        self.base_dir = base_dir
        self.host: str = ""
        self.private = False
        self.bridge: str | None = None
        # overlay2 where the kernel has overlayfs: vfs copies an image's whole filesystem for each
        # container made from it, which kept the suite's workers waiting on the CPU.
        self.storage_driver = "overlay2" if _kernel_has_overlayfs() else "vfs"
        self.bridge_ip: str | None = None
        self._dockerd_args: list[str] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> DockerEngine:
        if self.host:
            return self
        if self.use_existing:
            host = existing_engine_host()
            if host:
                self.host = host
                return self
        self._start_private()
        return self

    def stop(self) -> None:
        if not self.private:
            self.host = ""
            return
        # dockerd leaves the bridges of networks still defined when it stops: remove them too.
        leftovers = [self.bridge, *self._network_bridges()] if self.bridge else []
        self._stop_process_and_dir()
        for bridge in leftovers:
            subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)
        self._forget()
        self.bridge = None
        self.host = ""
        self.private = False

    # -- use ---------------------------------------------------------------------------------
    @property
    def socket_path(self) -> Path | None:
        """The local unix socket path of the engine, if it is reached through one."""
        return Path(self.host[len("unix://") :]) if self.host.startswith("unix://") else None

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """``os.environ`` with DOCKER_HOST set to this engine (DOCKER_CONTEXT removed)."""
        self._require_started()
        return _docker_env(self.host, extra)

    def run(
        self,
        *docker_args: str,
        check: bool = True,
        timeout: float = 600.0,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker <docker_args>`` against this engine; text output captured.

        ``env`` adds variables (e.g. ``{"DOCKER_CONFIG": dir}``). With ``check`` a non-zero exit
        raises :class:`HarnessError` with stdout/stderr.
        """
        return run(["docker", *docker_args], env=self.env(env), check=check, timeout=timeout, input=input)

    @property
    def gateway_ip(self) -> str:
        """The address ``host-gateway`` resolves to in containers (default bridge gateway)."""
        if self.bridge_ip:
            return self.bridge_ip
        fmt = '{{json .IPAM.Config}}|{{index .Options "com.docker.network.bridge.name"}}'
        config_json, _, bridge = self.run("network", "inspect", "bridge", "--format", fmt).stdout.strip().partition("|")
        configs = json.loads(config_json or "[]") or []
        for cfg in configs:
            if cfg.get("Gateway"):
                return str(cfg["Gateway"])
        # The default bridge often has no Gateway in IPAM: read the bridge's own address.
        if bridge and self.socket_path is not None:
            out = run(["ip", "-4", "-o", "addr", "show", "dev", bridge], check=False, timeout=30).stdout.split()
            if "inet" in out:
                return out[out.index("inet") + 1].split("/")[0]
        for cfg in configs:
            if cfg.get("Subnet"):
                return str(next(ipaddress.ip_network(cfg["Subnet"], strict=False).hosts()))
        raise HarnessError(f"cannot tell the bridge gateway of {self.host}: {config_json!r}")

    def _require_started(self) -> None:
        if not self.host:
            raise HarnessError("DockerEngine is not started (use it as a context manager or call start())")

    # -- private dockerd ---------------------------------------------------------------------
    def _start_private(self) -> None:
        if not is_root():
            raise HarnessError(
                "no Docker engine answers (DOCKER_HOST / current context / "
                f"{DEFAULT_SOCKET}) and starting a private dockerd needs root. Start Docker, or run "
                "scripts/ensure-docker-engine.sh as root, or run the tests as root."
            )
        ensure_commands({"dockerd": "docker.io", "docker": "docker.io", "ip": "iproute2"}, "starting a private dockerd")
        self.dir = make_tempdir("si-dockerd-", self.base_dir)
        self.private = True
        self.log_path = self.dir / "dockerd.log"
        sock = self.dir / "docker.sock"
        try:
            # A subnet is taken once its bridge has the address: engines starting at once (the
            # suite's parallel workers) take turns, so no two pick the same.
            with machine_wide("subnets"):
                second = self._pick_subnet()
                self.bridge = BRIDGE_PREFIX + secrets.token_hex(4)
                self.bridge_ip = f"10.{second}.0.1"
                self._record()  # before the bridge exists: a kill from here on leaves it to the next run
                for cmd in (
                    ["ip", "link", "add", "name", self.bridge, "type", "bridge"],
                    ["ip", "addr", "add", f"{self.bridge_ip}/24", "dev", self.bridge],
                    ["ip", "link", "set", self.bridge, "up"],
                ):
                    run(cmd, timeout=30)
            args = [
                "dockerd",
                f"--host=unix://{sock}",
                f"--data-root={self.dir / 'data'}",
                f"--exec-root={self.dir / 'exec'}",
                f"--pidfile={self.dir / 'dockerd.pid'}",
                f"--storage-driver={self.storage_driver}",
                "--iptables=false",
                "--ip6tables=false",
                f"--bridge={self.bridge}",
                f"--default-address-pool=base=10.{second}.128.0/17,size=24",
                *([f"--group={self.socket_group}"] if self.socket_group else []),
            ]
            self._dockerd_args = args
            self.host = f"unix://{sock}"
            try:
                self._spawn_dockerd()
            except HarnessError:
                if self.storage_driver == "vfs":
                    raise
                # A data root overlayfs cannot sit on (itself on overlayfs, as in some containers).
                stop_process(self._proc, timeout=60)
                self.storage_driver = "vfs"
                self._dockerd_args = [
                    "--storage-driver=vfs" if arg.startswith("--storage-driver=") else arg for arg in args
                ]
                self._spawn_dockerd()
        except BaseException:
            self.stop()
            raise

    def _record_extra(self) -> dict[str, str]:
        if not self.bridge or not self.bridge_ip:
            return {}
        # Its networks' bridges (br-<id>) take addresses from the same /16.
        subnet = str(ipaddress.ip_network(f"{self.bridge_ip}/16", strict=False))
        return {"bridge": self.bridge, "subnet": subnet}

    def _spawn_dockerd(self, args: list[str] | None = None) -> None:
        proc = self._spawn(args or self._dockerd_args, self.log_path or Path(os.devnull))
        wait_for(
            lambda: _answers(self.host, timeout=10),
            self.start_timeout,
            f"dockerd did not answer on {self.host} (log: {self.log_path})",
            interval=0.5,
            alive=lambda: proc.poll() is None,
            details=lambda: tail(self.log_path or "", 30),
        )

    def _network_bridges(self) -> list[str]:
        """The Linux bridges of this engine's user-defined bridge networks (br-<id>)."""
        if not self.host or self._proc is None or self._proc.poll() is not None:
            return []
        args = ["network", "ls", "-q", "--no-trunc", "--filter", "driver=bridge"]
        done = subprocess.run(["docker", *args], env=self.env(), capture_output=True, text=True, check=False)
        return [f"br-{network_id[:12]}" for network_id in done.stdout.split()]

    def restart(self) -> float:
        """Stop the private dockerd (SIGTERM: containers stop as on a shutdown) and start it again
        with the same data root, socket and bridge, as after a reboot of the host. Returns the
        time.monotonic() at which the new dockerd was started."""
        if not self.private:
            raise HarnessError("only a private dockerd the harness started may be restarted")
        stop_process(self._proc, timeout=60)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        started = time.monotonic()
        # Without its address pools: a dockerd that finds its stale default network in the data
        # root and has pools configured deletes the interface docker0 by name, whichever bridge it
        # uses (moby v28.5 daemon/daemon_unix.go, "Clear stale bridge network" ->
        # removeDefaultBridgeInterface), which takes another engine's bridge with it. Networks that
        # already exist keep their stored subnets; the pools only serve new ones.
        self._spawn_dockerd([arg for arg in self._dockerd_args if not arg.startswith("--default-address-pool=")])
        return started

    @staticmethod
    def _pick_subnet() -> int:
        used: list[ipaddress.IPv4Network] = []
        for cmd in (["ip", "-4", "-o", "addr", "show"], ["ip", "-4", "route", "show", "table", "all"]):
            out = run(cmd, check=False, timeout=30).stdout
            for word in out.split():
                try:
                    net = ipaddress.ip_network(word, strict=False)
                except ValueError:
                    continue
                if isinstance(net, ipaddress.IPv4Network) and net.prefixlen >= 8:
                    used.append(net)
        candidates = list(_PRIVATE_SECOND_OCTETS)
        random.shuffle(candidates)
        for second in candidates:
            mine = ipaddress.ip_network(f"10.{second}.0.0/16")
            if not any(mine.overlaps(net) for net in used):
                return second
        raise HarnessError("no free 10.N.0.0/16 (N in 200..254) for a private dockerd bridge")

    def __repr__(self) -> str:
        kind = "private" if self.private else "existing"
        return f"DockerEngine({kind}, host={self.host!r})"
