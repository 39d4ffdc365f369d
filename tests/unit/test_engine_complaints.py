"""A failed engine run's error names its cause up front, not in the middle of a long --diff."""

from __future__ import annotations

import pytest
from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult

from tests.support.pulumi_project import complaints_noted, engine_complaints

OUTPUT = """Previewing update (prod):
+ pulumi:pulumi:Stack: (create)
    + service-infra:docker_service:DockerService: (create)
        name: "llm-server"
Diagnostics:
  pulumi:pulumi:Stack (service-infra-prod):
    error: the host mac-mini did not answer over SSH
    service-infra-guards@v0.1.0 [mandatory] [severity: critical]  no-plaintext-secrets  (command:local:Command: live)
Policy Violations:
    [mandatory]  service-infra-guards v0.1.0  prod-is-protected (app)
    The app must be protected.
Resources:
    + 36 to create
"""


def test_the_diagnostics_and_policy_violations_are_picked_and_the_diff_left_out() -> None:
    picked = engine_complaints(OUTPUT)
    assert "error: the host mac-mini did not answer over SSH" in picked
    assert "The app must be protected." in picked
    assert "no-plaintext-secrets" in picked  # a violation printed inline, as --diff prints it
    assert "llm-server" not in picked and "36 to create" not in picked


def test_a_failing_run_carries_them_as_a_note() -> None:
    with pytest.raises(auto.CommandError) as raised, complaints_noted():
        raise auto.CommandError(CommandResult(stdout=OUTPUT, stderr="error: preview failed", code=1))
    notes = "\n".join(getattr(raised.value, "__notes__", []))
    assert "did not answer over SSH" in notes and "error: preview failed" in notes
