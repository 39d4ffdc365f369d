"""`.github/CODEOWNERS` names prod's reviewers for everything that runs with prod's credentials.

`main` requires a code owner's approving review (the prod stack's branch protection), so a path
missing here, or owned by someone who is not a prod reviewer, is a way to prod without one.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from service_infra.settings import load_stack_file
from tests.support import ROOT

CODEOWNERS = ROOT / ".github" / "CODEOWNERS"
# What runs with prod's credentials, or decides what does (issue 24).
MUST_BE_OWNED = (
    "/.github/",
    "/policy/",
    "/service_infra/",
    "/components/",
    "/__main__.py",
    "/Pulumi.yaml",
    "/Pulumi.prod.yaml",
    "/pyproject.toml",
    "/uv.lock",
    "/requirements-uv.txt",
)


def rules(text: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            found[words[0]] = set(words[1:])
    return found


def prod_reviewers() -> set[str]:
    github = load_stack_file(ROOT / "Pulumi.prod.yaml").github
    assert github is not None
    reviewers = github.environments["production"].reviewers
    return {f"@{user}" for user in reviewers.users} | {f"@{github.owner}/{team}" for team in reviewers.teams}


def problems(text: str) -> list[str]:
    owned, wanted = rules(text), prod_reviewers()
    found = [f"{path}: not in CODEOWNERS" for path in MUST_BE_OWNED if path not in owned]
    found += [f"{path}: owned by {sorted(owners)}, not prod's reviewers {sorted(wanted)}"
              for path, owners in owned.items() if owners != wanted]  # fmt: skip
    # GitHub applies the last matching rule: a later, broader one would take the paths back.
    last = list(owned)
    found += [f"{path}: a later rule {later} overrides it" for path in MUST_BE_OWNED if path in owned
              for later in last[last.index(path) + 1 :] if later in {"*", "/", "/*", "**"}]  # fmt: skip
    return found


def test_everything_that_runs_with_prods_credentials_is_owned_by_prods_reviewers() -> None:
    assert problems(CODEOWNERS.read_text()) == []
    for path in MUST_BE_OWNED:
        assert (ROOT / path.strip("/")).exists(), f"{path} no longer exists: update MUST_BE_OWNED"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace("/policy/", "/policies/"), "/policy/: not in CODEOWNERS"),
        (
            lambda t: t.replace("/__main__.py               @alice-acme", "/__main__.py               @mallory"),
            "/__main__.py: owned by",
        ),
        (lambda t: t + "*   @mallory\n", "a later rule * overrides it"),
    ],
)
def test_the_check_can_fail(edit: Callable[[str], str], expected: str) -> None:
    assert any(expected in p for p in problems(edit(CODEOWNERS.read_text())))
