"""Which tag a rollback picks from `pulumi stack history --json` (entries shaped as the CLI prints them)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service_infra.cli.rollback import RollbackError, rollback_target, service_tag


def entry(started: str, result: str, tag: str | None, kind: str = "update") -> dict[str, Any]:
    services = {"llm-server": {"tag": tag}, "image-descriptor": {"tag": "sha-0000000"}} if tag else {}
    return {
        "kind": kind,
        "startTime": started,
        "result": result,
        "config": {
            "service-infra:secrets": {"secret": True},
            "service-infra:services": {"value": json.dumps(services), "objectValue": services, "secret": False},
        },
    }


HISTORY = [  # newest first, as the CLI lists them
    entry("2026-11-22T10:00:00.000Z", "failed", "sha-broken0"),
    entry("2026-11-22T09:00:00.000Z", "succeeded", "sha-2222222"),
    entry("2026-11-22T08:30:00.000Z", "succeeded", "sha-2222222", kind="refresh"),
    entry("2026-11-22T08:00:00.000Z", "succeeded", "sha-1111111"),
]


def test_after_a_failed_rollout_it_returns_to_what_is_running() -> None:
    assert rollback_target(HISTORY, "llm-server", "sha-broken0").tag == "sha-2222222"


def test_after_a_good_rollout_it_returns_to_the_version_before() -> None:
    assert rollback_target(HISTORY, "llm-server", "sha-2222222").tag == "sha-1111111"


def test_order_comes_from_the_start_times_not_the_listing() -> None:
    assert rollback_target(list(reversed(HISTORY)), "llm-server", "sha-2222222").tag == "sha-1111111"


def test_nothing_to_roll_back_to_is_an_error_naming_the_service() -> None:
    with pytest.raises(RollbackError, match="llm-server with a tag other than sha-1111111"):
        rollback_target(HISTORY[-1:], "llm-server", "sha-1111111")


def test_config_without_object_value_is_read_from_its_json() -> None:
    config = {"service-infra:services": {"value": json.dumps({"llm-server": {"tag": "sha-abc1234"}})}}
    assert service_tag(config, "llm-server") == "sha-abc1234"
    assert service_tag({}, "llm-server") is None
