"""`python -m service_infra doctor Pulumi.<stack>.yaml`: the stack's Docker hosts, checked.

One line per check (ok/warn/fail), each warning or failure with the config key to change and the
command that fixes it on the Mac. Read-only: nothing on a host is changed. The checks are the
preflight's (`service_infra.preflight`), so what fails here stops `preview`/`up` there too.
Exit 0 when nothing failed, 1 when a check failed, 2 when the stack file itself has problems.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from service_infra import preflight
from service_infra.settings import SettingsError, load_stack_file


def doctor(stack_file: Path, min_free_gib: int = preflight.MIN_FREE_GIB, run: preflight.Runner | None = None) -> int:
    try:
        config = load_stack_file(stack_file)
    except SettingsError as error:
        for problem in error.problems:
            print(f"{stack_file}: {problem}")
        return 2
    findings = preflight.doctor_findings(config, run or preflight.run_check, min_free_gib)
    if not findings:
        print(f"{stack_file}: no Docker hosts in use")
    for finding in findings:
        print(finding.line())
    return 1 if any(f.status is preflight.Status.FAIL for f in findings) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service_infra doctor", description="check the stack's Docker hosts (read-only)"
    )
    parser.add_argument("stack_file", type=Path, metavar="Pulumi.<stack>.yaml")
    parser.add_argument("--min-free-gib", type=int, default=preflight.MIN_FREE_GIB, help="warn below this free disk")
    args = parser.parse_args(argv)
    return doctor(args.stack_file, args.min_free_gib)
