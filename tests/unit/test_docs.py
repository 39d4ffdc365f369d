"""The docs stay true: the config reference is the settings models' own, and every file the README
and docs/ name exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from service_infra.cli import config_reference
from service_infra.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)
# A span with any of these is a command, a URL or a pattern, not a path in the repository.
NOT_A_PATH = re.compile(r"[\s<>*{}$~…|\"']|://")
FILE_SUFFIX = re.compile(r"\.[A-Za-z]{1,4}$")


def _prose(text: str) -> str:
    """The text outside fenced code blocks: what is in them is shell and output, not references."""
    return FENCE.sub("", text)


def _names_a_path(span: str, root: Path) -> bool:
    """`service_infra/cli/`, `tests/unit/test_docs.py`, `components/proxy.py`: yes. `pkg/v3` (a Go
    module), `pulumi/actions` (an action), `/data` (a path in a container), `~/.cache/…`: no."""
    if "/" not in span or NOT_A_PATH.search(span) or span.startswith(("/", "-", "..", "@")):
        return False
    return (root / span.split("/")[0]).exists() or span.endswith("/") or bool(FILE_SUFFIX.search(span))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    return {_slug(heading) for heading in HEADING.findall(_prose(doc.read_text()))}


def broken_references(doc: Path, root: Path) -> list[str]:
    """Paths in backticks (from the repository root) and relative links (from the doc) that lead
    nowhere."""
    text = _prose(doc.read_text())
    problems = []
    for _, span in CODE_SPAN.findall(text):
        span = span.strip()
        if _names_a_path(span, root) and not (root / span).exists():
            problems.append(f"`{span}` does not exist")
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (doc.parent / path).resolve() if path else doc
        if not linked.exists():
            problems.append(f"link {target} leads to no file")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            problems.append(f"link {target} names no heading of {linked.name}")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: str(doc.relative_to(ROOT)))
def test_every_path_and_link_in_the_docs_exists(doc: Path) -> None:
    assert broken_references(doc, ROOT) == [], f"{doc.relative_to(ROOT)} names what is not in the repository"


@pytest.mark.parametrize("workflow", sorted((ROOT / ".github" / "workflows").glob("*.yml")), ids=lambda p: p.name)
def test_the_docs_a_workflow_points_to_exist(workflow: Path) -> None:
    named = re.findall(r"[\w./-]+\.md\b", workflow.read_text())
    assert [name for name in named if not (ROOT / name).exists()] == [], f"{workflow.name} points to missing docs"


def test_the_reference_check_finds_old_paths_and_dead_links(tmp_path: Path) -> None:
    (tmp_path / "service_infra").mkdir()
    (tmp_path / "docs").mkdir()
    doc = tmp_path / "docs" / "guide.md"
    doc.write_text(
        "# The guide\n\n"
        "`service_infra/` `service_infra/gone.py` `components/proxy.py` `pkg/v3` `/data` `s3://b/x`\n"
        "[here](#the-guide) [there](#nowhere) [old](README-delivery.md) [web](https://example.com/x)\n\n"
        "```bash\ncat `scripts/in-a-fence.sh`\n```\n"
    )
    assert broken_references(doc, tmp_path) == [
        "`service_infra/gone.py` does not exist",
        "`components/proxy.py` does not exist",
        "link #nowhere names no heading of guide.md",
        "link README-delivery.md leads to no file",
    ]


def test_docs_configuration_md_is_generated_from_the_current_settings_models() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == config_reference.render(), (
        f"docs/configuration.md no longer matches service_infra/settings; refresh it: .venv/bin/{config_reference.REFRESH}"
    )


def test_every_settings_model_and_key_has_a_description() -> None:
    undescribed = [
        f"{section.model.__module__}.{section.model.__name__}{'.' + name if name else ''}"
        for section in config_reference.sections()
        for name, described in [
            ("", config_reference.model_description(section.model)),
            *((name, field.description) for name, field in section.model.model_fields.items()),
        ]
        if not described
    ]
    assert undescribed == [], "give each a docstring (for a field: a string literal on the line after it)"


def test_the_reference_has_a_row_per_key_with_its_type_and_default() -> None:
    reference = config_reference.render()
    keys = sum(len(section.model.model_fields) for section in config_reference.sections())
    assert len(re.findall(r"^\| `service-infra:", reference, re.MULTILINE)) == keys
    assert "| `service-infra:services.<name>.docker.port` | integer, 1 to 65535 | required |" in reference
    assert "| `service-infra:services.<name>.docker.drain_seconds` | integer, 0 to 600 | `30` |" in reference
    assert "| `service-infra:services.<name>.fly.volumes[].size_gb` | integer, 1 to 500 | required |" in reference
    assert "| `service-infra:secrets.<NAME>` | secure string | — |" in reference
    assert "| `service-infra:environment` | `local` \\| `staging` \\| `prod` \\| `preview` | required |" in reference


def test_the_cli_prints_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config-reference"]) == 0
    assert capsys.readouterr().out == config_reference.render()


def test_docs_testing_md_says_what_each_integration_test_proves() -> None:
    """docs/testing.md's list is the suite's contract: one line per integration test (and per
    parameter), none for a test that is gone."""
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist", "tests/integration"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert collected.returncode == 0, collected.stdout[-2000:] + collected.stderr[-2000:]
    tests = {line.removeprefix("tests/integration/") for line in collected.stdout.splitlines() if "::" in line}
    section = (ROOT / "docs" / "testing.md").read_text().split("## What each integration test proves", 1)[1]
    listed = set(re.findall(r"^\| `([^`]+::[^`]+)` \|", section.split("\n## ", 1)[0], re.M))
    assert tests, collected.stdout[-2000:]
    assert sorted(tests - listed) == [], "integration tests docs/testing.md does not list"
    assert sorted(listed - tests) == [], "docs/testing.md lists tests that do not exist"


def test_delivery_md_lists_every_workflow() -> None:
    """docs/delivery.md's table has a row per workflow file (it once counted three of four)."""
    text = (ROOT / "docs" / "delivery.md").read_text()
    workflows = sorted(p.name for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    rows = sorted(set(re.findall(r"^\| `\.github/workflows/([\w.-]+\.yml)` \|", text, re.MULTILINE)))
    assert rows == workflows


def test_the_command_list_names_every_command() -> None:
    """service_infra/cli/main.py's docstring lists each subcommand its parser takes, and no other."""
    from service_infra.cli import main as cli

    own = set(re.findall(r'commands\.add_parser\(\s*"([\w-]+)"', Path(cli.__file__).read_text()))
    parser_commands = own | set(cli.DELEGATED)
    listed = {line.split()[0] for line in (cli.__doc__ or "").splitlines()[2:] if line.strip()}
    assert listed == parser_commands
