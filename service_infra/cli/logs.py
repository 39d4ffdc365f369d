"""`python -m service_infra logs --stack S --service N [-f] [--since 10m] [--tail N]`: a service's
logs, every secret value of the stack masked.

A Docker service: `docker logs` of its live container (the one holding the `live` alias), over
the stack's own pinned SSH path (`docker_cli`), never a second way in. A Fly service: `fly logs`
for its app, with the stack's Fly token (flyctl has no --since or --tail: Fly keeps a short
buffer). Before anything is printed, every secret value the stack knows (`pulumi config
--show-secrets`, so the stack's passphrase is needed) is replaced by `[secret NAME]`, line by
line; a value of several lines is masked line by line too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

from service_infra.cli.rollback import RollbackError, config_value, run_pulumi
from service_infra.cli.status import live_document, service_containers
from service_infra.commands.docker import docker_cli
from service_infra.commands.fly import token_environment
from service_infra.contract import host_name_prefix
from service_infra.ops.rollout import Docker, RolloutError, mask_secrets
from service_infra.settings import Settings, SettingsError, load_stack_file, stack_file_of

# What `docker logs --since` takes: a Go duration (10m, 1h30m) or a date/time (RFC 3339, Unix time).
SINCE = re.compile(r"^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$|^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$|^\d+$")
# A line of a multi-line secret shorter than this is not masked alone (nor a PEM armour line).
MIN_MASKED_LINE = 8
# The colors flyctl prints even into a pipe (aurora): dropped when the output is not a terminal.
ANSI_COLOR = re.compile(r"\x1b\[[0-9;]*m")
# How long `fly logs --no-tail` may wait: with an empty buffer flyctl polls on (logs/polling.go).
FLY_NO_TAIL_SECONDS = 30


class LogsError(Exception):
    pass


def stack_secret_values(config: Mapping[str, Any]) -> dict[str, str]:
    """Every secret value in `pulumi config --show-secrets --json` output, by name: the entries
    of `service-infra:secrets` under their own names, any other secret config under its key; the
    lines of a value of several lines as well (a log prints them one per line)."""
    found: dict[str, str] = {}

    def add(name: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                add(str(key), inner)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                add(f"{name}[{index}]", inner)
        elif value not in (None, ""):
            text = str(value)
            found[name] = text
            for number, line in enumerate(text.splitlines()):
                line = line.strip()
                if len(line) >= MIN_MASKED_LINE and line != text and not line.startswith("-----"):
                    found[f"{name} line {number + 1}"] = line

    for key, entry in config.items():
        if isinstance(entry, dict) and entry.get("secret"):
            value = config_value(entry)
            add(key.split(":", 1)[-1] if not isinstance(value, dict) else key, value)
    return found


def read_secret_values(stack: str) -> dict[str, str]:
    try:
        raw = run_pulumi(["config", "--show-secrets", "--json", "--stack", stack])
    except RollbackError as error:
        raise LogsError(
            f"logs masks every secret value of {stack}, so it reads them first, and could not: {error}. "
            "Set PULUMI_CONFIG_PASSPHRASE (or _FILE) as for `pulumi up`"
        ) from None
    return stack_secret_values(json.loads(raw or "{}"))


def masked_lines(lines: Iterable[str], secrets: Mapping[str, str], out: IO[str]) -> None:
    plain = not out.isatty()
    for line in lines:
        masked = mask_secrets(line, dict(secrets))
        out.write(ANSI_COLOR.sub("", masked) if plain else masked)
        out.flush()


def stream(
    argv: list[str],
    secrets: Mapping[str, str],
    out: IO[str],
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> int:
    """Run ARGV, its output (stdout and stderr, as they come) masked into OUT; its exit code.
    TIMEOUT: seconds after which it is stopped (its code is then negative)."""
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env={**os.environ, **(env or {})},
        )
    except FileNotFoundError:
        raise LogsError(f"`{argv[0]}` is not on PATH") from None
    assert process.stdout is not None
    try:
        masked_lines(process.stdout if timeout is None else _until(process, timeout), secrets, out)
        return process.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait()


def _until(process: subprocess.Popen[str], timeout: float) -> Iterable[str]:
    """The process's lines until it ends, or until TIMEOUT seconds passed (then it is stopped)."""
    timer = threading.Timer(timeout, process.terminate)
    timer.start()
    try:
        assert process.stdout is not None
        yield from process.stdout
    finally:
        timer.cancel()


def docker_logs(
    settings: Settings, service: str, follow: bool, since: str | None, tail: str | None, secrets: Mapping[str, str]
) -> int:
    target = settings.services[service].docker
    assert target is not None
    host = settings.docker_hosts[target.host]
    base = host_name_prefix(service, settings.instance)
    options = [
        *(["--follow"] if follow else []),
        *(["--since", since] if since else []),
        *(["--tail", tail] if tail else []),
    ]
    with Docker(docker_cli(host)) as docker:
        try:
            live = live_document(service_containers(docker, service, settings.instance), base)
        except RolloutError as error:
            raise LogsError(f"host {target.host} did not answer: {error}") from None
        if live is None:
            raise LogsError(f"no container of {service} holds the live alias on {target.host}: see `status`")
        container = str(live.get("Name", "")).lstrip("/")
        print(f"[service-infra] logs of {container} on {target.host}", file=sys.stderr)
        return stream(docker.argv("logs", *options, container), secrets, sys.stdout)


def fly_logs(settings: Settings, service: str, follow: bool, secrets: Mapping[str, str]) -> int:
    target = settings.services[service].fly
    assert target is not None
    token = secrets.get(target.api_token_secret)
    if token is None:
        raise LogsError(f"the stack has no secret {target.api_token_secret} (services.{service}.fly.api_token_secret)")
    print(f"[service-infra] logs of the Fly app {target.app}", file=sys.stderr)
    argv = ["fly", "logs", "--app", target.app, *([] if follow else ["--no-tail"])]
    code = stream(
        argv, secrets, sys.stdout, env=token_environment(token), timeout=None if follow else FLY_NO_TAIL_SECONDS
    )
    if code < 0 and not follow:
        print(
            f"[service-infra] Fly's log buffer for {target.app} stayed empty for {FLY_NO_TAIL_SECONDS}s",
            file=sys.stderr,
        )
        return 0
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service_infra logs", description="a service's logs, every secret value of the stack masked"
    )
    parser.add_argument("--stack", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until interrupted")
    parser.add_argument("--since", help="Docker services: from this long ago (10m, 2h) or this time (RFC 3339)")
    parser.add_argument("--tail", help="Docker services: only the last N lines")
    args = parser.parse_args(argv)
    stack_file = stack_file_of(args.stack)
    try:
        settings = load_stack_file(stack_file)
        if args.service not in settings.services:
            names = ", ".join(sorted(settings.services)) or "none"
            raise LogsError(f"{stack_file} has no service {args.service} (its services: {names})")
        if args.since is not None and not SINCE.match(args.since):
            raise LogsError(f"--since {args.since!r}: give a duration (10m, 1h30m) or a time (2026-12-06T08:00:00Z)")
        if args.tail is not None and not (args.tail.isdigit() or args.tail == "all"):
            raise LogsError(f"--tail {args.tail!r}: give a number of lines, or all")
        is_fly = settings.services[args.service].fly is not None
        if is_fly and (args.since or args.tail):
            raise LogsError(
                f"--since and --tail are for Docker services: {args.service} runs on Fly, and `fly logs` "
                "(flyctl v0.4.87) has neither; it prints what Fly's buffer holds"
            )
        secrets = read_secret_values(args.stack)
        if is_fly:
            return fly_logs(settings, args.service, args.follow, secrets)
        return docker_logs(settings, args.service, args.follow, args.since, args.tail, secrets)
    except SettingsError as error:
        print("\n".join(f"{stack_file}: {problem}" for problem in error.problems), file=sys.stderr)
        return 2
    except LogsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
