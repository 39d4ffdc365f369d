"""The preview policies: in a pull request's preview (`pr-<n>`, or configured as `preview`) every
Docker container, network and volume carries the preview's labels, no data outlives the preview,
and the Fly release runs on Fly's smallest machine. Elsewhere they do not apply.
"""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from policy.guards import Target
from policy.guards.resources import COMMAND, CONTAINER, DOCKER_NETWORK, DOCKER_VOLUME, REMOTE_IMAGE
from service_infra.commands import fly as flyctl
from service_infra.contract import LABEL_PREVIEW, LABEL_PREVIEW_TTL_HOURS, LABEL_SERVICE
from service_infra.settings.preview import PortPool, PreviewSettings, preview_labels
from tests.policy.support import (
    PREVIEW,
    PROD,
    STAGING,
    UNKNOWN_ARRAY,
    UNKNOWN_STRING,
    docker_service_args,
    fly_command_args,
    resource_args,
    secret,
    violations,
)

EXPIRE = "preview-resources-expire"
RETAINED = "preview-no-retained-data"
MACHINE = "preview-smallest-machine"

# Every way a stack is a preview, and stacks that are not (prod stays prod whatever its config).
PREVIEWS = [PREVIEW, Target("pr-7", None), Target("pr-7", "staging"), Target("ci-preview", "preview")]
NOT_PREVIEWS = [STAGING, PROD, Target("local", "local"), Target("prod", "preview")]

# The labels the program gives pr-7's resources (settings.stack.preview_instance).
LABELS = preview_labels(PreviewSettings(ports=PortPool(first=9100, last=9104), pull_request=7, slot=0))
DOCKER_TYPES = [CONTAINER, DOCKER_NETWORK, DOCKER_VOLUME]


def wire(labels: dict[str, Any]) -> list[dict[str, Any]]:
    """Docker labels as the engine sends them."""
    return [{"label": key, "value": value} for key, value in sorted(labels.items())]


def docker(resource_type: str, labels: dict[str, Any] | None, protect: bool = False) -> Any:
    props: dict[str, Any] = {"name": "llm-server-pr-7-thing"}
    if labels is not None:
        props["labels"] = wire({LABEL_SERVICE: "llm-server", **labels})
    return docker_service_args(resource_type, "llm-server-thing", props, "llm-server", protect=protect)


def test_the_programs_labels_are_the_ones_checked() -> None:
    assert LABELS == {LABEL_PREVIEW: "pr-7", LABEL_PREVIEW_TTL_HOURS: "72"}


# preview-resources-expire


@pytest.mark.parametrize("resource_type", DOCKER_TYPES)
@pytest.mark.parametrize("target", PREVIEWS)
def test_a_labelled_docker_resource_of_a_preview_passes(resource_type: str, target: Target) -> None:
    assert violations(EXPIRE, docker(resource_type, LABELS), target) == []


@pytest.mark.parametrize("resource_type", DOCKER_TYPES)
@pytest.mark.parametrize("missing", [LABEL_PREVIEW, LABEL_PREVIEW_TTL_HOURS])
def test_a_docker_resource_of_a_preview_without_a_label_is_refused(resource_type: str, missing: str) -> None:
    labels = {k: v for k, v in LABELS.items() if k != missing}
    (message,) = violations(EXPIRE, docker(resource_type, labels), PREVIEW)
    kind = resource_type.rsplit(":", 1)[-1]
    assert message.startswith(
        f"{kind} 'llm-server-thing': the preview's Docker {kind.lower()} lacks the label {missing}"
    )
    assert "python -m service_infra preview open <n>" in message
    assert "service-infra:preview.ttl_hours" in message


@pytest.mark.parametrize("target", PREVIEWS)
def test_a_docker_resource_of_a_preview_with_no_labels_at_all_is_refused(target: Target) -> None:
    (message,) = violations(EXPIRE, docker(CONTAINER, None), target)
    assert f"lacks the label {LABEL_PREVIEW} " in message
    assert f"lacks the label {LABEL_PREVIEW_TTL_HOURS} " in message


@pytest.mark.parametrize("ttl", ["0", "-1", "", "72h", "1.5", "three", "٣"])
def test_the_ttl_is_a_positive_whole_number_of_hours(ttl: str) -> None:
    (message,) = violations(EXPIRE, docker(DOCKER_VOLUME, {**LABELS, LABEL_PREVIEW_TTL_HOURS: ttl}), PREVIEW)
    assert f"has {LABEL_PREVIEW_TTL_HOURS}={ttl!r}, not a positive whole number of hours" in message


@pytest.mark.parametrize(("value", "why"), [("pr-8", "another preview's"), ("staging", "not a preview's stack")])
def test_the_preview_label_names_this_preview(value: str, why: str) -> None:
    (message,) = violations(EXPIRE, docker(CONTAINER, {**LABELS, LABEL_PREVIEW: value}), PREVIEW)
    assert f"has {LABEL_PREVIEW}={value!r}, {why}" in message


def test_a_preview_the_engine_does_not_name_takes_any_pr_label() -> None:
    # Configured as a preview under another name: the label names some pr-<n>, which it cannot check.
    target = Target("ci-preview", "preview")
    assert violations(EXPIRE, docker(CONTAINER, {**LABELS, LABEL_PREVIEW: "pr-8"}), target) == []


@pytest.mark.parametrize("resource_type", DOCKER_TYPES)
@pytest.mark.parametrize("target", NOT_PREVIEWS)
def test_other_stacks_need_no_preview_labels(resource_type: str, target: Target) -> None:
    assert violations(EXPIRE, docker(resource_type, None), target) == []


def test_labels_not_known_yet_are_not_judged() -> None:
    unknown_list = docker_service_args(CONTAINER, "c", {"labels": UNKNOWN_ARRAY}, "llm-server")
    assert violations(EXPIRE, unknown_list, PREVIEW) == []
    unknown_values = {LABEL_PREVIEW: UNKNOWN_STRING, LABEL_PREVIEW_TTL_HOURS: UNKNOWN_STRING}
    assert violations(EXPIRE, docker(CONTAINER, unknown_values), PREVIEW) == []


def test_labels_given_as_a_secret_are_read() -> None:
    args = docker_service_args(CONTAINER, "c", {"labels": secret(wire(LABELS))}, "llm-server")
    assert violations(EXPIRE, args, PREVIEW) == []


def test_resources_other_than_containers_networks_and_volumes_are_not_labelled() -> None:
    assert violations(EXPIRE, resource_args(REMOTE_IMAGE, "llm-server-image", {"name": "x:1"}), PREVIEW) == []
    assert violations(EXPIRE, fly_command_args("image-descriptor-app", APP), PREVIEW) == []


# preview-no-retained-data

APP = {
    "create": shlex.join(flyctl.ensure_app_operation("acme-image-descriptor-pr-7", "acme-previews")),
    "delete": shlex.join(flyctl.delete_app_operation("acme-image-descriptor-pr-7")),
}
VOLUME = {
    "create": shlex.join(
        flyctl.ensure_volume_operation("acme-image-descriptor-pr-7", "cache_data", "iad", 1, "shared-cpu-1x", 256)
    ),
    "delete": shlex.join(flyctl.delete_volume_operation("acme-image-descriptor-pr-7")),
}
VOLUME_NAME = "image-descriptor-volume-cache_data"


@pytest.mark.parametrize("target", PREVIEWS)
def test_unprotected_data_that_goes_with_the_preview_passes(target: Target) -> None:
    assert violations(RETAINED, docker(DOCKER_VOLUME, LABELS), target) == []
    assert violations(RETAINED, fly_command_args("image-descriptor-app", APP), target) == []
    assert violations(RETAINED, fly_command_args(VOLUME_NAME, VOLUME), target) == []


@pytest.mark.parametrize("target", PREVIEWS)
def test_a_protected_docker_volume_of_a_preview_is_refused(target: Target) -> None:
    (message,) = violations(RETAINED, docker(DOCKER_VOLUME, LABELS, protect=True), target)
    assert message.startswith("Volume 'llm-server-thing': the preview's Docker volume is protected")
    assert "service-infra:services.llm-server.docker.volumes" in message
    assert "service-infra:environment to preview" in message


@pytest.mark.parametrize(
    ("name", "props", "what"), [("image-descriptor-app", APP, "app"), (VOLUME_NAME, VOLUME, "volume")]
)
def test_protected_fly_data_of_a_preview_is_refused(name: str, props: dict[str, Any], what: str) -> None:
    (message,) = violations(RETAINED, fly_command_args(name, props, protect=True), PREVIEW)
    assert message.startswith(f"Command '{name}': the preview's Fly {what} is protected")
    assert "service-infra:services.<service>.fly.protect" in message


@pytest.mark.parametrize(
    "delete", [None, "", "true", shlex.join(flyctl.delete_app_operation("acme-image-descriptor-pr-7"))]
)
def test_a_fly_volume_of_a_preview_needs_its_delete(delete: str | None) -> None:
    props = {k: v for k, v in VOLUME.items() if k != "delete"}
    if delete is not None:
        props["delete"] = delete
    (message,) = violations(RETAINED, fly_command_args(VOLUME_NAME, props), PREVIEW)
    assert message.startswith(f"Command '{VOLUME_NAME}': the preview's Fly volume has no delete-volume command")


def test_a_fly_volume_delete_not_known_yet_is_not_judged() -> None:
    assert violations(RETAINED, fly_command_args(VOLUME_NAME, {**VOLUME, "delete": UNKNOWN_STRING}), PREVIEW) == []


def test_the_release_is_no_data() -> None:
    assert violations(RETAINED, fly_command_args("image-descriptor-release", release(), protect=True), PREVIEW) == []


@pytest.mark.parametrize("target", NOT_PREVIEWS)
def test_other_stacks_keep_their_data_as_they_choose(target: Target) -> None:
    assert violations(RETAINED, docker(DOCKER_VOLUME, None, protect=True), target) == []
    assert violations(RETAINED, fly_command_args("image-descriptor-app", APP, protect=True), target) == []
    no_delete = {"create": VOLUME["create"]}
    assert violations(RETAINED, fly_command_args(VOLUME_NAME, no_delete, protect=True), target) == []


# preview-smallest-machine


def release(vm_size: str = "shared-cpu-1x", memory_mb: int = 256, stdin: Any = ...) -> dict[str, Any]:
    """The release command of pr-7's image-descriptor, its fly.toml on stdin as FlyApp writes it."""
    fly_toml = flyctl.fly_toml(
        app="acme-image-descriptor-pr-7",
        region="iad",
        vm_size=vm_size,
        memory_mb=memory_mb,
        internal_port=8080,
        health_path="/api/health",
        env={"APP_ENV": "preview"},
        mount=flyctl.FlyMount("cache_data", "/data"),
    )
    create = shlex.join(flyctl.release_operation("acme-image-descriptor-pr-7", "ghcr.io/acme/image-descriptor:sha-1"))
    props: dict[str, Any] = {"create": create}
    if stdin is not None:
        props["stdin"] = fly_toml if stdin is ... else stdin
    return props


def machine(props: dict[str, Any], target: Target = PREVIEW) -> list[str]:
    return violations(MACHINE, fly_command_args("image-descriptor-release", props), target)


@pytest.mark.parametrize("target", PREVIEWS)
def test_the_smallest_machine_passes(target: Target) -> None:
    assert machine(release(), target) == []


@pytest.mark.parametrize(
    ("vm_size", "memory_mb", "shown"),
    [
        ("shared-cpu-2x", 256, "its VM size is 'shared-cpu-2x'"),
        ("shared-cpu-1x", 512, "its memory is '512mb'"),
        ("performance-1x", 2048, "its VM size is 'performance-1x'; its memory is '2048mb'"),
    ],
)
def test_a_bigger_machine_in_a_preview_is_refused(vm_size: str, memory_mb: int, shown: str) -> None:
    (message,) = machine(release(vm_size, memory_mb))
    assert message.startswith("Command 'image-descriptor-release': the preview's Fly release is not on Fly's smallest")
    assert shown in message
    assert "service-infra:services.<service>.fly.vm_size to shared-cpu-1x" in message
    assert "service-infra:services.<service>.fly.memory_mb to 256" in message


VM = '[[vm]]\nsize = "shared-cpu-1x"\n'


@pytest.mark.parametrize(
    ("fly_toml", "shown"),
    [
        (VM + 'memory = "1gb"\n', "its memory is '1gb'"),
        (VM + 'memory = "256gb"\n', "its memory is '256gb'"),
        (VM + "memory_mb = 512\n", "its memory is 512"),
        (VM + 'memory = "256mb"\nmemory_mb = 1024\n', "its memory is '256mb', 1024"),
        (VM + 'memory = "a lot"\n', "its memory is 'a lot'"),
        (VM, "it states no memory"),
        (VM + "memory = 256\ncpus = 2\n", "its cpus is 2"),
        (VM + 'memory = 256\ncpu_kind = "performance"\n', "its cpu_kind is 'performance'"),
        ('[[vm]]\nmemory = "256mb"\n', "its VM size is None"),
        (VM + 'memory = "256mb"\n[[vm]]\nsize = "shared-cpu-8x"\nmemory = "256mb"\n', "'shared-cpu-8x'"),
        ('app = "acme-image-descriptor-pr-7"\n', "states no [[vm]]"),
        ("[[vm]\n", "not TOML"),
    ],
)
def test_the_fly_toml_is_read_as_fly_reads_it(fly_toml: str, shown: str) -> None:
    (message,) = machine(release(stdin=fly_toml))
    assert shown in message


@pytest.mark.parametrize("memory", ['"256mb"', '"256MB"', "256", '"256"'])
def test_256_mb_in_any_spelling_passes(memory: str) -> None:
    assert machine(release(stdin=f'{VM}memory = {memory}\ncpus = 1\ncpu_kind = "shared"\n')) == []


def test_a_release_without_its_fly_toml_is_refused() -> None:
    (message,) = machine(release(stdin=None))
    assert "it has no fly.toml (stdin)" in message


def test_a_fly_toml_not_known_yet_is_not_judged() -> None:
    assert machine(release(stdin=UNKNOWN_STRING)) == []


@pytest.mark.parametrize("target", NOT_PREVIEWS)
def test_other_stacks_run_any_machine(target: Target) -> None:
    assert machine(release("performance-2x", 4096), target) == []


def test_only_the_release_states_the_machine() -> None:
    # The volume's --vm-size is where Fly places the volume, not what the app runs on.
    big_volume = {
        "create": shlex.join(
            flyctl.ensure_volume_operation("acme-image-descriptor-pr-7", "cache_data", "iad", 1, "performance-2x", 4096)
        )
    }
    assert violations(MACHINE, fly_command_args(VOLUME_NAME, big_volume), PREVIEW) == []
    outside = resource_args(COMMAND, "image-descriptor-release", release("performance-2x", 4096))
    assert violations(MACHINE, outside, PREVIEW) == []
