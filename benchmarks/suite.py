"""Benchmark: the test gate as CI and a developer meet it, each run on a fresh clone of HEAD.

  fast   `scripts/test.sh --fast`: lint, format, types, the offline check, the unit, policy and
         stand-in tests (this machine's caches)
  full   `CI=true bash .ci/run` (the whole of scripts/test.sh) with the Pulumi engine already built
         (this machine's caches): what CI takes on a machine that ran it before
  cold   `CI=true bash .ci/run` as on a fresh machine: a new HOME, so pip's, Go's and
         service-infra's caches are empty and the Pulumi engine and the base images are built
Each run prints its wall time, when each step began, the tests' count and pytest's own time, the
time each tier's tests took (summed over the parallel workers) and the ten slowest tests. With
--runs N, the median of each mode's wall times.

Run: .venv/bin/python benchmarks/suite.py [--modes fast,full,cold] [--runs 2]
Takes as long as the runs: fast ~2 min, full ~15, cold ~40.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.fresh import clone, new_user_env, timed_run  # noqa: E402

# The first log line of each step of scripts/test.sh (and of the engine's build, when cold).
STEPS = {
    "virtualenv": "installing Python packages",
    "pulumi engine": "[pulumi ",
    "lint": "lint and format (ruff)",
    "types": "types (pyright)",
    "workflows and scripts": "workflows (actionlint",
    "go tests": "Go tests of the offline",
    "offline check": "offline check of the stack files",
    "tests": "] tests",
    "fast tests": "unit, policy and stand-in tests",
}
COMMANDS = {
    "fast": ["bash", "scripts/test.sh", "--fast"],
    "full": ["bash", ".ci/run"],
    "cold": ["bash", ".ci/run"],
}
DURATION = re.compile(r"^\s*([0-9.]+)s (setup|call|teardown)\s+(\S+?)(?:::(\S+))?$", re.M)
TIERS = {"tests/integration/": "integration", "tests/unit/": "unit", "tests/policy/": "policy"}


def tier(test_file: str) -> str:
    return next((name for prefix, name in TIERS.items() if test_file.startswith(prefix)), "stand-ins and example")


def report(mode: str, wall: float, seen: dict[str, float], output: str) -> None:
    steps = ", ".join(f"{step} +{at:.0f}s" for step, at in sorted(seen.items(), key=lambda item: item[1]))
    print(f"{mode}: {wall:.1f} s ({wall / 60:.1f} min); steps: {steps}")
    summary = re.findall(r"^=*\s*(\d+ passed.*? in ([0-9.]+)s.*?)\s*=*$", output, re.M)
    if summary:
        print(f"  pytest: {summary[-1][0]}")
    per_test: dict[str, float] = defaultdict(float)
    for seconds, _phase, test_file, test in DURATION.findall(output):
        per_test[f"{test_file}::{test}" if test else test_file] += float(seconds)
    by_tier: dict[str, list[float]] = defaultdict(list)
    for name, seconds in per_test.items():
        by_tier[tier(name)].append(seconds)
    for name, times in sorted(by_tier.items()):
        print(f"  {name}: {len(times)} tests over 5 ms, {sum(times) / 60:.1f} min of test time (all workers)")
    slowest = sorted(per_test.items(), key=lambda item: -item[1])[:10]
    if slowest:
        print("  the ten slowest (setup + call + teardown):")
        for name, seconds in slowest:
            print(f"    {seconds:7.1f} s  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description="The test gate's time: fast tier, full suite, fresh machine.")
    parser.add_argument("--modes", default="fast,full", help="comma-separated: fast, full, cold")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--logs", type=Path, default=Path(tempfile.gettempdir()) / "si-bench-suite-logs")
    args = parser.parse_args()
    args.logs.mkdir(parents=True, exist_ok=True)
    modes = args.modes.split(",")
    unknown = set(modes) - set(COMMANDS)
    if unknown:
        parser.error(f"--modes: unknown {sorted(unknown)}; choose from {sorted(COMMANDS)}")
    walls: dict[str, list[float]] = defaultdict(list)
    work = Path(tempfile.mkdtemp(prefix="si-bench-suite-"))
    try:
        for run in range(args.runs):
            for mode in modes:
                checkout = clone(work / f"{mode}-{run}")
                base = new_user_env(work / f"{mode}-{run}-user") if mode == "cold" else None
                env = {**(base or os.environ), "CI": "true"}
                # Every test's time, so the tiers can be summed; pytest prints the slowest first.
                env["PYTEST_ADDOPTS"] = "--durations=0 --durations-min=0.005"
                wall, seen, output = timed_run(COMMANDS[mode], checkout, env, STEPS, check=False)
                if output.splitlines()[-1].startswith("exit code "):
                    print(f"{mode}: FAILED ({output.splitlines()[-1]}); the figures below are still its times")
                walls[mode].append(wall)
                log = args.logs / f"{mode}-{run}.log"
                log.write_text(output)
                print(f"{mode}: its whole output is in {log}")
                report(mode, wall, seen, output)
                shutil.rmtree(checkout, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.runs > 1:
        for mode, times in walls.items():
            print(f"{mode}: median of {len(times)} runs {statistics.median(times) / 60:.1f} min ({times})")


if __name__ == "__main__":
    sys.exit(main())
