"""What both sides of the process boundary agree on, stated once.

The program (``commands``, ``components``) writes command lines that ``ops`` programs run in
another process, often over ssh. This module holds what both sides must read the same way: the
environment variable carrying the docker CLI, the network alias the proxy routes to, a rollout's
defaults, what an activation needs, and how an argument survives the remote shell. Standard
library only, as ``ops`` is, so any ``python3`` can import it.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

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
