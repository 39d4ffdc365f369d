"""`python -m components check Pulumi.<stack>.yaml [...]`: the settings rules, offline.

Needs neither the Pulumi CLI nor the passphrase: secure values are checked for presence only.
Exit 0 when every file is valid, 2 with one line per problem otherwise.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from components.settings import SettingsError, load_stack_file


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="check stack files offline")
    check.add_argument("stack_files", nargs="+", type=Path, metavar="Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)

    failed = False
    for path in args.stack_files:
        try:
            load_stack_file(path)
        except SettingsError as error:
            failed = True
            for problem in error.problems:
                print(f"{path}: {problem}")
        else:
            print(f"{path}: ok")
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
