"""Pull-request previews offline (issue 29): the template, a pr-<n> stack made from it, what a
preview may not be, what it may not share, and the choices `preview open` and `reap` make."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from service_infra import preflight
from service_infra.cli import preview as cli
from service_infra.contract import LABEL_PREVIEW, LABEL_PREVIEW_TTL_HOURS
from service_infra.settings import Settings, SettingsError, load_settings, load_stack_file
from service_infra.settings.isolation import shared_reach_problems
from tests.support import ROOT
from tests.support.mocks import load_stack_config
from tests.support.mocks import settings_problems as problems

P = "service-infra:"
Config = dict[str, Any]


def template() -> Config:
    return load_stack_config("preview")


def made(pull_request: int, slot: int, config: Config | None = None) -> Config:
    """What `preview open` writes into Pulumi.pr-<n>.yaml."""
    document = cli.preview_document({"config": config or template()}, pull_request, slot)
    return document["config"]


def settings(config: Config, stack: str) -> Settings:
    return load_settings(config, secret_keys=set(), stack=stack)


def test_the_template_passes_and_is_what_previews_are_made_from() -> None:
    loaded = settings(template(), "preview")
    assert loaded.preview is not None and loaded.preview.stack is None
    assert loaded.instance == "preview"
    with pytest.raises(SettingsError, match="is the previews' template: deploy a pull request's preview"):
        preflight.refuse_the_template(loaded, "preview")


def test_a_preview_runs_on_its_slots_ports_as_its_own_apps_labelled_with_its_time_to_live() -> None:
    loaded = settings(made(42, 3), "pr-42")
    preflight.refuse_the_template(loaded, "pr-42")  # a preview is deployed
    llm, descriptor = loaded.services["llm-server"], loaded.services["image-descriptor"]
    assert llm.docker is not None and llm.docker.port == 9100 + 3  # one Docker service: one port a slot
    assert descriptor.fly is not None and descriptor.fly.app == "acme-image-descriptor-pr-42"
    assert loaded.labels[LABEL_PREVIEW] == "pr-42" and loaded.labels[LABEL_PREVIEW_TTL_HOURS] == "72"
    assert loaded.instance == "pr-42"  # its containers: llm-server-pr-42-..., not one name for all


def test_two_docker_services_take_consecutive_ports_of_their_slot() -> None:
    config = template()
    services = config[f"{P}services"]
    services["api"] = copy.deepcopy(services["llm-server"])
    config[f"{P}preview"]["ports"]["last"] = 9109
    loaded = settings(made(7, 2, config), "pr-7")
    ports = {name: s.docker.port for name, s in loaded.services.items() if s.docker is not None}
    assert ports == {"api": 9104, "llm-server": 9105}


@pytest.mark.parametrize(
    ("change", "stack", "expected"),
    [
        (lambda c: c[f"{P}preview"].update(slot=0, pull_request=4), "preview", "remove them from the template"),
        (lambda c: None, "pr-5", "a preview stack needs pull_request and slot"),
        (lambda c: c[f"{P}preview"].update(pull_request=6, slot=0), "pr-5", "the stack pr-5 is pull request 5's"),
        (lambda c: c[f"{P}preview"].update(pull_request=5, slot=5), "pr-5", "preview.slot: 5 is past max_previews"),
        (lambda c: c[f"{P}preview"].update(max_previews=6), "preview", "5 ports cannot hold max_previews (6)"),
        (
            lambda c: c[f"{P}services"]["llm-server"]["docker"].update(retain_volumes=True),
            "preview",
            "llm-server.docker.retain_volumes: a preview keeps nothing",
        ),
        (
            lambda c: c[f"{P}services"]["image-descriptor"]["fly"].update(protect=True),
            "preview",
            "image-descriptor.fly.protect: a preview keeps nothing",
        ),
        (
            lambda c: c[f"{P}services"]["image-descriptor"]["fly"].update(vm_size="shared-cpu-2x", memory_mb=512),
            "preview",
            "a preview runs on Fly's smallest machine: set vm_size shared-cpu-1x and memory_mb 256",
        ),
        (
            lambda c: c.update({f"{P}github": {"owner": "acme", "repository": "r", "token_secret": "API_KEY"}}),
            "preview",
            "service-infra:github: a preview sets nothing on GitHub",
        ),
        (lambda c: c.pop(f"{P}preview"), "preview", "the preview environment needs its port pool"),
        (lambda c: None, "feature-x", "preview is the environment of the template stack preview"),
        (lambda c: c.update({f"{P}environment": "staging"}), "pr-9", "the stack pr-9 must say `environment: preview`"),
    ],
)
def test_what_a_preview_may_not_be_is_refused_naming_its_key(change: Any, stack: str, expected: str) -> None:
    config = template()
    change(config)
    found = problems(config, stack)
    assert any(expected in problem for problem in found), found


def test_staging_may_not_carry_a_preview_section() -> None:
    config = load_stack_config("staging")
    config[f"{P}preview"] = template()[f"{P}preview"]
    assert f"{P}preview: previews are made from Pulumi.preview.yaml (environment: preview); remove it" in problems(
        config, "staging"
    )


def committed(name: str) -> Settings:
    return load_stack_file(ROOT / f"Pulumi.{name}.yaml")


def with_change(name: str, path: str, value: Any) -> Settings:
    config = load_stack_config(name)
    section, *keys = path.split(".")
    node = config[f"{P}{section}"]
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return load_settings(config, secret_keys=set(), stack=name)


def test_the_committed_stacks_and_the_template_share_nothing() -> None:
    stacks = {name: committed(name) for name in ("local", "staging", "prod", "preview")}
    assert shared_reach_problems(stacks) == []


@pytest.mark.parametrize(
    ("name", "path", "value", "expected"),
    [
        (
            "preview",
            "docker_hosts.mac-mini.url",
            "ssh://deploy-staging@mac-mini.tailnet.example:22",
            "preview: service-infra:docker_hosts.mac-mini.url: the Docker host identity "
            "deploy-staging@mac-mini.tailnet.example:22 is also the staging stack's",
        ),
        (
            "staging",
            "services.llm-server.docker.port",
            9102,
            "port 9102 on mac-mini.tailnet.example is also the staging stack's",
        ),
        (
            "preview",
            "services.image-descriptor.fly.org",
            "acme",
            "the Fly org acme is also the",
        ),
    ],
)
def test_a_preview_shares_no_identity_port_or_fly_org_with_another_environment(
    name: str, path: str, value: Any, expected: str
) -> None:
    stacks = {n: committed(n) for n in ("staging", "prod", "preview")}
    stacks[name] = with_change(name, path, value)
    found = shared_reach_problems(stacks, only="preview")
    assert any(expected in problem for problem in found), found


def test_previews_share_their_template_among_themselves_and_staging_and_prod_their_org() -> None:
    stacks = {
        "staging": committed("staging"),
        "prod": committed("prod"),  # both in the Fly org acme, as before previews
        "preview": committed("preview"),
        "pr-1": settings(made(1, 0), "pr-1"),
        "pr-2": settings(made(2, 1), "pr-2"),
    }
    assert shared_reach_problems(stacks) == []


def test_a_preview_update_refuses_a_template_that_reaches_staging_before_any_resource(tmp_path: Path) -> None:
    for name in ("staging", "prod"):
        (tmp_path / f"Pulumi.{name}.yaml").write_text((ROOT / f"Pulumi.{name}.yaml").read_text())
    config = made(3, 0)
    config[f"{P}docker_hosts"]["mac-mini"]["url"] = "ssh://deploy-staging@mac-mini.tailnet.example:22"
    with pytest.raises(SettingsError, match="is also the staging stack's"):
        preflight.refuse_shared_reach(settings(config, "pr-3"), "pr-3", tmp_path)


# -- the CLI's choices -----------------------------------------------------------------------------
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def preview(number: int, slot: int | None, hours_ago: float | None = 1.0) -> cli.Preview:
    changed = NOW - timedelta(hours=hours_ago) if hours_ago is not None else None
    return cli.Preview(f"pr-{number}", number, slot, changed)


def test_a_new_preview_takes_the_lowest_free_slot_and_an_open_one_keeps_its_own() -> None:
    existing = [preview(4, 0), preview(9, 2)]
    assert cli.choose_slot(12, existing, max_previews=3) == 1
    assert cli.choose_slot(9, existing, max_previews=3) == 2


def test_one_preview_past_the_limit_is_refused_naming_the_key_and_the_open_ones() -> None:
    existing = [preview(4, 0), preview(9, 1)]
    with pytest.raises(cli.PreviewError) as refused:
        cli.choose_slot(12, existing, max_previews=2)
    message = str(refused.value)
    assert "2 previews are open already (pr-4, pr-9)" in message
    assert "service-infra:preview.max_previews in Pulumi.preview.yaml" in message
    assert cli.choose_slot(9, existing, max_previews=2) == 1  # an open one still updates


def test_the_reaper_takes_closed_pull_requests_and_expired_previews_only() -> None:
    found = [preview(1, 0, 2), preview(2, 1, 80), preview(3, 2, 5), preview(4, 3, None)]
    chosen = {p.stack: why for p, why in cli.expired(found, NOW, timedelta(hours=72), open_pull_requests={1, 2, 4})}
    assert set(chosen) == {"pr-2", "pr-3", "pr-4"}
    assert chosen["pr-3"] == "pull request #3 is closed or has no `preview` label"
    assert chosen["pr-2"].startswith("not updated for 80.0 h, past its 72 h")
    assert chosen["pr-4"].startswith("not updated for an unknown time")
    without_list = {p.stack for p, _ in cli.expired(found, NOW, timedelta(hours=72), None)}
    assert without_list == {"pr-2", "pr-4"}


def test_the_stack_file_is_the_templates_with_its_salt_and_secrets_and_the_pull_request() -> None:
    document = yaml.safe_load((ROOT / "Pulumi.preview.yaml").read_text())
    written = cli.preview_document(document, 42, 1)
    assert written["encryptionsalt"] == document["encryptionsalt"]
    assert written["config"][f"{P}secrets"] == document["config"][f"{P}secrets"]
    assert written["config"][f"{P}preview"] == {**document["config"][f"{P}preview"], "pull_request": 42, "slot": 1}
    assert f"{P}preview" in document["config"] and "slot" not in document["config"][f"{P}preview"]  # a copy


def test_the_comment_starts_with_its_marker_and_lists_each_url() -> None:
    text = cli.comment("pr-5", 5, {"service_urls": {"web": "http://mac-mini:9100", "api": "https://a.fly.dev"}}, 72)
    lines = text.splitlines()
    assert lines[0] == "<!-- service-infra preview pr-5 -->"
    assert lines.index("| api | https://a.fly.dev |") < lines.index("| web | http://mac-mini:9100 |")
    assert "72 h without an update" in text


@pytest.mark.parametrize("bad", ["1,,2", "x", "1;rm", "-3"])
def test_the_open_pull_requests_are_numbers(bad: str) -> None:
    with pytest.raises(SystemExit):
        cli.main(["reap", "--open", bad])
    assert cli._numbers(" 3, 5 ,8") == {3, 5, 8} and cli._numbers("") == set()
