"""requirements.lock is requirements.txt and policy/requirements.txt with every file's hash, and
the jobs that hold credentials install from it with --require-hashes, nothing else."""

from __future__ import annotations

import re

import yaml

from tests.support import ROOT
from tests.support.workflows import SECRET_REFERENCE, jobs

LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", re.M)
RUNNER_ACTION = "./.github/actions/pulumi-runner"


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    return {normal(name): version for name, version in PIN.findall(text)}


def test_the_lock_holds_every_pin_at_its_version() -> None:
    locked = pins(LOCK.read_text())
    for source in ("requirements.txt", "policy/requirements.txt"):
        for name, version in pins((ROOT / source).read_text()).items():
            assert locked.get(name) == version, (
                f"{source} pins {name}=={version}, requirements.lock has {locked.get(name)}: "
                "run scripts/lock-requirements.sh"
            )


def test_every_locked_package_has_a_hash() -> None:
    entries = re.split(r"\n(?=[A-Za-z])", LOCK.read_text().split("\n", 2)[2])
    assert len(entries) > 20
    for entry in entries:
        assert "--hash=sha256:" in entry, entry.splitlines()[0]


def install_problems(steps: list[dict]) -> list[str]:
    """Each `pip install` in STEPS either checks hashes or installs the checkout alone."""
    found = []
    for step in steps:
        for line in str(step.get("run", "")).splitlines():
            if "pip install" not in line:
                continue
            hashed = "--require-hashes -r requirements.lock" in line
            checkout_only = line.rstrip().endswith("--no-deps --no-build-isolation -e .")
            if not (hashed or checkout_only):
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
    assert install_problems([{"run": ".venv/bin/pip install -r requirements.txt"}]) == [
        ".venv/bin/pip install -r requirements.txt"
    ]
