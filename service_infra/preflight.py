"""The gate before any resource is touched: outside local, the stack's secrets are not encrypted
with the published example passphrase; the previews' template is never deployed itself; prod
and previews reach nothing another stack reaches; every SSH
Docker host in use answers with its pinned key, finds `docker` in a non-interactive session, runs
a Docker engine, and (when pinned) the engine is the one pinned. A failure stops the run early,
saying what to change, and nothing that is running is changed. The host checks themselves are
`service_infra.host_checks`, which `doctor` reports too.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from service_infra.commands.host_checks import engine_command
from service_infra.host_checks import Runner, Status, connection_findings, engine_finding, hosts_in_use, run_check
from service_infra.settings import Settings, SettingsError, Tier
from service_infra.settings.isolation import shared_reach_problems, sibling_settings
from service_infra.stack_secrets import refuse_example_passphrase


class HostCheckError(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"Docker hosts failed their check ({len(problems)}); nothing was changed:\n" + "\n".join(problems)
        )


def check_docker_hosts(config: Settings, run: Runner = run_check) -> None:
    """Raise HostCheckError listing every SSH host in use that fails a fatal check (the doctor's
    connection checks, with the same messages). The hosts are asked at once: an unreachable one
    costs its timeout once, not once per host before it."""
    ssh_hosts = [name for name in hosts_in_use(config) if config.docker_hosts[name].is_ssh]

    def fatal(name: str) -> list[str]:
        host = config.docker_hosts[name]
        findings = connection_findings(name, host, run)
        if host.engine_id and all(f.status is Status.OK for f in findings):
            findings.append(engine_finding(name, host, run(engine_command(host))))
        return [f.message for f in findings if f.status is Status.FAIL]

    with ThreadPoolExecutor(max_workers=max(1, len(ssh_hosts))) as pool:
        problems = [message for messages in pool.map(fatal, ssh_hosts) for message in messages]
    if problems:
        raise HostCheckError(problems)


def refuse_shared_reach(config: Settings, stack: str, project_dir: Path) -> None:
    """Prod, and a preview, reach nothing that another stack of the project reaches: no Docker
    host identity, published port or Fly app of theirs, and a preview no Fly org of theirs
    (settings/isolation.py)."""
    problems = shared_reach_problems({stack: config, **sibling_settings(project_dir, stack)}, only=stack)
    if problems:
        raise SettingsError(problems)


def refuse_the_template(config: Settings, stack: str) -> None:
    """Pulumi.preview.yaml is what previews are made from, never deployed itself."""
    if config.environment is Tier.PREVIEW and (config.preview is None or config.preview.stack is None):
        raise SettingsError(
            [
                f"the stack {stack} is the previews' template: deploy a pull request's preview with "
                "`python -m service_infra preview open <number>` (docs/delivery.md)"
            ]
        )


def check_before_changes(config: Settings, stack: str, project_dir: Path) -> None:
    """Everything that must hold before the program declares a resource."""
    refuse_the_template(config, stack)
    if config.environment in {Tier.PROD, Tier.PREVIEW}:
        refuse_shared_reach(config, stack, project_dir)
    if config.environment is not Tier.LOCAL:
        # Prod derives it every time: a cached "not the example" could have been planted.
        refuse_example_passphrase(stack, project_dir, remember=config.environment is not Tier.PROD)
    check_docker_hosts(config)
