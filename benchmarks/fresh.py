"""What the benchmarks that start from a fresh clone share: the clone, a new user's environment
(new HOME, empty caches), and a run that notes when each step's first log line appeared."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def clone(into: Path) -> Path:
    """A clean clone of this repository's HEAD: what CI and a new user start from."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(into)], check=True)
    return into


def new_user_env(work: Path) -> dict[str, str]:
    """This environment with a new HOME under WORK: pip's, Go's and service-infra's caches empty
    (the Pulumi engine and the base images are built again), as on a fresh machine."""
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    # The machine's Go settings (GOFLAGS, GOTOOLCHAIN) are part of the machine, not of a cache.
    go_env = Path.home() / ".config" / "go" / "env"
    if go_env.is_file():
        (home / ".config" / "go").mkdir(parents=True, exist_ok=True)
        shutil.copy(go_env, home / ".config" / "go" / "env")
    env = {**os.environ, "HOME": str(home)}
    for variable in ("SERVICE_INFRA_CACHE", "XDG_CACHE_HOME", "PULUMI_HOME", "GOCACHE", "GOMODCACHE"):
        env.pop(variable, None)
    return env


def timed_run(
    argv: list[str], cwd: Path, env: Mapping[str, str], steps: Mapping[str, str], *, check: bool = True
) -> tuple[float, dict[str, float], str]:
    """Run ARGV, noting when each of STEPS (name: marker) first appears in its output; the wall
    time, those times, and the output. With CHECK, SystemExit with the output's end when it fails;
    without, the output ends with a line giving the exit code."""
    start = time.monotonic()
    seen: dict[str, float] = {}
    lines: list[str] = []
    with subprocess.Popen(
        argv, cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            for step, marker in steps.items():
                if marker in line and step not in seen:
                    seen[step] = time.monotonic() - start
    wall = time.monotonic() - start
    if process.returncode != 0 and not check:
        lines.append(f"exit code {process.returncode}\n")
    elif process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed (exit {process.returncode}):\n{''.join(lines[-60:])}")
    return wall, seen, "".join(lines)
