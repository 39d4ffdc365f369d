"""containers-healthcheck-restart-logs: what every docker Container must have."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from policy.guards import resources
from tests.policy.support import UNKNOWN_OBJECT, resource_args, violations

POLICY = "containers-healthcheck-restart-logs"

# The prod llm-server container's inputs, as the program registers them (see tests/unit).
CONTAINER: dict[str, Any] = {
    "name": "llm-server-prod",
    "image": "sha256:" + "0" * 59 + "109bf",
    "restart": "unless-stopped",
    "logDriver": "json-file",
    "logOpts": {"max-size": "10m", "max-file": "3"},
    "healthcheck": {
        "tests": ["CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8000/health"],
        "interval": "5s",
        "timeout": "3s",
        "startPeriod": "20s",
        "retries": 5.0,
    },
    "user": "10001:10001",
    "mustRun": True,
    "wait": True,
}


def check(**changes: Any) -> list[str]:
    props = copy.deepcopy(CONTAINER)
    for key, value in changes.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return violations(POLICY, resource_args(resources.CONTAINER, "llm-server-container", props))


def test_the_programs_container_passes() -> None:
    assert check() == []


@pytest.mark.parametrize(
    ("healthcheck", "expected"),
    [
        (None, "no healthcheck"),
        ({"interval": "5s"}, "no healthcheck"),
        ({"tests": []}, "no healthcheck"),
        ({"tests": ["NONE"]}, "disabled"),
    ],
)
def test_missing_or_disabled_healthcheck_is_a_violation(healthcheck: Any, expected: str) -> None:
    (message,) = check(healthcheck=healthcheck)
    assert "Container 'llm-server-container'" in message and expected in message


@pytest.mark.parametrize(("restart", "shown"), [(None, "unset"), ("always", "'always'"), ("no", "'no'")])
def test_restart_policy_other_than_unless_stopped_is_a_violation(restart: str | None, shown: str) -> None:
    (message,) = check(restart=restart)
    assert f"restart policy is {shown}" in message and "unless-stopped" in message


@pytest.mark.parametrize(
    ("log_opts", "missing"),
    [
        (None, "max-size, max-file"),
        ({"max-size": "10m"}, "max-file"),
        ({"max-file": "3"}, "max-size"),
        ({"max-size": "", "max-file": "3"}, "max-size"),
    ],
)
def test_uncapped_logs_are_a_violation(log_opts: Any, missing: str) -> None:
    (message,) = check(logOpts=log_opts)
    assert f"log_opts lacks {missing}" in message


def test_every_problem_is_reported() -> None:
    assert len(check(healthcheck=None, restart="always", logOpts=None)) == 3


def test_values_unknown_in_preview_are_skipped_not_failed() -> None:
    assert check(healthcheck=UNKNOWN_OBJECT, logOpts=UNKNOWN_OBJECT) == []


def test_other_resource_types_are_ignored() -> None:
    args = resource_args(resources.REMOTE_IMAGE, "llm-server-image", {"name": "a:b"})
    assert violations(POLICY, args) == []
