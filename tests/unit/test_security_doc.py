"""docs/security.md tells the truth about who can read each credential.

Its tables list every credential by name (and, where one name has several copies, the copy in
parentheses), where it lives, who can read it and what it reaches. This reads the workflows and
the stack files and fails when a secret they use is missing from the tables, or when a row says
fewer people can read it than can.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import yaml

from tests.support import ROOT
from tests.support.workflows import SECRET_REFERENCE, environments, jobs

DOC = ROOT / "docs" / "security.md"
ROW = re.compile(
    r"^\| `(?P<name>[A-Z0-9_]+)`(?: \((?P<copy>[^)]+)\))? \| (?P<where>[^|]+) \| (?P<who>[^|]+) \| [^|]+ \|$"
)


@dataclass(frozen=True)
class Row:
    name: str
    copy: str | None
    where: str
    who: str


def rows(text: str) -> list[Row]:
    found = []
    for line in text.splitlines():
        match = ROW.match(line)
        if match:
            found.append(Row(match["name"], match["copy"], match["where"].strip(), match["who"].strip()))
    return found


def readers(text: str, name: str, where: str) -> list[str]:
    """Who the rows for NAME kept WHERE (an environment, `repository`, a stack file) say can read it."""
    return [row.who for row in rows(text) if row.name == name and where in row.where]


def problems(text: str) -> list[str]:
    found: list[str] = []
    for job_name, _, job_text, job in jobs():
        bound = environments(job)
        for name in sorted(set(SECRET_REFERENCE.findall(job_text))):
            places = sorted(bound) or ["repository"]
            for place in places:
                who = readers(text, name, "repository" if place == "repository" else f"`{place}`")
                if not who:
                    found.append(f"{job_name} reads {name} from {place}: no row for it")
                    continue
                wanted = {"repository": "any branch", "staging": "staging branch"}.get(place, "main")
                if not any(wanted in w or "any branch" in w for w in who):
                    found.append(f"{name} in {place}: the table says {who}, but {wanted} can read it")
    for stack, wanted in (("staging", "any branch"), ("prod", "main")):
        document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
        for name in sorted(document["config"]["service-infra:secrets"]):
            who = [r.who for r in rows(text) if r.name == name and r.where == f"`Pulumi.{stack}.yaml`"]
            if not who:
                found.append(f"Pulumi.{stack}.yaml's secret {name}: no row for it")
            elif who != [wanted]:
                found.append(f"Pulumi.{stack}.yaml's secret {name}: the table says {who}, but {wanted} can read it")
    for row in rows(text):
        if row.where.startswith("repository") and not row.who.startswith("any branch"):
            found.append(f"{row.name}: a repository secret, which any branch can read, not {row.who!r}")
    return found


def test_every_credential_is_in_the_table_with_everyone_who_can_read_it() -> None:
    assert problems(DOC.read_text()) == []


def test_the_check_can_fail() -> None:
    text = DOC.read_text()
    dropped = "\n".join(line for line in text.splitlines() if not line.startswith("| `PREVIEW_AWS_ACCESS_KEY_ID`"))
    assert any("PREVIEW_AWS_ACCESS_KEY_ID from production-preview: no row" in p for p in problems(dropped))
    understated = text.replace(
        "| `STAGING_SSH_PRIVATE_KEY` | repository | any branch |", "| `STAGING_SSH_PRIVATE_KEY` | repository | main |"
    )
    assert understated != text
    assert any(p.startswith("STAGING_SSH_PRIVATE_KEY in repository") for p in problems(understated))
    staging_secret = text.replace(
        "| `API_KEY` (staging) | `Pulumi.staging.yaml` | any branch |",
        "| `API_KEY` (staging) | `Pulumi.staging.yaml` | staging branch |",
    )
    assert any("Pulumi.staging.yaml's secret API_KEY" in p for p in problems(staging_secret))


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_stack_files_rows_name_real_secrets(stack: str) -> None:
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    names = set(document["config"]["service-infra:secrets"])
    listed = {r.name for r in rows(DOC.read_text()) if r.where == f"`Pulumi.{stack}.yaml`"}
    assert listed == names
