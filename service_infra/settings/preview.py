"""Pull-request previews: a `pr-<n>` stack per pull request, made from the template stack file
Pulumi.preview.yaml by `python -m service_infra preview open <n>`.

The template says what a preview runs and its bounds (a port pool, how many at once, how long
one lives); `preview open` writes the pull request's number and its slot into Pulumi.pr-<n>.yaml,
and `preview_instance` derives the rest, the same way on every run: the slot's ports, the Fly
apps named `<app>-pr-<n>`, and the labels that name the preview and its time to live.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from service_infra.contract import LABEL_PREVIEW, LABEL_PREVIEW_TTL_HOURS, PROJECT, pull_request_of
from service_infra.settings.base import FLY_APP_NAME, Model, Port

# The template's stack name. A preview's (pr-<n>, contract.pull_request_of) and its machine
# (contract.PREVIEW_VM_SIZE) are the contract's: the policy pack holds previews to them too.
PREVIEW_TEMPLATE = "preview"


def preview_stack_name(pull_request: int) -> str:
    return f"pr-{pull_request}"


def preview_app_name(app: str, pull_request: int) -> str:
    return f"{app}-pr-{pull_request}"


class PortPool(Model):
    """A range of host ports, both ends included."""

    first: Port
    """The pool's first port."""
    last: Port
    """The pool's last port (at least `first`)."""

    @model_validator(mode="after")
    def _ordered(self) -> PortPool:
        if self.last < self.first:
            raise ValueError(f"last ({self.last}) is below first ({self.first}); give first <= last")
        return self

    @property
    def size(self) -> int:
        return self.last - self.first + 1


class PreviewSettings(Model):
    """The template's bounds (Pulumi.preview.yaml), and in a `pr-<n>` stack file the pull request
    and slot `preview open` gave it."""

    ports: PortPool
    """Host ports the previews publish their Docker services on: slot k's services take
    `first + k * (Docker services)` onwards, in the order of their names. No other stack may
    publish a port of the pool on the same host."""
    max_previews: int = Field(default=3, ge=1, le=50)
    """How many previews may exist at once; `preview open` refuses one more."""
    ttl_hours: int = Field(default=72, ge=1, le=720)
    """A preview not updated for this long is destroyed by the daily reaper
    (`preview reap`), whether or not its pull request is still open."""
    pull_request: int | None = Field(default=None, ge=1)
    """Set by `preview open` in Pulumi.pr-<n>.yaml: the pull request's number. Never in the
    template."""
    slot: int | None = Field(default=None, ge=0)
    """Set by `preview open` in Pulumi.pr-<n>.yaml: which share of the port pool the preview
    publishes on. Never in the template."""

    @property
    def stack(self) -> str | None:
        return preview_stack_name(self.pull_request) if self.pull_request is not None else None


def preview_problems(
    preview: PreviewSettings, docker_services: int, fly_apps: list[str], stack: str | None
) -> list[str]:
    """What makes the template, or one preview made from it, unusable."""
    key = f"{PROJECT}:preview"
    problems: list[str] = []
    needed = preview.max_previews * docker_services
    if needed > preview.ports.size:
        problems.append(
            f"{key}.ports: {preview.ports.size} ports cannot hold max_previews ({preview.max_previews}) x "
            f"{docker_services} Docker services = {needed}; widen the pool or lower max_previews"
        )
    pulled = pull_request_of(stack)
    made = (preview.pull_request is not None, preview.slot is not None)
    if stack == PREVIEW_TEMPLATE and any(made):
        problems.append(
            f"{key}: pull_request and slot are a preview's, set by `python -m service_infra preview open <n>` "
            "in Pulumi.pr-<n>.yaml; remove them from the template"
        )
    elif (pulled is not None or any(made)) and not all(made):
        problems.append(
            f"{key}: a preview stack needs pull_request and slot; make it with "
            "`python -m service_infra preview open <n>`, which writes both"
        )
    if pulled is not None and preview.pull_request not in {None, pulled}:
        problems.append(
            f"{key}.pull_request: the stack {stack} is pull request {pulled}'s, got {preview.pull_request}; "
            f"make it again with `python -m service_infra preview open {pulled}`"
        )
    if preview.slot is not None and preview.slot >= preview.max_previews:
        problems.append(
            f"{key}.slot: {preview.slot} is past max_previews ({preview.max_previews}): slots are 0 to "
            f"{preview.max_previews - 1}; make the preview again with `preview open`"
        )
    if preview.pull_request is not None:
        for app in fly_apps:
            name = preview_app_name(app, preview.pull_request)
            if not FLY_APP_NAME.match(name):
                problems.append(
                    f"{PROJECT}:services.*.fly.app: {name} (the preview's app for {app}) is not a Fly app name "
                    "of at most 63 lowercase letters, digits and '-'; shorten the template's app"
                )
    return problems


def preview_labels(preview: PreviewSettings) -> dict[str, str]:
    """On every container, network and volume of a preview: whose it is, and how long it lives."""
    assert preview.stack is not None
    return {LABEL_PREVIEW: preview.stack, LABEL_PREVIEW_TTL_HOURS: str(preview.ttl_hours)}


def slot_ports(preview: PreviewSettings, slot: int, services: list[str]) -> dict[str, int]:
    """The host port of each Docker service (by name) in SLOT of the pool."""
    start = preview.ports.first + slot * len(services)
    return {name: start + index for index, name in enumerate(sorted(services))}
