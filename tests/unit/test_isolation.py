"""Each environment reaches only itself: no two stack files name one Docker host identity, one
published port on a host, or one Fly app; `check` compares the files, a prod update its siblings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from service_infra import preflight
from service_infra.cli.check import check
from service_infra.settings import SettingsError, load_stack_file
from service_infra.settings.isolation import shared_reach_problems
from tests.support import ROOT


def seeds(tmp_path: Path) -> Path:
    for name in ("local", "staging", "prod"):
        shutil.copy(ROOT / f"Pulumi.{name}.yaml", tmp_path / f"Pulumi.{name}.yaml")
    return tmp_path


def edit(path: Path, change: dict[str, str]) -> None:
    """Set dotted keys under config.service-infra:..., keeping the rest of the file."""
    document = yaml.safe_load(path.read_text())
    for dotted, value in change.items():
        section, *keys = dotted.split(".")
        node = document["config"][f"service-infra:{section}"]
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_the_seeds_share_nothing(tmp_path: Path) -> None:
    stacks = {name: load_stack_file(ROOT / f"Pulumi.{name}.yaml") for name in ("local", "staging", "prod")}
    assert shared_reach_problems(stacks) == []


@pytest.mark.parametrize(
    ("change", "what", "key"),
    [
        (
            {"docker_hosts.mac-mini.url": "ssh://deploy-prod@mac-mini.tailnet.example:22"},
            "the Docker host identity deploy-prod@mac-mini.tailnet.example:22",
            "service-infra:docker_hosts.mac-mini.url",
        ),
        (
            {"services.llm-server.docker.port": 8000},
            "port 8000 on mac-mini.tailnet.example",
            "service-infra:services.llm-server.docker.port",
        ),
        (
            {"services.image-descriptor.fly.app": "acme-image-descriptor"},
            "the Fly app acme-image-descriptor",
            "service-infra:services.image-descriptor.fly.app",
        ),
    ],
)
def test_check_refuses_what_staging_and_prod_both_reach(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, object], what: str, key: str
) -> None:
    project = seeds(tmp_path)
    edit(project / "Pulumi.staging.yaml", change)  # type: ignore[arg-type]
    assert check(sorted(project.glob("Pulumi.*.yaml"))) == 2
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("staging: "))
    assert line.startswith(f"staging: {key}: {what} is also the prod stack's ({key})")
    assert "each environment reaches only itself" in line


def test_two_stacks_pinning_one_engine_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = seeds(tmp_path)
    engine = "7f3c2a9e-51b0-4d8e-9a61-0c5e2b7d4f18"
    edit(project / "Pulumi.staging.yaml", {"docker_hosts.mac-mini.engine_id": engine})
    edit(project / "Pulumi.prod.yaml", {"docker_hosts.mac-mini.engine_id": engine})
    assert check([project / "Pulumi.staging.yaml", project / "Pulumi.prod.yaml"]) == 2
    assert f"prod: service-infra:docker_hosts.mac-mini.engine_id: the Docker engine {engine} is also the staging" in (
        capsys.readouterr().out
    )


def test_a_prod_update_refuses_what_a_sibling_stack_reaches_before_any_resource(tmp_path: Path) -> None:
    project = seeds(tmp_path)
    edit(
        project / "Pulumi.staging.yaml", {"docker_hosts.mac-mini.url": "ssh://deploy-prod@mac-mini.tailnet.example:22"}
    )
    prod = load_stack_file(project / "Pulumi.prod.yaml")
    with pytest.raises(SettingsError) as refused:
        preflight.refuse_shared_reach(prod, "prod", project)
    assert refused.value.problems == [
        "prod: service-infra:docker_hosts.mac-mini.url: the Docker host identity "
        "deploy-prod@mac-mini.tailnet.example:22 is also the staging stack's (service-infra:docker_hosts.mac-mini.url); "
        "each environment reaches only itself: give each environment its own SSH user and Docker engine on the "
        "host (docs/mac-mini.md)"
    ]
    # A sibling file that does not load is its own update's problem, not prod's.
    (project / "Pulumi.staging.yaml").write_text("config: [not, a, map]\n")
    preflight.refuse_shared_reach(prod, "prod", project)
