"""`python -m service_infra check Pulumi.<stack>.yaml [...]`: the settings rules, offline.

Needs no Pulumi CLI. Without the passphrase, secure values are checked for presence only; with
the stack's passphrase in PULUMI_CONFIG_PASSPHRASE (or a file named by PULUMI_CONFIG_PASSPHRASE_FILE)
each secret value is also checked against what its service can receive intact (a NUL byte, what
flyctl's secrets parser would alter), naming the secret, never showing it.
The files are also compared: no two may name the same Docker host identity, published port on
one host, or Fly app (settings/isolation.py).
Exit 0 when every file is valid, 2 with one line per problem otherwise.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from service_infra.settings import Settings, SettingsError, check_secret_values, load_stack_file
from service_infra.settings.isolation import shared_reach_problems
from service_infra.settings.loader import stack_name_of
from service_infra.stack_secrets import encryption_salt, secret_values


def passphrase_from_environment() -> str | None:
    """The passphrase as the Pulumi CLI reads it: PULUMI_CONFIG_PASSPHRASE, else the file
    PULUMI_CONFIG_PASSPHRASE_FILE names."""
    if (passphrase := os.environ.get("PULUMI_CONFIG_PASSPHRASE")) is not None:
        return passphrase
    if path := os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        try:
            return Path(path).read_text().rstrip("\r\n")
        except OSError:
            return None
    return None


def check(stack_files: Sequence[Path]) -> int:
    failed = False
    passphrase = passphrase_from_environment()
    loaded: dict[str, Settings] = {}
    for path in stack_files:
        try:
            settings = load_stack_file(path)
            loaded[stack_name_of(path) or str(path)] = settings
            values = secret_values(path, passphrase) if passphrase is not None else None
            if values is not None:
                check_secret_values(settings, values)
            elif encryption_salt(path):
                why = (
                    "set PULUMI_CONFIG_PASSPHRASE"
                    if passphrase is None
                    else "PULUMI_CONFIG_PASSPHRASE does not open them"
                )
                print(f"{path}: secret values not checked ({why} to check them too)", file=sys.stderr)
        except SettingsError as error:
            failed = True
            for problem in error.problems:
                print(f"{path}: {problem}")
        else:
            print(f"{path}: ok")
    # Each environment reaches only itself: nothing two of the files both reach.
    shared = shared_reach_problems(loaded)
    for problem in shared:
        print(problem)
    return 2 if failed or shared else 0
