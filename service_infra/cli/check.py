"""`python -m service_infra check Pulumi.<stack>.yaml [...]`: the settings rules, offline.

Needs neither the Pulumi CLI nor the passphrase: secure values are checked for presence only.
Exit 0 when every file is valid, 2 with one line per problem otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from service_infra.settings import SettingsError, load_stack_file


def check(stack_files: Sequence[Path]) -> int:
    failed = False
    for path in stack_files:
        try:
            load_stack_file(path)
        except SettingsError as error:
            failed = True
            for problem in error.problems:
                print(f"{path}: {problem}")
        else:
            print(f"{path}: ok")
    return 2 if failed else 0
