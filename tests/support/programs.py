"""The program as of an earlier commit, put in a test project in place of the current one: how
the integration tests deploy what users deployed before a change, then meet it with the change."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile

import pytest

from tests.support import ROOT
from tests.support.pulumi_project import Project


def program_at(commit: str, *paths: str) -> bytes:
    """PATHS of the repository at COMMIT, as a tar stream from git."""
    done = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, *paths], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.fail(
            f"this test deploys the program as of {commit} from git history, which this clone lacks "
            f"({done.stderr.decode().strip()}); fetch the full history (git fetch --unshallow)"
        )
    return done.stdout


def use_program(project: Project, old: bytes | None) -> None:
    """Put an old program (a tar from program_at) or the current one in the project folder."""
    for name in ("components", "service_infra"):
        shutil.rmtree(project.dir / name, ignore_errors=True)
    if old is None:
        shutil.copy(ROOT / "__main__.py", project.dir / "__main__.py")
        for package in ("service_infra", "components"):  # components/: entry points of the old command lines
            shutil.copytree(ROOT / package, project.dir / package, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        with tarfile.open(fileobj=io.BytesIO(old)) as archive:
            archive.extractall(project.dir, filter="data")
