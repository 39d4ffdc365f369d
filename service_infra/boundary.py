"""What both sides of the process boundary agree on, stated once.

The program (``commands``, ``components``) writes command lines that ``ops`` programs run in
another process, often over ssh. This module holds what both sides must read the same way: the
environment variable carrying the docker CLI, the network alias the proxy routes to, a rollout's
defaults, what an activation needs, how an argument survives the remote shell, and how a wait
reports its progress. Standard library only, as ``ops`` is, so any ``python3`` can import it.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

# The docker CLI an operation drives (local `docker -H ...` or `ssh ... docker`), as a JSON list.
DOCKER_CLI_ENV = "SERVICE_INFRA_DOCKER_CLI"
# The network alias the proxy sends requests to: the live version holds it.
LIVE_ALIAS = "live"

# A rollout's defaults (the settings' defaults; the operations require every value).
READY_TIMEOUT_SECONDS = 180
START_PERIOD_SECONDS = 10
DRAIN_SECONDS = 30


@dataclass(frozen=True)
class Activation:
    """What `activate` needs to know about the new version and how to judge it."""

    service: str
    tag: str
    container: str
    network: str
    # The service's proxy container: the health URL is asked from inside it.
    proxy: str
    port: int
    health_path: str
    start_period: int
    timeout: int
    # Names of the container's secret variables: their values are masked in what it prints.
    secret_env: Sequence[str] = ()


def for_remote_shell(prefix: Sequence[str], *args: str) -> list[str]:
    """PREFIX (ssh and its options, up to the remote command) with ARGS for the remote shell.
    ssh joins its arguments with spaces and the remote shell splits them again, so each is quoted
    here: the one place an argument is quoted for a remote shell."""
    return [*prefix, *(shlex.quote(arg) for arg in args)]


# How often a wait that is still waiting says so.
PROGRESS_EVERY_SECONDS = 10.0


@dataclass
class Progress:
    """One line per phase of a wait, with the seconds it has taken so far, on stderr (stdout may
    carry a result): `[service-infra] llm-server sha-5e0a7c9: healthy (12s)`. The engine shows an
    operation's stderr while it runs, so nobody stares at a silent terminal."""

    what: str
    out: TextIO = field(default_factory=lambda: sys.stderr)
    started: float = field(default_factory=time.monotonic)
    _last: float = float("-inf")

    def phase(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[service-infra] {self.what}: {text} ({elapsed:.0f}s)", file=self.out, flush=True)
        self._last = time.monotonic()

    def still(self, text: str) -> None:
        """A phase line, at most every PROGRESS_EVERY_SECONDS: for a loop that waits."""
        if time.monotonic() - self._last >= PROGRESS_EVERY_SECONDS:
            self.phase(text)
