"""no-plaintext-secrets: no secret in plaintext in container envs, commands and labels, command
resources' command lines, stdin and environment, or Actions variables.

A value is a secret when its name says so (``is_secret_name``) or when it looks like a
credential (``service_infra.credentials.credential_kind``). Values passed as Pulumi secrets arrive as
``pulumi_policy.Secret`` (``values.install_secret_markers``) and are never judged or printed.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs

from service_infra.credentials import credential_kind, is_secret_name

from .resources import COMMAND, CONTAINER, GITHUB_ENVIRONMENT_VARIABLE, GITHUB_VARIABLE, label, props, words

_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)
_FLAG = re.compile(r"^--?([A-Za-z0-9][A-Za-z0-9-]*)(?:=(.*))?$", re.DOTALL)
_SECRET_FLAG = re.compile(r"(?:token|password|passwd|passphrase|secret|api-?key|access-?key|private-?key)$", re.I)
_TOML_LINE = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"?([^"\n]*)"?\s*$')


def _is_literal(value: Any) -> bool:
    """A plaintext value worth flagging: set, known, not a Pulumi secret, not a $REFERENCE."""
    return isinstance(value, str) and value != "" and not value.startswith("$")


def _command_findings(text: str) -> Iterator[str]:
    argv = words(text)
    for index, word in enumerate(argv):
        assignment = _ASSIGNMENT.match(word)
        if assignment and is_secret_name(assignment[1]) and _is_literal(assignment[2]):
            yield f"{assignment[1]} is set to a literal value"
            continue
        flag = _FLAG.match(word)
        if flag and _SECRET_FLAG.search(flag[1]):
            value = flag[2] if flag[2] is not None else (argv[index + 1] if index + 1 < len(argv) else "")
            if _is_literal(value) and not value.startswith("-"):
                yield f"--{flag[1]} is given a literal value"
    kind = credential_kind(text)
    if kind:
        yield f"it contains what looks like {kind}"


def _stdin_findings(text: str) -> Iterator[str]:
    for line in text.splitlines():
        match = _TOML_LINE.match(line)
        if match and is_secret_name(match[1]) and _is_literal(match[2]):
            yield f"{match[1]} is set to a literal value"
    kind = credential_kind(text)
    if kind:
        yield f"it contains what looks like {kind}"


def _env_findings(name: str, value: Any) -> Iterator[str]:
    if not _is_literal(value):
        return
    if is_secret_name(name):
        yield f"{name} is set to a literal value"
        return
    kind = credential_kind(value)
    if kind:
        yield f"{name} holds what looks like {kind}"


def no_plaintext_secrets_findings(args: ResourceValidationArgs) -> Iterator[str]:
    inputs = props(args)
    name = label(args.resource_type, args.name)
    if args.resource_type == CONTAINER:
        envs = inputs.get("envs")
        for entry in envs if isinstance(envs, list) else []:
            if not isinstance(entry, str):
                continue  # a Secret, or not known yet
            env_name, _, value = entry.partition("=")
            for finding in _env_findings(env_name, value):
                yield (
                    f"{name}: env {finding}, in plaintext. Store it with `pulumi config set --secret "
                    "--path 'secrets.<NAME>'` and list it in service-infra:services.<service>.secret_env."
                )
        command = inputs.get("command")
        if isinstance(command, list) and all(isinstance(word, str) for word in command):
            for finding in _command_findings(shlex.join(command)):
                yield (
                    f"{name}: the container's command has a secret in plaintext ({finding}). Give it to the "
                    "container as a secret_env variable instead."
                )
        labels = inputs.get("labels")
        for entry in labels if isinstance(labels, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("value"), str):
                kind = credential_kind(entry["value"])
                if kind:
                    yield f"{name}: label {entry.get('label')} holds what looks like {kind}, which `docker inspect` shows anyone."
    elif args.resource_type == COMMAND:
        for field in ("create", "update", "delete"):
            text = inputs.get(field)
            if isinstance(text, str):
                for finding in _command_findings(text):
                    yield (
                        f"{name}: the {field} command has a secret in plaintext ({finding}). Pass secrets "
                        "on stdin or in `environment` as Pulumi secrets, never in the command line."
                    )
        stdin = inputs.get("stdin")
        if isinstance(stdin, str):
            for finding in _stdin_findings(stdin):
                yield f"{name}: stdin has a secret in plaintext ({finding}). Wrap it with pulumi.Output.secret."
        environment = inputs.get("environment")
        if isinstance(environment, dict):
            for env_name, value in sorted(environment.items()):
                for finding in _env_findings(env_name, value):
                    yield (
                        f"{name}: environment {finding}, in plaintext. Wrap the environment with pulumi.Output.secret."
                    )
    elif args.resource_type in (GITHUB_ENVIRONMENT_VARIABLE, GITHUB_VARIABLE):
        variable = inputs.get("variableName")
        value = inputs.get("value")
        if isinstance(variable, str):
            for finding in _env_findings(variable, value):
                yield (
                    f"{name}: Actions variable {finding}; variables are readable by anyone with read "
                    "access. Make it an Actions secret: move the name from "
                    "service-infra:github.environments.<env>.variables to .secrets."
                )
