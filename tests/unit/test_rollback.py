"""Which tag a rollback picks from `pulumi stack history --json` (entries shaped as the CLI prints them)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service_infra.cli.rollback import (
    RollbackError,
    chosen_release,
    config_drift,
    last_update_config,
    recorded_digests,
    release_listing,
    releases,
    rollback_target,
    service_tag,
)


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


def _config(services: dict[str, object], **more: object) -> dict[str, object]:
    return {
        "service-infra:environment": {"value": "staging", "secret": False},
        "service-infra:secrets": {"secret": True},
        "service-infra:services": {"value": json.dumps(services), "objectValue": services, "secret": False},
        **more,
    }


LAST = _config({"llm-server": {"tag": "sha-2222222", "docker": {"port": 8001}}, "web": {"tag": "sha-9"}})


def test_a_rollback_changes_the_tag_and_nothing_else() -> None:
    now = _config({"llm-server": {"tag": "sha-1111111", "docker": {"port": 8001}}, "web": {"tag": "sha-9"}})
    assert config_drift(LAST, now, "llm-server") == []


def test_other_config_that_differs_from_the_last_update_is_named() -> None:
    now = _config(
        {"llm-server": {"tag": "sha-2222222", "docker": {"port": 9000}}, "web": {"tag": "sha-new"}},
        **{"service-infra:proxy": {"value": '{"image": "x", "tag": "y"}', "secret": False}},
    )
    assert config_drift(LAST, now, "llm-server") == [
        "service-infra:proxy",
        "service-infra:services.llm-server.docker.port",
        "service-infra:services.web.tag",
    ]


def test_the_last_update_is_the_newest_update_whatever_its_result() -> None:
    assert last_update_config(HISTORY) == HISTORY[0]["config"]
    with pytest.raises(RollbackError, match="no update in its history"):
        last_update_config([e for e in HISTORY if e["kind"] != "update"])


DIGEST_1, DIGEST_2, DIGEST_MOVED = ("sha256:" + c * 64 for c in "12f")
# The stack's `releases` output as `pulumi stack output --json` prints it: newest first.
OUTPUTS = {
    "releases": {
        "llm-server": [
            {"tag": "sha-2222222", "digest": DIGEST_2, "container": "llm-server-staging-sha-2222222-0a0a0a0a"},
            {"tag": "sha-1111111", "digest": DIGEST_1, "container": "llm-server-staging-sha-1111111-0b0b0b0b"},
            {"tag": "sha-1111111", "digest": DIGEST_MOVED, "container": "llm-server-staging-sha-1111111-0c0c0c0c"},
            {"tag": "sha-0000000", "digest": "", "container": "llm-server-staging-sha-0000000-0d0d0d0d"},
        ]
    }
}


def test_releases_are_listed_newest_first_with_their_result_and_digest() -> None:
    listing = release_listing(releases(HISTORY, "llm-server", recorded_digests(OUTPUTS, "llm-server"))).splitlines()
    assert listing[0].split() == ["#", "started", "result", "tag", "digest"]
    assert listing[1:] == [
        "  1  2026-11-22T10:00:00.000Z  failed      sha-broken0           -",
        f"  2  2026-11-22T09:00:00.000Z  succeeded   sha-2222222           {DIGEST_2}",
        f"  3  2026-11-22T08:00:00.000Z  succeeded   sha-1111111           {DIGEST_1}",
    ]


def test_the_newest_recorded_digest_of_a_tag_wins_and_a_local_image_has_none() -> None:
    assert recorded_digests(OUTPUTS, "llm-server") == {"sha-2222222": DIGEST_2, "sha-1111111": DIGEST_1}
    assert recorded_digests({}, "llm-server") == {}


def test_a_digest_pinned_in_an_updates_config_wins_over_the_recorded_one() -> None:
    pinned = entry("2026-11-22T11:00:00.000Z", "succeeded", "sha-1111111")
    services = pinned["config"]["service-infra:services"]["objectValue"]
    services["llm-server"]["release_digests"] = {"sha-1111111": DIGEST_MOVED, "sha-2222222": DIGEST_2}
    found = releases([pinned, *HISTORY], "llm-server", recorded_digests(OUTPUTS, "llm-server"))
    assert [(u.tag, u.digest) for u in found[:2]] == [("sha-1111111", DIGEST_MOVED), ("sha-broken0", None)]
    assert rollback_target([pinned, *HISTORY], "llm-server", "sha-2222222").digest == DIGEST_MOVED


def test_a_rollback_may_change_the_services_pinned_digests_and_nothing_else() -> None:
    last = HISTORY[0]["config"]
    services = json.loads(last["service-infra:services"]["value"])
    services["llm-server"]["tag"] = "sha-1111111"
    services["llm-server"]["release_digests"] = {"sha-1111111": DIGEST_1}
    now = {**last, "service-infra:services": {"value": json.dumps(services), "secret": False}}
    assert config_drift(last, now, "llm-server") == []
    services["image-descriptor"]["release_digests"] = {"sha-0000000": DIGEST_1}
    now = {**last, "service-infra:services": {"value": json.dumps(services), "secret": False}}
    assert config_drift(last, now, "llm-server") == ["service-infra:services.image-descriptor.release_digests"]


def test_a_numbered_release_is_chosen_only_if_it_succeeded_and_differs() -> None:
    found = releases(HISTORY, "llm-server")
    assert chosen_release(found, 3, "sha-broken0").tag == "sha-1111111"
    with pytest.raises(RollbackError, match=r"release 1 \(sha-broken0, .*\) did not succeed"):
        chosen_release(found, 1, "sha-2222222")
    with pytest.raises(RollbackError, match="which is the tag configured now"):
        chosen_release(found, 2, "sha-2222222")
    with pytest.raises(RollbackError, match="numbers them 1 to 3"):
        chosen_release(found, 4, "sha-2222222")
