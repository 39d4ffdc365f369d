"""The docker Container rules: containers-healthcheck-restart-logs, containers-non-root and
published-ports-explicit."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from policy.guards import Target, resources
from service_infra.contract import LABEL_ENVIRONMENT, LABEL_ROLE, LABEL_SERVICE, LABEL_VERSION, ROLE_PROXY
from tests.policy.support import (
    PROD,
    STAGING,
    UNKNOWN_OBJECT,
    UNKNOWN_STRING,
    docker_service_args,
    resource_args,
    secret,
    stack_resource,
    stack_violations,
    violations,
)

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
    "labels": [
        {"label": LABEL_ENVIRONMENT, "value": "prod"},
        {"label": LABEL_SERVICE, "value": "llm-server"},
    ],
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


# --- app-versions-health-gated -----------------------------------------------------------------------

GATE_POLICY = "app-versions-health-gated"
VERSION_LABELS = [*CONTAINER["labels"], {"label": LABEL_VERSION, "value": "sha-4a0d3b2-1f2e3d4c"}]
APP_VERSION = {**CONTAINER, "name": "llm-server-prod-sha-4a0d3b2-1f2e3d4c", "labels": VERSION_LABELS}


def activation(container: str, create: Any = None) -> Any:
    line = create or (
        "python3 -m service_infra.ops.rollout activate --service llm-server --tag sha-4a0d3b2 "
        f"--container {container} --network llm-server-prod --alias live --timeout 180 "
        "--proxy llm-server-prod-proxy --port 8000 --health-path /health --start-period 10"
    )
    return stack_resource(resources.COMMAND, "llm-server-sha-4a0d3b2-1f2e3d4c-live", {"create": line})


def test_an_app_version_needs_no_healthcheck_of_its_own() -> None:
    props = {key: value for key, value in APP_VERSION.items() if key != "healthcheck"}
    args = resource_args(resources.CONTAINER, "llm-server-sha-4a0d3b2-1f2e3d4c", props)
    assert violations(POLICY, args) == []


def test_an_app_version_goes_live_only_through_an_activation_that_probes_it() -> None:
    container = stack_resource(resources.CONTAINER, "llm-server-sha-4a0d3b2-1f2e3d4c", APP_VERSION)
    assert stack_violations(GATE_POLICY, [container, activation(APP_VERSION["name"])]) == []
    ((message, at),) = stack_violations(GATE_POLICY, [container])
    assert "no activation that probes its health" in message and at == container.urn
    unprobed = activation("", create=f"python3 -m service_infra.ops.rollout activate --container {APP_VERSION['name']}")
    assert len(stack_violations(GATE_POLICY, [container, unprobed])) == 1
    # A proxy (no version label) is judged by its own healthcheck instead; unknown lines wait.
    proxy = stack_resource(resources.CONTAINER, "llm-server-proxy", CONTAINER)
    assert stack_violations(GATE_POLICY, [proxy]) == []
    assert stack_violations(GATE_POLICY, [container, activation("", create=UNKNOWN_STRING)]) == []


# --- containers-non-root ---------------------------------------------------------------------------

USER_POLICY = "containers-non-root"


def user_check(user: Any, props: dict[str, Any] | None = None) -> list[str]:
    changed = copy.deepcopy(props or CONTAINER)
    if user is None:
        changed.pop("user")
    else:
        changed["user"] = user
    return violations(USER_POLICY, resource_args(resources.CONTAINER, "llm-server-container", changed), STAGING)


# The settings' own list (tests/unit/test_prod_guards.py): every spelling Docker reads as root.
@pytest.mark.parametrize(
    "user", ["0", "00", "+0", "-0", "000:1000", "root", "root:root", ":10001", "", "-5", "10001:0", "10001:root"]
)
def test_root_in_any_spelling_is_refused_in_every_stack(user: str) -> None:
    (message,) = user_check(user)
    assert message.startswith(f"Container 'llm-server-container': the container would run as root (got {user!r}")
    assert "service-infra:services.llm-server.docker.user" in message


def test_a_container_without_a_user_runs_the_images_user_and_is_refused() -> None:
    (message,) = user_check(None)
    assert "with no user" in message and "services.llm-server.docker.user" in message


@pytest.mark.parametrize("user", ["10001:10001", "app", "1000", "+1000:1000", "nobody", "app:staff"])
def test_non_root_users_pass(user: str) -> None:
    assert user_check(user) == []


def test_a_user_in_a_secret_is_still_judged_and_an_unknown_one_skipped() -> None:
    assert len(user_check(secret("0"))) == 1
    assert user_check(UNKNOWN_STRING) == []


def test_the_service_comes_from_the_dockerservice_when_there_is_no_label() -> None:
    unlabelled = {k: v for k, v in CONTAINER.items() if k != "labels"}
    unlabelled["user"] = "root"
    (message,) = violations(
        USER_POLICY, docker_service_args(resources.CONTAINER, "embedder-v1", unlabelled, "embedder")
    )
    assert "service-infra:services.embedder.docker.user" in message
    (orphan,) = violations(USER_POLICY, resource_args(resources.CONTAINER, "x", unlabelled))
    assert "service-infra:services.<service>.docker.user" in orphan


# --- published-ports-explicit ----------------------------------------------------------------------

PORTS_POLICY = "published-ports-explicit"
# The proxy container publishes the service's port on docker.bind (prod's is an explicit address).
PROXY: dict[str, Any] = {
    **CONTAINER,
    "name": "llm-server-prod-proxy",
    "ports": [{"internal": 8080.0, "external": 8000.0, "ip": "100.101.102.103", "protocol": "tcp"}],
    "labels": [*CONTAINER["labels"], {"label": LABEL_ROLE, "value": ROLE_PROXY}],
}


def ports_check(ip: Any, target: Target = PROD) -> list[str]:
    props = copy.deepcopy(PROXY)
    if ip is None:
        props["ports"][0].pop("ip")
    else:
        props["ports"][0]["ip"] = ip
    return violations(PORTS_POLICY, resource_args(resources.CONTAINER, "llm-server-proxy", props), target)


@pytest.mark.parametrize("ip", [None, "", "0.0.0.0", "::", "[::]", "0:0:0:0:0:0:0:0", "::0", "::ffff:0.0.0.0", "0"])
def test_prod_refuses_a_port_published_on_every_interface(ip: Any) -> None:
    (message,) = ports_check(ip)
    assert message.startswith("Container 'llm-server-proxy': port 8000 is published on every interface")
    assert "service-infra:services.llm-server.docker.bind" in message


@pytest.mark.parametrize("ip", ["100.101.102.103", "127.0.0.1", "::1", "192.168.1.20"])
def test_prod_allows_an_explicit_address(ip: str) -> None:
    assert ports_check(ip) == []


def test_a_prod_named_stack_refuses_it_whatever_its_environment_says() -> None:
    assert len(ports_check("0.0.0.0", Target(stack="prod", environment="staging"))) == 1
    assert len(ports_check("0.0.0.0", Target(stack="prod-eu", environment="prod"))) == 1


def test_other_stacks_may_publish_everywhere() -> None:
    assert ports_check("0.0.0.0", STAGING) == []
    assert ports_check(None, Target(stack="local", environment="local")) == []


def test_every_wildcard_port_is_reported_and_unknown_addresses_skipped() -> None:
    props = copy.deepcopy(PROXY)
    props["ports"] = [{"internal": 80.0, "external": 80.0}, {"internal": 443.0, "external": 443.0, "ip": "::"}]
    messages = violations(PORTS_POLICY, resource_args(resources.CONTAINER, "llm-server-proxy", props))
    assert [m.split(" is published")[0].split(": ")[1] for m in messages] == ["port 80", "port 443"]
    assert ports_check(UNKNOWN_STRING) == []


def test_a_container_publishing_nothing_passes() -> None:
    assert violations(PORTS_POLICY, resource_args(resources.CONTAINER, "llm-server-container", CONTAINER)) == []
