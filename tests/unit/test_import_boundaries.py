"""Tests share helpers through tests.support only: no test module imports another test module or a conftest,
and the benchmarks take nothing from tests/ but tests.support."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import ROOT


def _imported(source: str, package: str) -> list[str]:
    """Every module a source imports, absolute; `package` is the importer's own package, for relative imports."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            # `from pkg import name` may import a module: count `pkg.name` as well as `pkg`.
            names += [module, *(f"{module}.{alias.name}" for alias in node.names)]
    return names


def forbidden_test_imports(source: str, package: str) -> list[str]:
    """What a module under tests/ must not import: a test module (test_*) or a conftest."""
    return [
        name
        for name in _imported(source, package)
        if name.startswith("tests.") and any(p.startswith("test_") or p == "conftest" for p in name.split("."))
    ]


def benchmark_imports(source: str) -> list[str]:
    """What a benchmark must not import: anything from tests/ outside tests.support."""
    return [
        name
        for name in _imported(source, "benchmarks")
        if name.split(".")[0] == "tests" and name not in ("tests", "tests.support")
        if not name.startswith("tests.support.")
    ]


def _package(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).parent.parts)


TEST_TREE = sorted(p for p in (ROOT / "tests").rglob("*.py") if "__pycache__" not in p.parts)
BENCHMARKS = sorted((ROOT / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("path", TEST_TREE, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_test_module_imports_another_or_a_conftest(path: Path) -> None:
    found = forbidden_test_imports(path.read_text(), _package(path))
    assert found == [], f"{path.relative_to(ROOT)} imports {found}: move what it needs to tests/support"


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.name)
def test_benchmarks_import_from_tests_support_only(path: Path) -> None:
    found = benchmark_imports(path.read_text())
    assert found == [], f"{path.name} imports {found}: benchmarks take shared helpers from tests.support"


@pytest.mark.parametrize(
    ("source", "package", "caught"),
    [
        ("from tests.integration.test_ssh_host import API_KEY", "tests.integration", True),
        ("from tests.unit.conftest import run_stack", "tests.policy", True),
        ("import tests.unit.test_stacks", "tests.unit", True),
        ("from tests.integration import test_fly", "tests.integration", True),
        ("from .conftest import ROOT", "tests.unit", True),
        ("from . import test_rollout", "tests.unit", True),
        ("from ..unit.test_stacks import Recorder", "tests.policy", True),
        ("from tests.support.mocks import run_stack", "tests.unit", False),
        ("from tests.support.harness import DockerEngine", "tests.integration", False),
        ("from .session import Ctx", "tests.fakes.fly", False),
        ("import pytest", "tests.unit", False),
    ],
)
def test_the_test_tree_guard_catches_what_it_should(source: str, package: str, caught: bool) -> None:
    assert bool(forbidden_test_imports(source, package)) is caught


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("from tests.unit.conftest import run_stack", True),
        ("from tests.integration.harness import Load", True),
        ("import tests.integration.pulumi_project", True),
        ("from tests import unit", True),
        ("from tests.support.mocks import run_stack", False),
        ("from tests.support import ROOT", False),
        ("from tests import support", False),
        ("from service_infra.ops import rollout", False),
    ],
)
def test_the_benchmark_guard_catches_what_it_should(source: str, caught: bool) -> None:
    assert bool(benchmark_imports(source)) is caught
