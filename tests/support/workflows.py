"""The workflows as data: their jobs, what triggers them, which environments and secrets they use."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.support import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SECRET_REFERENCE = re.compile(r"secrets\.([A-Z0-9_]+)")


def load(path: Path) -> dict[Any, Any]:
    return yaml.safe_load(path.read_text())


def triggers(workflow: dict[Any, Any]) -> set[str]:
    on = workflow.get(True, workflow.get("on"))  # YAML 1.1 reads a bare `on` as True
    return set(on) if isinstance(on, dict) else {on} if isinstance(on, str) else set(on or [])


def jobs() -> list[tuple[str, set[str], str, dict[str, Any]]]:
    found = []
    for path in WORKFLOWS:
        workflow = load(path)
        for name, job in workflow["jobs"].items():
            found.append((f"{path.name}:{name}", triggers(workflow), yaml.safe_dump(job), job))
    return found


def environments(job: dict[str, Any]) -> set[str]:
    """Every environment name a job's `environment:` can evaluate to."""
    value = job.get("environment")
    if value is None:
        return set()
    text = value if isinstance(value, str) else value.get("name", "")
    # `${{ cond && 'a' || 'b' }}`: the names are the quoted results, not what is compared.
    return set(re.findall(r"(?:&&|\|\|)\s*'([a-z0-9-]+)'", text)) or {text}


def conjuncts(condition: str) -> list[str]:
    """The clauses an `if:` joins with a top-level `&&`: each must hold for the job to run.
    `a && (b || c)` gives ["a", "(b || c)"]; whitespace is normalised, `${{ }}` dropped."""
    text = " ".join(condition.split())
    text = re.sub(r"^\$\{\{\s*(.*?)\s*\}\}$", r"\1", text)
    clauses, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and text.startswith("&&", index):
            clauses.append(text[start:index].strip())
            start = index + 2
    clauses.append(text[start:].strip())
    return [clause for clause in clauses if clause]
