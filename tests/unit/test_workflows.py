"""Prod's credentials are reachable from main only: the workflows and the stacks agree.

Assume someone who can push a branch and nothing more. Whatever a branch's code does, it only
gets the secrets its job is given; so a job that can run for a pull request or from any branch
must hold no prod credential, and every job that holds one must sit in a GitHub environment
that only main may deploy to (a branch policy the prod stack itself declares).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from service_infra.settings import load_stack_file
from tests.support import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# Unprefixed names are the stack's own credentials, which live only in environments; staging's
# copies for pull-request previews carry a STAGING_ prefix at repository level.
STACK_CREDENTIALS = (
    "PULUMI_CONFIG_PASSPHRASE",
    "SSH_PRIVATE_KEY",
    "FLY_API_TOKEN",
    "GITHUB_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)
SECRET_REFERENCE = re.compile(r"secrets\.([A-Z0-9_]+)")


def _load(path: Path) -> dict[Any, Any]:
    return yaml.safe_load(path.read_text())


def _triggers(workflow: dict[Any, Any]) -> set[str]:
    on = workflow.get(True, workflow.get("on"))  # YAML 1.1 reads a bare `on` as True
    return set(on) if isinstance(on, dict) else {on} if isinstance(on, str) else set(on or [])


def _jobs() -> list[tuple[str, set[str], str, dict[str, Any]]]:
    found = []
    for path in WORKFLOWS:
        workflow = _load(path)
        for name, job in workflow["jobs"].items():
            found.append((f"{path.name}:{name}", _triggers(workflow), yaml.safe_dump(job), job))
    return found


def _environments(job: dict[str, Any]) -> set[str]:
    """Every environment name a job's `environment:` can evaluate to."""
    value = job.get("environment")
    if value is None:
        return set()
    text = value if isinstance(value, str) else value.get("name", "")
    # `${{ cond && 'a' || 'b' }}`: the names are the quoted results, not what is compared.
    return set(re.findall(r"(?:&&|\|\|)\s*'([a-z0-9-]+)'", text)) or {text}


JOBS = _jobs()


@pytest.mark.parametrize(("name", "triggers", "text", "job"), JOBS, ids=[j[0] for j in JOBS])
def test_pull_request_jobs_hold_no_stack_credential_and_never_run_where_prod_deploys(
    name: str, triggers: set[str], text: str, job: dict[str, Any]
) -> None:
    if "pull_request" not in triggers and "pull_request_target" not in triggers:
        return
    assert "pull_request_target" not in triggers, f"{name}: pull_request_target runs branch code with secrets"
    used = set(SECRET_REFERENCE.findall(text))
    assert not used & set(STACK_CREDENTIALS), f"{name} reads {sorted(used & set(STACK_CREDENTIALS))}"
    assert not _environments(job), f"{name} runs in an environment"
    assert "DEPLOY_RUNNER" not in str(job.get("runs-on")), f"{name} may run on the deploy runner"


@pytest.mark.parametrize(("name", "triggers", "text", "job"), JOBS, ids=[j[0] for j in JOBS])
def test_every_job_holding_stack_credentials_sits_in_a_branch_bound_environment(
    name: str, triggers: set[str], text: str, job: dict[str, Any]
) -> None:
    used = set(SECRET_REFERENCE.findall(text)) & set(STACK_CREDENTIALS)
    if not used:
        return
    environments = _environments(job)
    assert environments, f"{name} reads {sorted(used)} outside an environment (a repository secret any branch reads)"
    declared = {
        env_name: settings
        for stack in ("staging", "prod")
        if (github := load_stack_file(ROOT / f"Pulumi.{stack}.yaml").github) is not None
        for env_name, settings in github.environments.items()
    }
    for environment in environments:
        assert environment in declared, f"{name} uses environment {environment}, which no stack declares"
        branches = declared[environment].branches
        assert branches, f"{environment} has no deployment branch policy: every branch could use it"
        if environment.startswith("production"):
            assert list(branches) == ["main"], f"{environment} must deploy from main only, got {branches}"


def test_the_checks_can_fail() -> None:
    job = {"runs-on": "${{ vars.DEPLOY_RUNNER }}", "env": {"P": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"}}
    with pytest.raises(AssertionError, match="reads"):
        test_pull_request_jobs_hold_no_stack_credential_and_never_run_where_prod_deploys(
            "bad", {"pull_request"}, yaml.safe_dump(job), job
        )
    with pytest.raises(AssertionError, match="outside an environment"):
        test_every_job_holding_stack_credentials_sits_in_a_branch_bound_environment(
            "bad", {"push"}, yaml.safe_dump(job), job
        )
    job["environment"] = "${{ github.ref_name == 'main' && 'production' || 'anything-goes' }}"
    with pytest.raises(AssertionError, match="anything-goes, which no stack declares"):
        test_every_job_holding_stack_credentials_sits_in_a_branch_bound_environment(
            "bad", {"push"}, yaml.safe_dump(job), job
        )
