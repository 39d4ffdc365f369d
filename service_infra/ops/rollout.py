"""Putting a new container version live behind the proxy, and retiring the one it replaces.

A service on a Docker host is one proxy container (it owns the published port) and app
containers on the service's own network. The proxy sends requests to whichever containers hold
the network alias `live`. A rollout creates the new version's container beside the old one;
``activate`` (the create step of its command resource) waits until it answers its health URL
(asked from inside the proxy, so the app image needs no curl) and only then gives it the alias;
the old version keeps serving until then, and keeps serving if the new one never becomes
healthy: that is known as soon as it exits, or fails its checks after its start period. ``retire`` (the delete step of the old version's command
resource, which Pulumi runs after the new one is live) stops the old container gracefully, so
its in-flight requests finish and new ones go to the new version.

``python3 -m service_infra.ops.rollout activate|retire|configure-proxy ...`` runs them (the last
puts a changed nginx configuration in the running proxy); the docker CLI to use (local
``docker -H ...`` or ``ssh ... docker`` with the pinned host key) comes as JSON in
SERVICE_INFRA_DOCKER_CLI. Standard library only, and from the rest of service_infra only
``service_infra.boundary`` (standard library too), so any ``python3`` can run it;
``service_infra.commands.rollout`` builds its command lines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from service_infra.boundary import DOCKER_CLI_ENV, LIVE_ALIAS, Activation, Progress, for_remote_shell

POLL_SECONDS = 1.0
# How long the proxy trusts Docker DNS about the live alias (its nginx `resolver ... valid=`).
PROXY_DNS_VALID_SECONDS = 1
# Failed health checks in a row, after the start period, that fail a rollout (Docker's default).
HEALTH_RETRIES = 3
PROBE_TIMEOUT_SECONDS = 3
# How much of a failed version's log its error shows.
LOG_LINES = 20
# How much of the last failed probe a progress line shows.
PROGRESS_DETAIL_CHARS = 120
# After joining the alias, until the proxy has certainly seen it: only then may the old version
# stop (without this wait, a switch done at once fails requests: benchmarks/rollout.py shows it).
SETTLE_SECONDS = PROXY_DNS_VALID_SECONDS + 1.0
# How long the shared SSH connection may take to come up before commands go on without it.
MASTER_START_SECONDS = 15.0


class RolloutError(Exception):
    pass


# The folder of a run's SSH control socket: the prefix, the pid of the run that owns it, a suffix.
CONTROL_DIR_PREFIX = "si-ssh-"


def remove_dead_control_dirs(parent: str) -> None:
    """The control-socket folders that killed runs left in PARENT (a SIGKILL skips the clean-up):
    those of this user whose owner is no longer running."""
    for entry in os.scandir(parent):
        pid = entry.name.removeprefix(CONTROL_DIR_PREFIX).split("-", 1)[0]
        if not entry.name.startswith(CONTROL_DIR_PREFIX) or not pid.isdigit():
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:  # gone meanwhile, or a live process of another user
            continue


class Docker:
    """The docker CLI for one engine. Over ssh the remote shell re-splits the command line, so
    every argument is quoted there."""

    def __init__(self, prefix: Sequence[str]) -> None:
        if not prefix:
            raise RolloutError(f"{DOCKER_CLI_ENV} is empty: it must hold the docker command as a JSON list")
        self.prefix = list(prefix)
        self.remote = self.prefix[0] == "ssh"
        self._master: subprocess.Popen[bytes] | None = None
        self._control_dir: str | None = None

    def __enter__(self) -> Docker:
        if self.remote and "--" in self.prefix:
            self._share_one_connection()
        return self

    def __exit__(self, *_: object) -> None:
        if self._master is not None:
            self._master.terminate()
            try:
                self._master.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._master.kill()
            self._master = None
        if self._control_dir is not None:
            shutil.rmtree(self._control_dir, ignore_errors=True)
            self._control_dir = None

    def _share_one_connection(self) -> None:
        """Every docker command of this run over one SSH connection (a master this process owns,
        its socket in a private temp dir): one handshake instead of one per command. If the master
        cannot start, each command falls back to a connection of its own."""
        cut = self.prefix.index("--")
        options, destination = self.prefix[1:cut], self.prefix[cut + 1 : cut + 2]
        # A short path: a Unix socket's path has ~100 bytes (macOS), and ssh adds 17 while binding.
        parent = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
        remove_dead_control_dirs(parent)
        self._control_dir = tempfile.mkdtemp(prefix=f"{CONTROL_DIR_PREFIX}{os.getpid()}-", dir=parent)
        socket_path = os.path.join(self._control_dir, "master")
        control = ["-o", f"ControlPath={socket_path}"]
        self._master = subprocess.Popen(
            ["ssh", *control, "-o", "ControlMaster=yes", *options, "-N", "--", *destination],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + MASTER_START_SECONDS
        while not os.path.exists(socket_path) and self._master.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        self.prefix = ["ssh", *control, "-o", "ControlMaster=no", *self.prefix[1:]]

    @classmethod
    def from_environ(cls, environ: dict[str, str] | os._Environ[str]) -> Docker:
        raw = environ.get(DOCKER_CLI_ENV, "")
        try:
            prefix = json.loads(raw)
        except ValueError:
            raise RolloutError(f"{DOCKER_CLI_ENV} must hold the docker command as a JSON list, got {raw!r}") from None
        return cls(prefix)

    def argv(self, *args: str) -> list[str]:
        return for_remote_shell(self.prefix, *args) if self.remote else [*self.prefix, *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout, check=False)
        except FileNotFoundError:
            raise RolloutError(f"`{self.prefix[0]}` is not on PATH: install the docker CLI (and ssh)") from None
        except subprocess.TimeoutExpired:
            raise RolloutError(f"`docker {' '.join(args[:2])}` did not answer within {timeout:.0f}s") from None

    def check(self, *args: str, timeout: float = 120) -> str:
        done = self.run(*args, timeout=timeout)
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip() or f"exit {done.returncode}"
            raise RolloutError(f"`docker {' '.join(args[:2])}` failed: {detail}")
        return done.stdout

    def inspect(self, container: str) -> dict[str, Any] | None:
        """The container's `docker inspect` document, or None when it does not exist."""
        done = self.run("container", "inspect", container)
        if done.returncode != 0:
            if "no such" in (done.stderr + done.stdout).lower():
                return None
            raise RolloutError(f"`docker container inspect {container}` failed: {done.stderr.strip()}")
        found = json.loads(done.stdout)
        return found[0] if found else None


def clip(text: str, limit: int, secrets: dict[str, str]) -> str:
    """TEXT on one line and at most LIMIT characters, its secret values masked first: a cut made
    before the masking could leave the start of a value in it."""
    return " ".join(mask_secrets(text, secrets).split())[:limit]


def last_health_error(state: dict[str, Any], secrets: dict[str, str]) -> str:
    """What the image's own health check last printed when it failed (or why there is none)."""
    health = state.get("Health") or {}
    for entry in reversed(health.get("Log") or []):
        if entry.get("ExitCode") != 0:
            output = clip(str(entry.get("Output") or ""), 300, secrets)
            return f"exit {entry.get('ExitCode')}: {output or '(no output)'}"
    if not health:
        return "the image has no health check of its own"
    return "no failed check recorded"


def networks(document: dict[str, Any]) -> dict[str, Any]:
    return (document.get("NetworkSettings") or {}).get("Networks") or {}


def aliases(document: dict[str, Any], network: str) -> list[str]:
    return list((networks(document).get(network) or {}).get("Aliases") or [])


@dataclass(frozen=True)
class HealthCheck:
    """How a new version is judged: its health URL, asked from inside the service's proxy (which
    carries curl and sits on the same network), so the app image needs nothing for it. As
    Docker's own health checks do, failures while it starts are not counted; after that,
    ``retries`` failures in a row fail the rollout at once."""

    proxy: str
    port: int
    path: str
    start_period: float
    retries: int = HEALTH_RETRIES
    # Names of the container's secret environment variables: their values are masked in anything
    # this module prints (an app may log its own secrets).
    secret_env: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str


def probe(docker: Docker, check: HealthCheck, container: str, secrets: dict[str, str]) -> ProbeResult:
    """One GET of the container's health URL from the proxy: the HTTP status and the start of the
    body (SECRETS masked: an app may answer with its own environment)."""
    url = f"http://{container}:{check.port}{check.path}"
    done = docker.run(
        "exec", check.proxy, "curl", "-sS", "--max-time", str(PROBE_TIMEOUT_SECONDS), "-w", "\\n%{http_code}", url,
        timeout=PROBE_TIMEOUT_SECONDS + 30,
    )  # fmt: skip
    body, _, code = done.stdout.rpartition("\n")
    if done.returncode == 0 and code.startswith("2"):
        return ProbeResult(True, f"GET {url}: HTTP {code}")
    if done.returncode == 0:
        text = clip(body, 200, secrets)
        return ProbeResult(False, f"GET {url}: HTTP {code}{': ' + text if text else ''}")
    error = clip(done.stderr or done.stdout, 300, secrets) or f"exit {done.returncode}"
    if "curl:" not in error:
        # Not curl's complaint: the proxy itself could not run it.
        raise RolloutError(f"could not probe {url} from the proxy {check.proxy}: {error}")
    return ProbeResult(False, f"GET {url}: {error}")


def wait_healthy(
    docker: Docker,
    container: str,
    check: HealthCheck,
    timeout: float,
    first: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Wait until the container answers its health URL; raise as soon as it cannot become healthy:
    it exits or restarts, its image's own check reports it unhealthy, or ``check.retries``
    probes in a row fail after its start period. FIRST: its `docker inspect` document, if the
    caller has just read it. SECRETS: the values masked in what it says (name: value). PROGRESS:
    where it says, every few seconds, that it is still waiting and why."""
    secrets = secrets or {}
    started_at = time.monotonic()
    deadline = started_at + timeout
    restarts: int | None = None
    first_look = True
    failures = 0
    last = "not probed yet"
    while True:
        document, first = first or docker.inspect(container), None
        if document is None:
            raise RolloutError(f"container {container} is gone")
        state = document.get("State") or {}
        count = int(document.get("RestartCount") or 0)
        restarts = count if restarts is None else restarts
        if state.get("Restarting") or count > restarts:
            code = last_exit_code(docker, container, document)
            raise RolloutError(f"it exited with code {code} and Docker is restarting it")
        if not state.get("Running"):
            if not first_look:
                raise RolloutError(f"it exited with code {last_exit_code(docker, container, document)}")
            # A container a failed rollout stopped earlier: give it its chance again.
            docker.check("container", "start", container)
            first_look = False
            continue
        first_look = False
        if (state.get("Health") or {}).get("Status") == "unhealthy":
            raise RolloutError(
                f"its image's own health check reports it unhealthy ({last_health_error(state, secrets)})"
            )
        result = probe(docker, check, container, secrets)
        if result.ok:
            return document
        last = result.detail
        if progress is not None:
            progress.still(f"not healthy yet: {clip(last, PROGRESS_DETAIL_CHARS, secrets)}")
        if time.monotonic() - started_at >= check.start_period:
            failures += 1
            if failures >= check.retries:
                raise RolloutError(f"its health check failed {failures} times in a row; last: {last}")
        if time.monotonic() >= deadline:
            raise RolloutError(f"it did not become healthy within {timeout:.0f}s; last health check: {last}")
        time.sleep(POLL_SECONDS)


def last_exit_code(docker: Docker, container: str, document: dict[str, Any]) -> str:
    """The code the container last exited with. Once Docker has started it again, its state says
    0, so the code then comes from the engine's last `die` event for it."""
    state = document.get("State") or {}
    if not state.get("Running"):
        return str(state.get("ExitCode"))
    events = docker.run(
        "events", "--since", str(document.get("Created") or "10m"), "--until", "0s",
        "--filter", f"container={container}", "--filter", "event=die",
        "--format", '{{index .Actor.Attributes "exitCode"}}',
        timeout=60,
    )  # fmt: skip
    codes = events.stdout.split() if events.returncode == 0 else []
    return codes[-1] if codes else "unknown"


def diagnose(docker: Docker, container: str, check: HealthCheck, secrets: dict[str, str]) -> str:
    """What an operator needs to see why a version failed: its last log lines (both streams, in
    order) and one more probe of its health URL, with the values of its secrets masked."""
    logs = docker.run("logs", "--timestamps", "--tail", str(LOG_LINES), container, timeout=60)
    # The two streams come back separately; the timestamps put them in order again.
    lines = sorted(line for line in (logs.stdout + logs.stderr).splitlines() if line.strip())
    text = "\n".join("    " + line.partition(" ")[2] for line in lines[-LOG_LINES:]) or "    (nothing)"
    try:
        final = probe(docker, check, container, secrets).detail
    except RolloutError as error:
        final = str(error)
    report = f"\n  last {LOG_LINES} log lines of {container}:\n{text}\n  one more probe: {final}"
    return mask_secrets(report, secrets)


def _secret_values(document: dict[str, Any] | None, names: Sequence[str]) -> dict[str, str]:
    env = ((document or {}).get("Config") or {}).get("Env") or []
    pairs = dict(entry.partition("=")[::2] for entry in env)
    return {name: pairs[name] for name in names if pairs.get(name)}


def mask_secrets(text: str, secrets: dict[str, str]) -> str:
    # Longest first, so a secret that contains another is masked whole.
    for name, value in sorted(secrets.items(), key=lambda item: -len(item[1])):
        text = text.replace(value, f"[secret {name}]")
    return text


def activate(docker: Docker, new: Activation) -> dict[str, object]:
    """Give the container the live alias once it is healthy. On failure the container is killed
    (it serves nothing, so there is nothing to drain; a kill also ends its restart policy, so no
    restart loop beside the running version) and nothing else is touched.

    It picks up from wherever a killed activation left the container: off every network (killed
    between the disconnect and the connect below) it rejoins the network first, so the proxy can
    reach it by name; with the alias already, it is only checked again."""
    container, network, alias = new.container, new.network, LIVE_ALIAS
    progress = Progress(f"{new.service} {new.tag}")
    progress.phase(f"waiting until {container} answers {new.health_path} (up to {new.timeout}s)")
    check = HealthCheck(new.proxy, new.port, new.health_path, new.start_period, secret_env=tuple(new.secret_env))
    found = docker.inspect(container)
    # Masked in everything said below: what the app prints or answers may hold them.
    secrets = _secret_values(found, check.secret_env)
    if found is not None and network not in networks(found):
        docker.check("network", "connect", network, container)
        found = None  # looked at again below
    try:
        document = wait_healthy(docker, container, check, new.timeout, first=found, secrets=secrets, progress=progress)
    except RolloutError as error:
        progress.phase("not healthy: it is not put live, the running version keeps serving")
        details = diagnose(docker, container, check, secrets)
        docker.run("container", "kill", container)
        message = (
            f"service {new.service}, tag {new.tag}: the new container {container} is not healthy, so it was not "
            f"put live: {error}. The running version keeps serving. Fix services.{new.service}.tag (or the image) and "
            f"run `pulumi up` again.{details}"
        )
        raise RolloutError(mask_secrets(message, secrets)) from None
    progress.phase("healthy")
    if alias not in aliases(document, network):
        # Docker adds an alias only when connecting; the container joined the network without
        # one at creation (nothing routes to it by name yet), so it reconnects with the alias.
        if network in networks(document):
            docker.check("network", "disconnect", network, container)
        docker.check("network", "connect", "--alias", alias, network, container)
        time.sleep(SETTLE_SECONDS)
    progress.phase("live: the proxy sends it requests")
    return {"service": new.service, "tag": new.tag, "container": container, "network": network, "alias": alias}


def configure_proxy(docker: Docker, proxy: str, path: str, conf: str) -> str:
    """Make CONF the running proxy's nginx configuration at PATH, in place: written beside it,
    checked by nginx, moved over it and reloaded. A reload lets the old workers finish their
    requests and never lets go of the published port, which a new container would (a change of
    the configuration would otherwise replace the proxy, with a gap for every client)."""
    current = docker.run("container", "exec", proxy, "cat", path)
    if current.returncode == 0 and current.stdout == conf:
        return f"proxy {proxy}: its configuration is current"
    staged = f"{path}.new"
    # As root in the container: the proxy runs as a user that cannot write its own configuration.
    as_root = ("container", "exec", "--user", "0", proxy)
    docker.check(*as_root, "sh", "-c", 'printf "%s" "$1" > "$2"', "sh", conf, staged)
    tested = docker.run("container", "exec", proxy, "nginx", "-e", "stderr", "-t", "-c", staged)
    if tested.returncode != 0:
        docker.run(*as_root, "rm", "-f", staged)
        detail = " ".join((tested.stderr or tested.stdout).split()) or f"exit {tested.returncode}"
        raise RolloutError(
            f"proxy {proxy}: nginx refused the new configuration, so the running one stays: {detail}. "
            "Check the proxy image (proxy.image) or report this as a bug of service-infra."
        )
    docker.check(*as_root, "mv", staged, path)
    docker.check("container", "exec", proxy, "nginx", "-e", "stderr", "-c", path, "-s", "reload")
    return f"proxy {proxy}: configuration updated and reloaded"


def retire(docker: Docker, container: str, drain_seconds: int) -> str:
    """Stop the old version gracefully: SIGTERM, up to drain_seconds for in-flight requests.

    Its server stops accepting at once, so the proxy retries new requests on the live version;
    a stopped container leaves the network, and Docker does not restart it (unless-stopped).
    """
    if docker.inspect(container) is None:
        return f"container {container} is already gone"
    progress = Progress(container)
    progress.phase(f"draining: in-flight requests have up to {drain_seconds}s")
    docker.check("container", "stop", "--time", str(drain_seconds), container, timeout=drain_seconds + 60)
    progress.phase("stopped")
    return f"container {container} drained and stopped"


def command_line() -> argparse.ArgumentParser:
    """The operations' arguments. Each is required: the program decides every value (its settings'
    defaults are in service_infra.boundary), so none is decided a second time here."""
    parser = argparse.ArgumentParser(prog="python3 -m service_infra.ops.rollout")
    ops = parser.add_subparsers(dest="op", required=True)
    op = ops.add_parser("activate", help="wait until healthy, then join the live alias")
    op.add_argument("--service", required=True)
    op.add_argument("--tag", required=True)
    op.add_argument("--container", required=True)
    op.add_argument("--network", required=True)
    op.add_argument("--timeout", type=int, required=True, help="seconds it has to become healthy")
    op.add_argument("--proxy", required=True, help="the service's proxy container, which probes the health URL")
    op.add_argument("--port", type=int, required=True, help="the port the app listens on")
    op.add_argument("--health-path", required=True)
    op.add_argument("--start-period", type=int, required=True, help="seconds of failed checks not counted")
    op.add_argument("--secret-env", action="append", default=[], help="a secret variable's name (masked in output)")
    op = ops.add_parser("configure-proxy", help="make standard input the proxy's nginx configuration")
    op.add_argument("--proxy", required=True)
    op.add_argument("--path", required=True, help="the configuration file nginx runs from")
    op = ops.add_parser("retire", help="stop a replaced version after draining it")
    op.add_argument("--container", required=True)
    op.add_argument("--drain-seconds", type=int, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = command_line().parse_args(argv)
    try:
        with Docker.from_environ(os.environ) as docker:
            return _run(args, docker)
    except RolloutError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, docker: Docker) -> int:
    if args.op == "activate":
        # The flags are the Activation's fields by name (commands/rollout.py writes them).
        new = Activation(**{f.name: getattr(args, f.name) for f in fields(Activation)})
        result = activate(docker, new)
        print(json.dumps(result, sort_keys=True))
    elif args.op == "configure-proxy":
        print(configure_proxy(docker, args.proxy, args.path, sys.stdin.read()))
    else:
        print(retire(docker, args.container, args.drain_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
