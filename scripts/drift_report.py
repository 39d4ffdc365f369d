"""Turn `pulumi preview --refresh --expect-no-changes --json` into a drift report for GitHub.

    .venv/bin/python scripts/drift_report.py REPORT.json STACK EXIT_STATUS

Writes the job summary (each drifted resource with the names of the properties that differ:
no values, no secrets) and exits non-zero when the stack drifted or the check could not run.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TextIO


def report(path: str, stack: str, status: int, summary: TextIO) -> int:
    try:
        with open(path, encoding="utf-8") as f:
            digest = json.load(f)
    except (OSError, ValueError):
        digest = None
    if digest is None:
        summary.write(f"## Drift check of `{stack}` could not run\n\nSee the job log (exit {status}).\n")
        print(f"::error title=drift check failed ({stack})::pulumi preview exited {status} without a report")
        return status or 1

    unchanged = {"same", "read", "refresh"}
    drifted = [s for s in digest.get("steps") or [] if s.get("op") not in unchanged]
    errors = [d for d in digest.get("diagnostics") or [] if d.get("severity") == "error"]
    if not drifted and status == 0:
        summary.write(f"## No drift in `{stack}`\n\nWhat runs matches the code.\n")
        return 0
    if not drifted:
        summary.write(f"## Drift check of `{stack}` did not complete (exit {status})\n\n")
        for diagnostic in errors:
            summary.write(f"> {diagnostic.get('message', '').strip()}\n\n")
        print(f"::error title=drift check failed ({stack})::pulumi preview exited {status}; see the job summary")
        return status

    summary.write(f"## Drift in `{stack}`: {len(drifted)} resource(s) differ from the code\n\n")
    if drifted:
        summary.write("| change | type | resource | properties that differ |\n|---|---|---|---|\n")
    lines = []
    for step in drifted:
        urn = step.get("urn", "")
        kind = urn.split("::")[-2].split("$")[-1] if urn.count("::") >= 3 else "?"
        name = urn.split("::")[-1]
        props = sorted(set(step.get("diffReasons") or []) | set(step.get("detailedDiff") or {}))
        shown = ", ".join(f"`{p}`" for p in props) or "-"
        summary.write(f"| {step.get('op')} | `{kind}` | `{name}` | {shown} |\n")
        lines.append(f"{step.get('op')} {kind} {name}")
    for diagnostic in errors:
        summary.write(f"\n> {diagnostic.get('message', '').strip()}\n")
    summary.write("\nBring it back with `pulumi up -s " + stack + "` (or change the code to match).\n")
    listed = "; ".join(lines) or "see the job summary"
    print(f"::error title=drift in {stack}::{len(drifted)} resource(s) differ from the code: {listed}")
    return 1


def main() -> int:
    path, stack, status = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as summary:
        return report(path, stack, status, summary)


if __name__ == "__main__":
    sys.exit(main())
