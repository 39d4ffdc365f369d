"""Benchmark: the unit suite's wall time, and the program's evaluation time per stack under mocks.

Run: .venv/bin/python benchmarks/unit.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.mocks import load_stack_config, run_stack  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    suite = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/unit"], cwd=ROOT, check=True, capture_output=True)
        suite.append(time.perf_counter() - start)
    print(
        f"unit suite (pytest tests/unit, {args.repeat} runs): median {statistics.median(suite):.2f} s, min {min(suite):.2f} s"
    )

    for stack in ("local", "staging", "prod"):
        config = load_stack_config(stack)
        recorder = run_stack(config, stack)  # warm-up: imports
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            recorder = run_stack(config, stack)
            times.append(time.perf_counter() - start)
        print(
            f"program evaluation under mocks, stack {stack}: median {statistics.median(times) * 1000:.0f} ms "
            f"({len(recorder.resources)} resources)"
        )


if __name__ == "__main__":
    main()
