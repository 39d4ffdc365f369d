"""`python -m service_infra <command>`: the operator commands.

check Pulumi.<stack>.yaml [...]                 the settings rules, offline (exit 2 on problems)
doctor Pulumi.<stack>.yaml                      the stack's Docker hosts, checked (read-only)
rollback --stack S --service N [--dry-run]      back to the service's previous known-good tag
recover --stack S [--force]                     after an interrupted update: backup, lock, pending operations, preview
prune-images --stack S [--keep N] [--yes]       remove host images no kept release and no container needs
status --stack S [--json]                       the stack now: releases, health, containers, lock (read-only)
history --stack S [--service N] [--json]        each release, newest first: who, tag, digest, outcome
logs --stack S --service N [-f] [--since T]     the service's logs, every secret value of the stack masked
promote --service N [--from S] [--to S]         pin what staging runs into Pulumi.prod.yaml (deploys nothing)
preview open|close N, reap [--open N,M], list   a pull request's preview environment pr-N (docs/delivery.md)
config-reference                                print docs/configuration.md, from the settings models
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from service_infra.cli import (
    config_reference,
    doctor,
    history,
    logs,
    preview,
    promote,
    prune_images,
    recover,
    rollback,
    status,
)
from service_infra.cli.check import check
from service_infra.cli.interrupts import let_pulumi_stop_its_plugins

# The commands that parse their own arguments: name -> (what it does, its main).
DELEGATED: dict[str, tuple[str, Callable[[Sequence[str]], int]]] = {
    "doctor": ("check the stack's Docker hosts (read-only)", doctor.main),
    "rollback": ("roll a service back to its previous known-good tag", rollback.main),
    "recover": ("recover a stack after an interrupted update", recover.main),
    "prune-images": ("remove host images no kept release needs", prune_images.main),
    "history": ("each release, newest first", history.main),
    "status": ("the stack now: releases, health, containers, lock", status.main),
    "logs": ("a service's logs, secrets masked", logs.main),
    "promote": ("pin what staging runs into prod's stack file", promote.main),
    "preview": ("a pull request's preview environment: open, close, reap, list", preview.main),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service_infra", description="service-infra operator commands")
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="check stack files offline")
    check_parser.add_argument("stack_files", nargs="+", type=Path, metavar="Pulumi.<stack>.yaml")
    for name, (what, _) in DELEGATED.items():
        commands.add_parser(name, help=what, add_help=False)
    commands.add_parser("config-reference", help="print the config reference (docs/configuration.md)")
    args, rest = parser.parse_known_args(argv)
    let_pulumi_stop_its_plugins()  # rollback and recover run the Pulumi CLI
    if args.command in DELEGATED:
        return DELEGATED[args.command][1](rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "config-reference":
        print(config_reference.render(), end="")
        return 0
    return check(args.stack_files)
