"""images-pinned: RemoteImage names, literal container image refs, and the Fly release's --image."""

from __future__ import annotations

import shlex

import pytest

from policy.guards.images import image_problem
from policy.guards.resources import COMMAND, CONTAINER, REMOTE_IMAGE
from service_infra.commands import fly as flyctl
from tests.policy.support import UNKNOWN_STRING, fly_command_args, resource_args, violations

POLICY = "images-pinned"


@pytest.mark.parametrize(
    "ref",
    [
        "ghcr.io/acme/local-llm-server:sha-3f9c2a1",
        "ghcr.io/acme/local-llm-server@sha256:" + "a" * 64,
        "localhost:5000/service:1.2.3",
        "service-infra/local-llm-server:dev",
    ],
)
def test_pinned_remote_image_passes(ref: str) -> None:
    args = resource_args(REMOTE_IMAGE, "llm-server-image", {"name": ref, "keepLocally": True})
    assert violations(POLICY, args) == []


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("ghcr.io/acme/local-llm-server", "no tag"),
        ("ghcr.io/acme/local-llm-server:latest", ":latest"),
        ("localhost:5000/service", "no tag"),  # the registry port is not a tag
        ("ghcr.io/acme/local-llm-server:", "empty tag"),
    ],
)
def test_unpinned_remote_image_is_a_violation(ref: str, why: str) -> None:
    args = resource_args(REMOTE_IMAGE, "llm-server-image", {"name": ref, "keepLocally": True})
    (message,) = violations(POLICY, args)
    assert "RemoteImage 'llm-server-image'" in message
    assert why in message
    assert "service-infra:services.<service>.tag" in message


def test_container_running_an_image_id_passes() -> None:
    args = resource_args(CONTAINER, "llm-server-container", {"image": "sha256:" + "0" * 60 + "109bf"})
    assert violations(POLICY, args) == []


def test_container_with_a_literal_latest_ref_is_a_violation() -> None:
    args = resource_args(CONTAINER, "llm-server-container", {"image": "nginx:latest"})
    (message,) = violations(POLICY, args)
    assert "Container 'llm-server-container'" in message and ":latest" in message


def test_container_image_not_known_in_preview_is_skipped() -> None:
    # A new RemoteImage's image_id is unknown until it is pulled: nothing to judge yet.
    args = resource_args(CONTAINER, "llm-server-container", {"image": UNKNOWN_STRING})
    assert violations(POLICY, args) == []


def release(image: str) -> dict[str, str]:
    return {"create": shlex.join(flyctl.release_operation("acme-image-descriptor", image))}


def test_fly_release_of_a_pinned_image_passes() -> None:
    args = fly_command_args("image-descriptor-release", release("ghcr.io/acme/image-descriptor:sha-8b1d4e7"))
    assert violations(POLICY, args) == []


@pytest.mark.parametrize("image", ["ghcr.io/acme/image-descriptor:latest", "ghcr.io/acme/image-descriptor"])
def test_fly_release_of_an_unpinned_image_is_a_violation(image: str) -> None:
    args = fly_command_args("image-descriptor-release", release(image))
    (message,) = violations(POLICY, args)
    assert "Command 'image-descriptor-release'" in message and "Fly release image" in message


@pytest.mark.parametrize(
    "create",
    [
        "python3 -m service_infra.ops.fly release --app a",
        "python3 -m service_infra.ops.fly release --app a --image",
        "python3 -m service_infra.ops.fly release --app a --image=",
    ],
)
def test_fly_release_without_an_image_is_a_violation(create: str) -> None:
    args = fly_command_args("image-descriptor-release", {"create": create})
    (message,) = violations(POLICY, args)
    assert "no --image" in message


def test_fly_release_image_given_with_equals_is_read() -> None:
    create = "python3 -m service_infra.ops.fly release --app a --image=ghcr.io/acme/image-descriptor:latest"
    (message,) = violations(POLICY, fly_command_args("image-descriptor-release", {"create": create}))
    assert ":latest" in message


def test_fly_release_not_known_in_preview_is_skipped() -> None:
    assert violations(POLICY, fly_command_args("image-descriptor-release", {"create": UNKNOWN_STRING})) == []


def test_other_commands_are_not_image_checked() -> None:
    args = fly_command_args(
        "image-descriptor-app",
        {"create": shlex.join(flyctl.ensure_app_operation("acme-image-descriptor", "acme"))},
    )
    assert violations(POLICY, args) == []
    # A release is the FlyApp's release by its place, not by its command line.
    elsewhere = resource_args(COMMAND, "image-descriptor-release", release("ghcr.io/acme/image-descriptor:latest"))
    assert violations(POLICY, elsewhere) == []


def test_image_problem_reads_refs() -> None:
    assert image_problem("repo:tag") is None
    assert image_problem("registry:5000/repo") is not None
    assert image_problem("repo@sha256:abc") is None
