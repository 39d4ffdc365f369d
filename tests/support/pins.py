"""The project's pins: pyproject.toml's dependencies and dev group (`NAME==VERSION`, the one place
versions are written) and uv.lock, their resolution with every file's hash."""

from __future__ import annotations

import re
import tomllib
from typing import Any

from tests.support import ROOT

PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;]+)$")


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirements() -> dict[str, list[str]]:
    """Each requirement list of pyproject.toml: the program's and the dev group's."""
    document = pyproject()
    return {"dependencies": document["project"]["dependencies"], "dev": document["dependency-groups"]["dev"]}


def pins() -> dict[str, str]:
    """Every requirement's package (normalised) and the version it is pinned to."""
    found = {}
    for listed in requirements().values():
        for requirement in listed:
            match = PIN.match(requirement)
            assert match, f"pyproject.toml: {requirement!r} is not pinned as NAME==VERSION"
            found[normal(match.group(1))] = match.group(2)
    return found


def pin(package: str) -> str:
    found = pins().get(normal(package))
    assert found, f"pyproject.toml pins no {package}"
    return found


def locked() -> list[dict[str, Any]]:
    """uv.lock's packages."""
    return tomllib.loads((ROOT / "uv.lock").read_text())["package"]
