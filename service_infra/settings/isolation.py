"""What no two stacks of the project may share: each environment reaches only itself.

A Docker host identity (the SSH user on a host, or a pinned engine ID), a published port on one
host, or a Fly app that two stacks both name would let one stack's credentials, or one stack's
update, reach the other's resources: staging's key opening prod's engine, staging's `up`
adopting prod's app. `check` compares every stack file it is given; a prod update compares its
own settings with the project's other stack files (`sibling_stack_files`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from service_infra.contract import PROJECT
from service_infra.settings.errors import SettingsError
from service_infra.settings.loader import load_stack_file, stack_name_of
from service_infra.settings.stack import Settings


@dataclass(frozen=True)
class Reached:
    """One thing a stack reaches that must be its own: WHAT names it across stacks, KEY is the
    config key that sets it, and HOW_TO says what to change."""

    what: str
    key: str
    how_to: str


def docker_host_identity(url: str) -> str | None:
    """How an ssh:// Docker host URL (a stack's `docker_hosts.<host>.url`, the Docker provider's
    `host`) is named across stacks: the login on the host; None for another scheme."""
    parts = urlsplit(url)
    if parts.scheme != "ssh" or not parts.hostname:
        return None
    return f"the Docker host identity {parts.username}@{parts.hostname.lower()}:{parts.port or 22}"


def reached(settings: Settings) -> Iterator[Reached]:
    for name, host in settings.docker_hosts.items():
        key = f"{PROJECT}:docker_hosts.{name}"
        identity = docker_host_identity(host.url)
        if identity:
            yield Reached(
                identity,
                f"{key}.url",
                "give each environment its own SSH user and Docker engine on the host (docs/mac-mini.md)",
            )
        if host.engine_id:
            yield Reached(
                f"the Docker engine {host.engine_id}",
                f"{key}.engine_id",
                "give each environment its own Docker engine (docs/mac-mini.md)",
            )
    for name, service in settings.docker_services().items():
        target = service.docker
        assert target is not None
        host = settings.docker_hosts.get(target.host)
        if host is not None:
            yield Reached(
                f"port {target.port} on {host.reachable_host.lower()}",
                f"{PROJECT}:services.{name}.docker.port",
                "publish each environment on its own port",
            )
    for name, service in settings.fly_services().items():
        assert service.fly is not None
        yield Reached(
            f"the Fly app {service.fly.app}",
            f"{PROJECT}:services.{name}.fly.app",
            "give each environment its own app (e.g. with a -staging suffix)",
        )


def shared_reach_problems(stacks: Mapping[str, Settings], only: str | None = None) -> list[str]:
    """One line per thing two of STACKS (by name) both reach; with ONLY, the lines about that
    stack alone, said from its side (its key first)."""
    owners: dict[str, tuple[str, Reached]] = {}
    problems: list[str] = []
    for stack, settings in stacks.items():
        for item in reached(settings):
            first = owners.setdefault(item.what, (stack, item))
            if first[0] == stack or only not in {None, stack, first[0]}:
                continue
            (mine, ours), (other, theirs) = ((stack, item), first) if only in {None, stack} else (first, (stack, item))
            problems.append(
                f"{mine}: {ours.key}: {item.what} is also the {other} stack's ({theirs.key}); "
                f"each environment reaches only itself: {item.how_to}"
            )
    return problems


def sibling_stack_files(project_dir: Path, stack: str) -> dict[str, Path]:
    """The project's other stack files, by stack name."""
    siblings: dict[str, Path] = {}
    for path in sorted(project_dir.glob("Pulumi.*.y*ml")):
        name = stack_name_of(path)
        if name and name != stack:
            siblings[name] = path
    return siblings


def sibling_settings(project_dir: Path, stack: str) -> dict[str, Settings]:
    """The settings of the project's other stack files, by stack name. A file that does not
    load is left out: its own update and `check` name its problems."""
    loaded: dict[str, Settings] = {}
    for name, path in sibling_stack_files(project_dir, stack).items():
        try:
            loaded[name] = load_stack_file(path)
        except SettingsError:
            continue
    return loaded
