"""The pack: every policy, its name, description and severity, in one list."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pulumi_policy import (
    Policy,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidation,
    StackValidationArgs,
    StackValidationPolicy,
)

from .containers import (
    app_version_gate_findings,
    container_runtime_findings,
    container_user_findings,
    published_port_findings,
)
from .fly import fly_protected_findings
from .github import (
    production_branch_policy_findings,
    production_environment_exists_findings,
    production_environment_findings,
)
from .images import images_pinned_findings
from .isolation import shared_docker_identity_findings
from .previews import preview_expiry_findings, preview_machine_findings, preview_retained_data_findings
from .secrets import no_plaintext_secrets_findings
from .target import LiveTarget, Target
from .volumes import docker_volume_protected_findings

PACK_NAME = "service-infra-guards"

ResourceFindings = Callable[[ResourceValidationArgs], Iterable[str]]
StackFindings = Callable[[StackValidationArgs], Iterable[tuple[str, str | None]]]


def resource_validation(findings: ResourceFindings) -> ResourceValidation:
    """A validate callback reporting each finding as a violation of the resource validated."""

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        for message in findings(args):
            report(message, None)

    return validate


def stack_validation(findings: StackFindings) -> StackValidation:
    """A validate callback reporting each (message, urn) finding against that resource (or, with
    no urn, against the stack)."""

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for message, urn in findings(args):
            report(message, urn)

    return validate


def policies(target: Target | LiveTarget) -> list[Policy]:
    """Every policy of the pack; each takes the pack's enforcement level (see target.Target)."""
    return [
        ResourceValidationPolicy(
            name="images-pinned",
            description="Images are pinned: a tag other than latest, or a digest.",
            validate=resource_validation(images_pinned_findings),
            severity=Severity.HIGH,
        ),
        ResourceValidationPolicy(
            name="containers-healthcheck-restart-logs",
            description=(
                "Containers restart unless-stopped and cap their json logs; all but app versions have a "
                "healthcheck (an app version's is probed by its activation)."
            ),
            validate=resource_validation(container_runtime_findings),
            severity=Severity.MEDIUM,
        ),
        StackValidationPolicy(
            name="app-versions-health-gated",
            description="An app version goes live only through an activation that probes its health URL first.",
            validate=stack_validation(app_version_gate_findings),
            severity=Severity.HIGH,
        ),
        ResourceValidationPolicy(
            name="containers-non-root",
            description="Containers run as a non-root user, in no spelling Docker reads as uid 0.",
            validate=resource_validation(container_user_findings),
            severity=Severity.HIGH,
        ),
        ResourceValidationPolicy(
            name="published-ports-explicit",
            description="In prod, published ports bind the address the stack names, never every interface.",
            validate=resource_validation(lambda args: published_port_findings(args, target)),
            severity=Severity.HIGH,
        ),
        ResourceValidationPolicy(
            name="production-environment-protected",
            description=(
                "The production GitHub environment requires a reviewer and limits deploying branches; "
                "in prod also no self-review, no admin bypass, named branches only, and protect."
            ),
            validate=resource_validation(lambda args: production_environment_findings(args, target)),
            severity=Severity.HIGH,
        ),
        StackValidationPolicy(
            name="production-environment-branch-policy",
            description=(
                "A deployment branch policy names the branches that may deploy to production; "
                "in prod none matches every branch."
            ),
            validate=stack_validation(lambda args: production_branch_policy_findings(args, target)),
            severity=Severity.HIGH,
        ),
        StackValidationPolicy(
            name="production-environment-exists",
            description="In prod, the production GitHub environment exists to gate deploys.",
            validate=stack_validation(lambda args: production_environment_exists_findings(args, target)),
            severity=Severity.HIGH,
        ),
        StackValidationPolicy(
            name="docker-host-own-identity",
            description="In prod, no Docker host is reached as a user another stack of the project logs in as.",
            validate=stack_validation(lambda args: shared_docker_identity_findings(args, target)),
            severity=Severity.CRITICAL,
        ),
        ResourceValidationPolicy(
            name="no-plaintext-secrets",
            description="No secret in plaintext in container envs, command lines or Actions variables.",
            validate=resource_validation(no_plaintext_secrets_findings),
            severity=Severity.CRITICAL,
        ),
        ResourceValidationPolicy(
            name="fly-volumes-protected",
            description="In prod, the Fly app and its volumes are protected from deletion.",
            validate=resource_validation(lambda args: fly_protected_findings(args, target)),
            severity=Severity.HIGH,
        ),
        ResourceValidationPolicy(
            name="docker-volumes-protected",
            description="In prod, Docker volumes are protected from deletion.",
            validate=resource_validation(lambda args: docker_volume_protected_findings(args, target)),
            severity=Severity.HIGH,
        ),
        ResourceValidationPolicy(
            name="preview-resources-expire",
            description=(
                "In a preview, every Docker container, network and volume is labelled with the preview "
                "(service-infra.preview) and its time to live in hours (service-infra.ttl-hours)."
            ),
            validate=resource_validation(lambda args: preview_expiry_findings(args, target)),
            severity=Severity.MEDIUM,
        ),
        ResourceValidationPolicy(
            name="preview-no-retained-data",
            description=(
                "In a preview, no Docker volume, Fly app or Fly volume is protected, and each Fly volume "
                "is deleted with the preview."
            ),
            validate=resource_validation(lambda args: preview_retained_data_findings(args, target)),
            severity=Severity.HIGH,
        ),
        ResourceValidationPolicy(
            name="preview-smallest-machine",
            description="In a preview, the Fly release's fly.toml asks for shared-cpu-1x with 256 MB.",
            validate=resource_validation(lambda args: preview_machine_findings(args, target)),
            severity=Severity.MEDIUM,
        ),
    ]
