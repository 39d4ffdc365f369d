"""uv.lock is pyproject.toml's pins resolved, with every file's hash, and the jobs that hold
credentials install from it (`uv sync --locked`) and install uv itself hash-checked, nothing else."""

from __future__ import annotations

import yaml

from tests.support import ROOT
from tests.support.pins import locked, normal, pins, requirements
from tests.support.workflows import SECRET_REFERENCE, jobs

RUNNER_ACTION = "./.github/actions/pulumi-runner"
PROJECT = "service-infra"


def test_the_lock_holds_every_pin_at_its_version() -> None:
    versions = {normal(package["name"]): package["version"] for package in locked()}
    for name, version in pins().items():
        assert versions.get(name) == version, (
            f"pyproject.toml pins {name}=={version}, uv.lock has {versions.get(name)}: run `uv lock`"
        )


def test_the_lock_was_made_from_this_pyproject() -> None:
    """uv.lock records the requirements it was resolved from: the same lists as pyproject.toml's."""
    project = next(package for package in locked() if package["name"] == PROJECT)
    recorded = {
        "dependencies": project["metadata"]["requires-dist"],
        "dev": project["metadata"]["requires-dev"]["dev"],
    }
    for group, listed in requirements().items():
        written = sorted(normal(r.split("==")[0].split("[")[0]) + "==" + r.split("==")[1] for r in listed)
        from_lock = sorted(f"{normal(entry['name'])}{entry['specifier']}" for entry in recorded[group])
        assert from_lock == written, f"uv.lock's {group} differ from pyproject.toml's: run `uv lock`"


def test_every_locked_package_has_a_hash() -> None:
    packages = [package for package in locked() if package["name"] != PROJECT]
    assert len(packages) > 20
    for package in packages:
        files = [package.get("sdist", {}), *package.get("wheels", [])]
        assert any(files), package["name"]
        for entry in files:
            if entry:
                assert entry.get("hash", "").startswith("sha256:"), f"{package['name']}: {entry.get('url')}"


def install_problems(steps: list[dict]) -> list[str]:
    """Each install in STEPS is uv from requirements-uv.txt with hashes, or `uv sync --locked`."""
    found = []
    for step in steps:
        for line in str(step.get("run", "")).splitlines():
            if "pip install" in line:
                if "--require-hashes -r requirements-uv.txt" not in line:
                    found.append(line.strip())
            elif ("uv sync" in line and "--locked" not in line) or "uv pip" in line or "uv add" in line:
                found.append(line.strip())
    return found


def test_jobs_holding_credentials_install_only_hash_checked_packages() -> None:
    action = yaml.safe_load((ROOT / ".github/actions/pulumi-runner/action.yml").read_text())
    assert install_problems(action["runs"]["steps"]) == []
    credentialed = [(name, job) for name, _, text, job in jobs() if SECRET_REFERENCE.search(text)]
    assert credentialed
    for name, job in credentialed:
        assert install_problems(job.get("steps", [])) == [], name
        assert any(step.get("uses") == RUNNER_ACTION for step in job["steps"]), f"{name} does not use {RUNNER_ACTION}"


def test_the_check_can_fail() -> None:
    steps = [{"run": ".venv/bin/pip install pulumi\nuv sync --no-dev\nuv pip install -r r.txt\nuv sync --locked"}]
    assert install_problems(steps) == [".venv/bin/pip install pulumi", "uv sync --no-dev", "uv pip install -r r.txt"]
