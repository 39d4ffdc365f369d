"""fly-volumes-protected: in prod, the Fly app and volume commands carry `protect`.

The pack finds them by their place in the program (a command under a FlyApp, named after it),
as the engine reports it: the URN's type chain and the parent's URN.
"""

from __future__ import annotations

import shlex

import pytest
from pulumi_policy import ResourceValidationArgs

from policy.guards.fly import fly_role
from policy.guards.resources import COMMAND
from service_infra.commands import fly as flyctl
from tests.policy.support import (
    PROD,
    STAGING,
    decode,
    fly_app_urn,
    fly_command_args,
    fly_command_urn,
    options,
    resource_args,
    secret,
    violations,
)

POLICY = "fly-volumes-protected"
APP = {
    "create": shlex.join(flyctl.ensure_app_operation("acme-image-descriptor", "acme")),
    "delete": shlex.join(flyctl.apps_destroy("acme-image-descriptor")),
    "environment": secret({"FLY_API_TOKEN": "test-token"}),
}
VOLUME = {
    "create": shlex.join(
        flyctl.ensure_volume_operation("acme-image-descriptor", "cache_data", "iad", 1, "shared-cpu-1x", 512)
    ),
    "delete": shlex.join(flyctl.delete_volume_operation("acme-image-descriptor")),
    "environment": secret({"FLY_API_TOKEN": "test-token"}),
}


@pytest.mark.parametrize(
    ("name", "props"), [("image-descriptor-app", APP), ("image-descriptor-volume-cache_data", VOLUME)]
)
def test_protected_in_prod_passes(name: str, props: dict) -> None:
    assert violations(POLICY, fly_command_args(name, props, protect=True), PROD) == []


@pytest.mark.parametrize(
    ("name", "props", "what"),
    [("image-descriptor-app", APP, "Fly app"), ("image-descriptor-volume-cache_data", VOLUME, "Fly volume")],
)
def test_unprotected_in_prod_is_a_violation(name: str, props: dict, what: str) -> None:
    (message,) = violations(POLICY, fly_command_args(name, props, protect=False), PROD)
    assert f"Command '{name}'" in message
    assert f"the {what} is not protected" in message
    assert "fly.protect" in message


def test_unprotected_outside_prod_is_allowed() -> None:
    assert violations(POLICY, fly_command_args("image-descriptor-app", APP), STAGING) == []


def test_the_release_and_other_commands_need_no_protect() -> None:
    release = {"create": shlex.join(flyctl.release_operation("acme-image-descriptor", "r:sha-1234567"))}
    assert violations(POLICY, fly_command_args("image-descriptor-release", release), PROD) == []
    secrets = {"create": shlex.join(flyctl.secrets_import("acme-image-descriptor"))}
    assert violations(POLICY, fly_command_args("image-descriptor-secrets", secrets), PROD) == []
    probe = {"create": "python3 -m service_infra.ops.probe --service s --url https://x.fly.dev/health"}
    assert violations(POLICY, resource_args(COMMAND, "image-descriptor-health-probe", probe), PROD) == []


def test_the_command_line_does_not_make_a_fly_app() -> None:
    # The same command outside a FlyApp (here: declared at the top of the stack) is not the app's.
    assert violations(POLICY, resource_args(COMMAND, "image-descriptor-app", APP), PROD) == []


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("image-descriptor-app", "app"),
        ("image-descriptor-volume-cache_data", "volume"),
        ("image-descriptor-volume-app", "volume"),  # a volume named `app` is still a volume
        ("image-descriptor-release", "release"),
        ("image-descriptor-secrets", None),
        ("other-service-app", None),  # named after another FlyApp than its parent
    ],
)
def test_fly_role_reads_the_place_and_the_name(name: str, role: str | None) -> None:
    assert fly_role(fly_command_args(name, {})) == role


def test_a_fly_app_command_needs_its_parent() -> None:
    args = fly_command_args("image-descriptor-app", APP)
    assert fly_role(args) == "app"
    orphan = ResourceValidationArgs(
        COMMAND, decode(APP), fly_command_urn("image-descriptor-app"), "image-descriptor-app", options(), None
    )
    assert fly_role(orphan) is None
    assert fly_app_urn().endswith("$service-infra:fly_app:FlyApp::image-descriptor")
