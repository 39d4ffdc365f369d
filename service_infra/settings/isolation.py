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
from service_infra.settings.base import Tier
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
    # Shared freely by staging and prod (e.g. their Fly org), never with a preview.
    previews_only: bool = False


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
    # The template publishes on any port of its pool, whichever slot a preview gets.
    pool = settings.preview.ports if settings.preview is not None and settings.preview.slot is None else None
    for name, service in settings.docker_services().items():
        target = service.docker
        assert target is not None
        host = settings.docker_hosts.get(target.host)
        if host is None:
            continue
        for port in range(pool.first, pool.last + 1) if pool else [target.port]:
            yield Reached(
                f"port {port} on {host.reachable_host.lower()}",
                f"{PROJECT}:preview.ports" if pool else f"{PROJECT}:services.{name}.docker.port",
                "publish each environment on its own port" + (" (outside the previews' pool)" if pool else ""),
            )
    for name, service in settings.fly_services().items():
        assert service.fly is not None
        if pool is None:  # the template's apps are only ever made as <app>-pr-<n>
            yield Reached(
                f"the Fly app {service.fly.app}",
                f"{PROJECT}:services.{name}.fly.app",
                "give each environment its own app (e.g. with a -staging suffix)",
            )
        # An org token opens every app of its org: previews live in an org of their own.
        yield Reached(
            f"the Fly org {service.fly.org}",
            f"{PROJECT}:services.{name}.fly.org",
            "give the previews a Fly org of their own, whose token opens no app of staging's or prod's",
            previews_only=True,
        )


def _compared(first: Settings, second: Settings, item: Reached) -> bool:
    """Previews share their template's identity, pool and org among themselves by design; only
    a preview and another environment may not share an org."""
    previews = (first.environment is Tier.PREVIEW) + (second.environment is Tier.PREVIEW)
    if previews == 2:
        return False
    return previews == 1 or not item.previews_only


def shared_reach_problems(stacks: Mapping[str, Settings], only: str | None = None) -> list[str]:
    """One line per thing two of STACKS (by name) both reach; with ONLY, the lines about that
    stack alone, said from its side (its key first)."""
    owners: dict[str, list[tuple[str, Reached]]] = {}
    problems: list[str] = []
    for stack, settings in stacks.items():
        for item in reached(settings):
            earlier = owners.setdefault(item.what, [])
            earlier.append((stack, item))
            first = next(
                (owner for owner in earlier if owner[0] != stack and _compared(stacks[owner[0]], settings, item)),
                None,
            )
            if first is None or only not in {None, stack, first[0]}:
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
