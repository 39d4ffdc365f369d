"""fly-volumes-protected: in prod, the Fly app and volume commands carry `protect`."""

from __future__ import annotations

import shlex

import pytest

from policy import guards
from service_infra.commands import fly as flyctl
from tests.policy.support import PROD, STAGING, resource_args, secret, violations

POLICY = "fly-volumes-protected"
APP = {
    "create": shlex.join(flyctl.ensure_app_operation("acme-image-descriptor", "acme")),
    "delete": shlex.join(flyctl.apps_destroy("acme-image-descriptor")),
    "environment": secret({"FLY_API_TOKEN": "test-token"}),
}
VOLUME = {
    "create": shlex.join(flyctl.ensure_volume_operation("acme-image-descriptor", "cache_data", "iad", 1)),
    "delete": shlex.join(flyctl.delete_volume_operation()),
    "environment": secret({"FLY_API_TOKEN": "test-token"}),
}


@pytest.mark.parametrize(
    ("name", "props"), [("image-descriptor-app", APP), ("image-descriptor-volume-cache_data", VOLUME)]
)
def test_protected_in_prod_passes(name: str, props: dict) -> None:
    assert violations(POLICY, resource_args(guards.COMMAND, name, props, protect=True), PROD) == []


@pytest.mark.parametrize(
    ("name", "props", "what"),
    [("image-descriptor-app", APP, "Fly app"), ("image-descriptor-volume-cache_data", VOLUME, "Fly volume")],
)
def test_unprotected_in_prod_is_a_violation(name: str, props: dict, what: str) -> None:
    (message,) = violations(POLICY, resource_args(guards.COMMAND, name, props, protect=False), PROD)
    assert f"Command '{name}'" in message
    assert f"the {what} is not protected" in message
    assert "fly.protect" in message


def test_unprotected_outside_prod_is_allowed() -> None:
    assert violations(POLICY, resource_args(guards.COMMAND, "image-descriptor-app", APP), STAGING) == []


def test_the_release_and_other_commands_need_no_protect() -> None:
    release = {"create": shlex.join(flyctl.release_operation("acme-image-descriptor", "r:sha-1234567"))}
    assert violations(POLICY, resource_args(guards.COMMAND, "image-descriptor-release", release), PROD) == []
    probe = {"create": "python3 -m service_infra.ops.probe --service s --url https://x.fly.dev/health"}
    assert violations(POLICY, resource_args(guards.COMMAND, "image-descriptor-health-probe", probe), PROD) == []
