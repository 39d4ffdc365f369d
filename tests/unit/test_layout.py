"""The package's rooms keep their boundaries: ops run on any python3, type tokens never change."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from service_infra import contract

PACKAGE = Path(__file__).resolve().parents[2] / "service_infra"
STDLIB = sys.stdlib_module_names


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


# The one module of the package that ops may import: what both sides of the process boundary share.
BOUNDARY = "service_infra.boundary"


@pytest.mark.parametrize("path", sorted((PACKAGE / "ops").glob("*.py")), ids=lambda p: p.name)
def test_ops_import_only_the_standard_library(path: Path) -> None:
    # Command resources run these with whatever python3 the machine has: no venv, no pydantic.
    foreign = [name for name in _imports(path) if name.split(".")[0] not in STDLIB and name != BOUNDARY]
    assert foreign == [], f"{path.name} imports {foreign}; ops/ may use the standard library and {BOUNDARY} only"


def test_the_boundary_itself_imports_only_the_standard_library() -> None:
    foreign = [name for name in _imports(PACKAGE / "boundary.py") if name.split(".")[0] not in STDLIB]
    assert foreign == []


@pytest.mark.parametrize("path", [PACKAGE / "__init__.py", PACKAGE / "ops" / "__init__.py"], ids=str)
def test_the_packages_ops_load_through_import_nothing(path: Path) -> None:
    assert _imports(path) == [], f"{path} must stay import-free: `python3 -m service_infra.ops.<name>` loads it"


# What a room may not import: the arrows go one way (docs/architecture.md).
BACK_ARROWS = {
    "settings": ("service_infra.commands", "service_infra.components", "service_infra.cli"),
    "commands": ("service_infra.components", "service_infra.cli"),
}


def back_arrows(room: str, paths: list[Path]) -> list[str]:
    return [
        f"{path.name} imports {name}" for path in paths for name in _imports(path) if name.startswith(BACK_ARROWS[room])
    ]


@pytest.mark.parametrize("room", sorted(BACK_ARROWS))
def test_no_room_imports_one_that_builds_on_it(room: str) -> None:
    assert back_arrows(room, sorted((PACKAGE / room).glob("*.py"))) == []


def test_a_back_arrow_is_seen_even_inside_a_function(tmp_path: Path) -> None:
    loader = tmp_path / "loader.py"
    loader.write_text("def check():\n    from service_infra.commands.fly import secret_line\n")
    assert back_arrows("settings", [loader]) == ["loader.py imports service_infra.commands.fly"]


def _help_on_a_bare_python3(module: str) -> subprocess.CompletedProcess[str]:
    """`python3 -S -m MODULE --help` from the project folder: -S means no site-packages at all, as
    on a host python3 without the project's packages."""
    return subprocess.run(
        ["python3", "-S", "-m", module, "--help"], cwd=PACKAGE.parent, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("module", ["rollout", "probe", "fly"])
def test_ops_run_on_a_bare_python3_without_the_virtualenv(module: str) -> None:
    done = _help_on_a_bare_python3(f"service_infra.ops.{module}")
    assert done.returncode == 0, done.stderr


def test_component_type_tokens_are_those_deployed_stacks_hold() -> None:
    # URNs of deployed stacks contain these; a change would replace every resource under them.
    assert contract.COMPONENT_TYPES == (
        "service-infra:environment:ServiceEnvironment",
        "service-infra:docker_host:DockerHost",
        "service-infra:docker_service:DockerService",
        "service-infra:fly_app:FlyApp",
        "service-infra:github_repository:GithubRepository",
        "service-infra:github_environment:GithubEnvironment",
        "service-infra:health_gate:HealthGate",
    )


LEGACY = PACKAGE.parent / "components"


def test_the_legacy_entry_points_only_hand_over_to_ops() -> None:
    # State written before the move runs `python3 -m components.<op>`; nothing else lives there.
    assert sorted(p.name for p in LEGACY.glob("*.py")) == ["__init__.py", "flyctl.py", "probe.py", "rollout.py"]
    successors = {"flyctl": "fly", "probe": "probe", "rollout": "rollout"}
    for old, new in successors.items():
        assert _imports(LEGACY / f"{old}.py") == ["sys", f"service_infra.ops.{new}"]
    assert _imports(LEGACY / "__init__.py") == []


@pytest.mark.parametrize("module", ["rollout", "probe", "flyctl"])
def test_legacy_command_lines_still_run_on_a_bare_python3(module: str) -> None:
    done = _help_on_a_bare_python3(f"components.{module}")
    assert done.returncode == 0, done.stderr
    assert "service_infra.ops" in done.stdout  # the successor's own usage line
