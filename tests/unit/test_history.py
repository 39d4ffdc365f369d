"""`history`: releases from the stack's update history, each with what became of it and who ran it."""

from __future__ import annotations

import json
from typing import Any

from service_infra.cli import history
from service_infra.cli.history import ran_by, releases

DIGEST_1, DIGEST_2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
CI_RUN = "https://github.com/acme/svc/actions/runs/123"


def update(version: int, result: str, tags: dict[str, str], message: str = "", **environment: str) -> dict[str, Any]:
    services = {name: {"tag": tag} for name, tag in tags.items()}
    return {
        "version": version,
        "kind": "update",
        "startTime": f"2026-12-06T0{version}:00:00Z",
        "result": result,
        "message": message,
        "environment": environment,
        "config": {"service-infra:services": {"value": json.dumps(services), "secret": False}},
    }


HISTORY = [
    update(1, "succeeded", {"api": "sha-1111111", "web": "sha-aaaaaaa"}, **{"git.author": "Ada"}),
    update(2, "succeeded", {"api": "sha-2222222", "web": "sha-aaaaaaa"}, **{"ci.build.url": CI_RUN}),
    update(3, "failed", {"api": "sha-3333333", "web": "sha-aaaaaaa"}),
    update(4, "succeeded", {"api": "sha-1111111", "web": "sha-aaaaaaa"}, message="rollback api to sha-1111111"),
    {"version": 5, "kind": "refresh", "startTime": "2026-12-06T05:00:00Z", "result": "succeeded"},
    update(6, "succeeded", {"api": "sha-1111111", "web": "sha-aaaaaaa"}),
]
DIGESTS = {"api": {"sha-1111111": DIGEST_1, "sha-2222222": DIGEST_2}}


def test_each_release_newest_first_with_what_became_of_it() -> None:
    rows = [(r.update, r.service, r.tag, r.outcome) for r in releases(HISTORY, DIGESTS)]
    assert rows == [
        (4, "api", "sha-1111111", "live, rollback"),
        (3, "api", "sha-3333333", "failed"),
        (2, "api", "sha-2222222", "replaced"),
        (1, "api", "sha-1111111", "replaced"),
        (1, "web", "sha-aaaaaaa", "live"),
    ]


def test_one_service_and_its_digests() -> None:
    rows = releases(HISTORY, DIGESTS, only="api")
    assert {r.service for r in rows} == {"api"}
    assert [r.digest for r in rows] == [DIGEST_1, None, DIGEST_2, DIGEST_1]


def test_who_ran_it_is_the_ci_run_else_the_git_author_else_said_to_be_unknown() -> None:
    by = {r.update: r.by for r in releases(HISTORY, DIGESTS, only="api")}
    assert by == {1: "Ada", 2: CI_RUN, 3: "not recorded", 4: "not recorded"}
    assert ran_by({"ci.build.url": CI_RUN, "git.author": "Ada"}) == CI_RUN


def test_a_failed_update_that_did_not_touch_a_service_is_no_release_of_it() -> None:
    history = [update(1, "succeeded", {"web": "sha-aaaaaaa"}), update(2, "failed", {"web": "sha-aaaaaaa"})]
    assert [(r.update, r.outcome) for r in releases(history, {})] == [(1, "live")]


def test_the_table_fits_100_columns() -> None:
    rows = [
        history.Release(
            12,
            "2026-12-06T08:00:00.123456789Z",
            "https://github.com/acme/service-infra/actions/runs/12345678901",
            "image-descriptor",
            "sha-5e0a7c91234567890abcdef",
            "sha256:" + "a" * 64,
            "live, rollback",
        )
    ]
    table = history.render(rows)
    assert all(len(line) <= 100 for line in table.splitlines()), table
    assert "by https://github.com/acme/service-infra/actions/runs/12345678901" in table
    assert "2026-12-06 08:00:00" in table and "sha256:" + "a" * 12 in table and "a" * 13 not in table
