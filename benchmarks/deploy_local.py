"""Benchmark: README command 1 (`scripts/deploy-local.sh`) on a fresh clone, as a new user runs it.

Three starting points, each measured from a clean clone of this repository's HEAD, up to the
service answering /health, then torn down with `scripts/deploy-local.sh destroy`:
  cold          nothing installed or cached: a new HOME (pip, Go and service-infra caches empty),
                the engine without the base or service images; every part is fetched or built
  warm          the same clone and caches again (the second run of a user)
  preinstalled  a workstation's starting point: a `pulumi` CLI and its plugins already installed
                (this machine's built ones, put on PATH as an official install would be) and
                the base images already in the engine; nothing is built but the service images
Each run prints its wall time and when each step's first log line appeared.

Run: .venv/bin/python benchmarks/deploy_local.py [--modes cold,warm,preinstalled]
The default engine (DOCKER_HOST or /var/run/docker.sock) must be one you may remove images from.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.fresh import clone, new_user_env, timed_run  # noqa: E402

BASES = ("python:3.11-slim", "debian:bookworm-slim")
IMAGES = ("service-infra/local-llm-server:dev", "service-infra/edge-proxy:dev")
# The first log line of each step, in the order deploy-local.sh takes them.
STEPS = {
    "virtualenv": "installing Python packages",
    "pulumi": "[ensure-pulumi]",
    "docker engine": "[ensure-docker-engine]",
    "base image": "[make-base-image]",
    "images": "[build-example-image] building",
    "pulumi up": "Updating (local)",
}


def remove_images(*refs: str) -> None:
    subprocess.run(["docker", "image", "rm", "--force", *refs], capture_output=True, check=False)


def deploy(checkout: Path, env: dict[str, str], label: str) -> None:
    wall, seen, _ = timed_run(["bash", "scripts/deploy-local.sh"], checkout, env, STEPS)
    with urllib.request.urlopen("http://127.0.0.1:8000/health", timeout=10) as answer:
        body = answer.read().decode()
    steps = ", ".join(f"{step} +{at:.0f}s" for step, at in sorted(seen.items(), key=lambda item: item[1]))
    print(f"{label:>12}: {wall:6.1f} s to a serving `local` ({body.strip()}); steps: {steps}", flush=True)
    timed_run(["bash", "scripts/deploy-local.sh", "destroy"], checkout, env, STEPS)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--modes", default="cold,warm,preinstalled")
    args = parser.parse_args()
    modes = args.modes.split(",")
    work = Path(tempfile.mkdtemp(prefix="si-bench-deploy-"))
    try:
        env = {**new_user_env(work), "SERVICE_INFRA_STATE": str(work / "state")}
        checkout = clone(work / "fresh")
        if "cold" in modes:
            remove_images(*IMAGES, *BASES)
            deploy(checkout, env, "cold")
        if "warm" in modes:
            remove_images(*IMAGES)
            deploy(checkout, env, "warm")
        if "preinstalled" in modes:
            # This machine's toolchain as a workstation would have it: on PATH, with its plugins.
            found = subprocess.run(
                ["bash", str(ROOT / "scripts" / "ensure-pulumi.sh")], capture_output=True, text=True, check=True
            ).stdout
            pre_env = {**os.environ, "SERVICE_INFRA_STATE": str(work / "state")}
            for line in found.splitlines():
                key, _, value = line.partition("=")
                if key == "PULUMI_BIN":
                    pre_env["PATH"] = f"{value}:{pre_env['PATH']}"
                elif key == "PULUMI_HOME":
                    pre_env["PULUMI_HOME"] = value
            remove_images(*IMAGES)
            deploy(clone(work / "workstation"), pre_env, "preinstalled")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
