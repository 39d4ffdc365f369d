"""Small shared helpers: errors, ports, waiting, subprocesses, temp dirs, apt, locks."""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from .runs import Marker, mark

LOOPBACK = "127.0.0.1"

# Loopback URLs must never go through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class HarnessError(RuntimeError):
    """A part of the integration harness could not start or misbehaved.

    The message always says what failed and where to look (log path / log tail).
    """


# Ports the harness hands out come from below the kernel's ephemeral range (32768-60999 on
# Linux): a port picked inside it can be taken by any outgoing connection (an SSH session, a
# registry pull) before Docker publishes it, and the proxy then fails to start.
_PORT_RANGE = range(20000, 32000)
# Each handed-out port stays reserved by an flock for this process's lifetime, so two xdist
# workers (or two suites on one machine) never get the same one.
_PORT_LOCKS: list[IO[str]] = []


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` and on every address right now, outside the ephemeral
    range, and reserved for this process against every other process that asks here."""
    return free_ports(1, host).start


def free_ports(count: int, host: str = LOOPBACK) -> range:
    """COUNT consecutive ports, each as :func:`free_port` gives one (free, outside the ephemeral
    range, reserved for this process): a pool such as the previews' `preview.ports`."""
    lock_dir = Path(tempfile.gettempdir()) / "si-harness-ports"
    lock_dir.mkdir(exist_ok=True)
    starts = list(range(_PORT_RANGE.start, _PORT_RANGE.stop - count + 1, count))
    random.shuffle(starts)
    for start in starts:
        held = []
        for port in range(start, start + count):
            handle = (lock_dir / str(port)).open("a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                break
            held.append(handle)
            if not (_bindable(host, port) and _bindable("0.0.0.0", port)):
                break
        else:
            _PORT_LOCKS.extend(held)
            return range(start, start + count)
        for handle in held:
            handle.close()
    raise HarnessError(f"no {count} free consecutive TCP ports in {_PORT_RANGE.start}-{_PORT_RANGE.stop - 1} on {host}")


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def wait_http(
    url: str,
    timeout: float = 60.0,
    *,
    status: int | None = 200,
    interval: float = 0.5,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    """Poll ``url`` until it answers with HTTP ``status`` (any status if ``None``).

    Returns ``(status, body)``; raises :class:`HarnessError` naming the last error on timeout.
    """
    deadline = time.monotonic() + timeout
    last = "no attempt made"
    while True:
        request = urllib.request.Request(url, headers=dict(headers or {}))
        try:
            with _OPENER.open(request, timeout=min(5.0, max(timeout, 0.1))) as resp:
                code, body = int(resp.status), resp.read()
        except urllib.error.HTTPError as e:
            code, body = int(e.code), e.read()
        except (OSError, ValueError) as e:  # connection refused/reset, timeouts, bad status line
            code, body = -1, b""
            last = f"{type(e).__name__}: {e}"
        if code >= 0:
            if status is None or code == status:
                return code, body
            last = f"HTTP {code}: {body[:200]!r}"
        if time.monotonic() >= deadline:
            want = "any HTTP answer" if status is None else f"HTTP {status}"
            raise HarnessError(f"{url} did not answer with {want} within {timeout:.0f}s; last: {last}")
        time.sleep(interval)


def http_get(url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    """One GET without proxies; returns ``(status, body)`` also for HTTP error statuses."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read()


def wait_for(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    *,
    interval: float = 0.5,
    alive: Callable[[], bool] | None = None,
    details: Callable[[], str] | None = None,
) -> None:
    """Wait until ``predicate()`` is true; fail early when ``alive()`` turns false."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        extra = f"\n{details()}" if details else ""
        if alive is not None and not alive():
            raise HarnessError(f"{what}: the process exited during start-up{extra}")
        if time.monotonic() >= deadline:
            raise HarnessError(f"{what}: did not happen within {timeout:.0f}s{extra}")
        time.sleep(interval)


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Holds an exclusive lock on LOCK_PATH (made if missing) across processes: the suite's
    parallel workers take turns at what only one may do at a time, e.g. adding a system user."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


def machine_wide(name: str) -> contextlib.AbstractContextManager[None]:
    """:func:`exclusive` on a lock that every process of this machine finds, for what is one per
    machine: its system users, its apt, its private engines' subnets."""
    return exclusive(Path(tempfile.gettempdir()) / f"si-harness-{name}.lock")


def tail(path: Path | str, lines: int = 30) -> str:
    """The last ``lines`` lines of a text file ('' when it does not exist)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def run(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 600.0,
    input: str | None = None,
    cwd: Path | str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command capturing text output; with ``check`` raise HarnessError including output."""
    try:
        proc = subprocess.run(
            list(cmd),
            env=dict(env) if env is not None else None,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired as e:
        raise HarnessError(f"command timed out after {timeout:.0f}s: {' '.join(cmd)}") from e
    except FileNotFoundError as e:
        raise HarnessError(f"command not found: {cmd[0]} ({e})") from e
    if check and proc.returncode != 0:
        raise HarnessError(
            f"command failed (exit {proc.returncode}): {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
        )
    return proc


def is_root() -> bool:
    return os.geteuid() == 0


def make_tempdir(prefix: str, base_dir: Path | str | None = None, mode: int = 0o711) -> Path:
    """A fresh temp dir. Kept short (unix socket paths are limited to ~108 bytes).

    Mode 0711 lets another local user (the SSH login user) traverse to a socket inside.
    """
    base = Path(base_dir) if base_dir is not None else Path(tempfile.gettempdir())
    if len(str(base)) > 40:
        base = Path("/tmp")
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    path.chmod(mode)
    return path


def remove_tree(path: Path) -> None:
    """Remove a temp tree, unmounting anything still mounted below it first."""
    if not path.exists():
        return
    try:
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    except OSError:
        mounts = []
    prefix = str(path.resolve()) + "/"
    for mnt in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mnt], capture_output=True, check=False)
    shutil.rmtree(path, ignore_errors=True)


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> None:
    """SIGTERM, wait, then SIGKILL a process we started (never anything else)."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


class Daemon:
    """A background process the harness owns, with a temp dir and a log of its own.

    ``with X(...) as x:`` starts it and stops it; :meth:`stop` is safe to repeat and removes
    everything the daemon left (process, log handle, temp dir).
    """

    base_dir: Path | str | None = None
    dir: Path | None = None
    log_path: Path | None = None
    stop_timeout: float = 15.0
    _proc: subprocess.Popen[bytes] | None = None
    _log_file: IO[bytes] | None = None
    # Its record under runs.ROOT, from when it has a temp dir until all of it is gone.
    _marker: Marker | None = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Self:
        raise NotImplementedError

    def _start(self) -> None:
        raise NotImplementedError

    def _start_in_tempdir(self, prefix: str, mode: int) -> None:
        """Run :meth:`_start` in a fresh temp dir; a failed start leaves nothing behind."""
        self.dir = make_tempdir(prefix, self.base_dir, mode=mode)
        self._record()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _spawn(
        self, args: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start the daemon in its own session, stdout and stderr to ``log_path`` (appended to when
        the daemon is started again), with ``env`` added to this process's environment."""
        self.log_path = log_path
        if self._log_file is not None:
            self._log_file.close()
        self._log_file = open(log_path, "ab")  # noqa: SIM115 - kept open for the daemon's lifetime
        self._proc = subprocess.Popen(
            list(args),
            env={**os.environ, **env} if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._record()
        return self._proc

    def _record(self) -> None:
        """Record what a later session must stop and remove if this one is killed (runs.py)."""
        if self._marker is None:
            self._marker = mark(type(self).__name__)
        pid = self._proc.pid if self._proc is not None and self._proc.poll() is None else None
        self._marker.write(pid=pid, dir=str(self.dir) if self.dir else None, **self._record_extra())

    def _record_extra(self) -> dict[str, str]:
        return {}

    def _forget(self) -> None:
        if self._marker is not None:
            self._marker.remove()
            self._marker = None

    def stop(self) -> None:
        self._stop_process_and_dir()
        self._forget()

    def _stop_process_and_dir(self) -> None:
        stop_process(self._proc, timeout=self.stop_timeout)
        self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.dir is not None:
            remove_tree(self.dir)
            self.dir = None


def ensure_commands(commands: Mapping[str, str], why: str) -> None:
    """Make sure each command exists; install its Debian package with apt-get as root.

    ``commands`` maps a command name (or absolute path) to the Debian package providing it.
    """
    missing = {cmd: pkg for cmd, pkg in commands.items() if not _have(cmd)}
    if not missing:
        return
    pkgs = sorted(set(missing.values()))
    if not is_root():
        raise HarnessError(
            f"{why}: missing {', '.join(missing)}; install the Debian package(s) "
            f"{' '.join(pkgs)} (apt-get install {' '.join(pkgs)}) or run the tests as root"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends", *pkgs]
    # One apt at a time on this machine (the suite's parallel workers start their parts at once).
    with machine_wide("apt"):
        if all(_have(cmd) for cmd in missing):
            return  # another worker installed them while this one waited
        proc = run(install, env=env, check=False, timeout=900)
        if proc.returncode != 0:
            run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "update"], env=env, check=False, timeout=600)
            proc = run(install, env=env, check=False, timeout=900)
    still = [cmd for cmd in missing if not _have(cmd)]
    if proc.returncode != 0 or still:
        raise HarnessError(
            f"{why}: could not install {' '.join(pkgs)} with apt-get (exit {proc.returncode}):\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )


def _have(cmd: str) -> bool:
    if os.path.isabs(cmd):
        return os.access(cmd, os.X_OK)
    return shutil.which(cmd) is not None
