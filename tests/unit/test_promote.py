"""`promote`: what staging runs and answers healthy now, pinned into prod's file, or a clear no."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from service_infra.cli import promote
from service_infra.settings import load_stack_file
from tests.support import ROOT

TAG = "sha-5e0a7c9"
DIGEST = "sha256:" + "a" * 64
URL = "http://127.0.0.1:8001"


def outputs(tag: str = TAG, digest: str = DIGEST) -> dict[str, Any]:
    return {
        "service_urls": {"llm-server": URL},
        "releases": {"llm-server": [{"tag": tag, "digest": digest}, {"tag": "sha-4a0d3b2", "digest": ""}]},
    }


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The committed stack files in a folder of their own; `pulumi config set --path` edits the
    YAML as the CLI would (the real CLI's edit is proven in test_isolation)."""
    for stack in ("staging", "prod"):
        shutil.copy(ROOT / f"Pulumi.{stack}.yaml", tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(promote, "stack_outputs", lambda stack: outputs())
    monkeypatch.setattr(promote, "get_once", lambda url: None)
    monkeypatch.setattr(promote, "run_pulumi", config_edit)
    return tmp_path


def config_edit(args: list[str]) -> str:
    verb, _, key, *value, _, stack = args[1:]
    path = Path(f"Pulumi.{stack}.yaml")
    document = yaml.safe_load(path.read_text())
    service, field = key.removeprefix("services.").split(".", 1)
    settings = document["config"]["service-infra:services"][service]
    if verb == "rm":
        settings.pop(field)
    elif "[" in field:
        name, tag = field.split("[", 1)
        settings.setdefault(name, {})[tag.strip('"]')] = value[0]
    else:
        settings[field] = value[0]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return ""


def test_the_live_release_is_pinned_into_prod_as_a_diff(project: Path) -> None:
    diff = promote.promote("llm-server", "staging", "prod")
    assert diff.startswith("--- a/Pulumi.prod.yaml\n+++ b/Pulumi.prod.yaml\n"), diff
    assert f"+      tag: {TAG}" in diff and f"+        {TAG}: {DIGEST}" in diff, diff
    service = load_stack_file(project / "Pulumi.prod.yaml").services["llm-server"]
    assert (service.tag, service.pinned_digest, service.release_digests) == (TAG, DIGEST, {TAG: DIGEST})
    assert promote.promote("llm-server", "staging", "prod") == ""  # promoted already: nothing to change


def test_old_pins_go_with_the_new_one(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    promote.promote("llm-server", "staging", "prod")
    monkeypatch.setattr(promote, "stack_outputs", lambda stack: outputs("sha-9b8c7d6", "sha256:" + "b" * 64))
    promote.promote("llm-server", "staging", "prod")
    service = load_stack_file(project / "Pulumi.prod.yaml").services["llm-server"]
    assert service.release_digests == {"sha-9b8c7d6": "sha256:" + "b" * 64}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o: o.update(releases={}), "staging has no release of llm-server: deploy it there first"),
        (
            lambda o: o["releases"]["llm-server"][0].update(digest=""),
            "without a recorded digest",
        ),
        (lambda o: o.update(service_urls={}), "staging has no URL for llm-server"),
    ],
)
def test_nothing_unknown_is_promoted(project: Path, monkeypatch: pytest.MonkeyPatch, change: Any, message: str) -> None:
    found = outputs()
    change(found)
    monkeypatch.setattr(promote, "stack_outputs", lambda stack: found)
    before = (project / "Pulumi.prod.yaml").read_text()
    with pytest.raises(promote.PromoteError, match=message):
        promote.promote("llm-server", "staging", "prod")
    assert (project / "Pulumi.prod.yaml").read_text() == before


def test_a_service_failing_its_health_now_is_not_promoted(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(promote, "get_once", lambda url: "HTTP 503")
    with pytest.raises(
        promote.PromoteError, match=r"staging's llm-server does not answer its health URL now \(HTTP 503\)"
    ):
        promote.promote("llm-server", "staging", "prod")


def test_a_staging_tag_prod_does_not_accept_leaves_the_file_as_it_was(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(promote, "stack_outputs", lambda stack: outputs("release-candidate"))
    before = (project / "Pulumi.prod.yaml").read_text()
    with pytest.raises(promote.PromoteError, match=r"would not pass its settings rules with release-candidate"):
        promote.promote("llm-server", "staging", "prod")
    assert (project / "Pulumi.prod.yaml").read_text() == before


def test_fly_services_and_other_images_are_refused_by_name(project: Path) -> None:
    with pytest.raises(promote.PromoteError, match=r"services.image-descriptor runs on Fly"):
        promote.promote("image-descriptor", "staging", "prod")
    with pytest.raises(promote.PromoteError, match=r"has no service nope"):
        promote.promote("nope", "staging", "prod")
    prod = project / "Pulumi.prod.yaml"
    prod.write_text(prod.read_text().replace("ghcr.io/acme/local-llm-server", "ghcr.io/acme/other"))
    with pytest.raises(
        promote.PromoteError, match=r"services.llm-server.image is .* in staging but ghcr.io/acme/other"
    ):
        promote.promote("llm-server", "staging", "prod")


def test_the_command_says_what_it_did_and_that_it_deployed_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert promote.main(["--service", "llm-server"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("--- a/Pulumi.prod.yaml") and "nothing deployed" in err
    assert promote.main(["--service", "llm-server"]) == 0
    assert "nothing to change" in capsys.readouterr().out
    assert promote.main(["--service", "image-descriptor"]) == 1
    assert capsys.readouterr().err.startswith("error: Pulumi.staging.yaml: services.image-descriptor runs on Fly")
