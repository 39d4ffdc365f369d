"""Prod's credentials are reachable from main only: the workflows and the stacks agree.

Assume someone who can push a branch and nothing more. Whatever a branch's code does, it only
gets the secrets its job is given; so a job that can run for a pull request or from any branch
must hold no prod credential, and every job that holds one must sit in a GitHub environment
that only main may deploy to (a branch policy the prod stack itself declares).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from service_infra.settings import load_stack_file
from tests.support import ROOT
from tests.support.workflows import SECRET_REFERENCE, environments, jobs

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
JOBS = jobs()


@pytest.mark.parametrize(("name", "triggers", "text", "job"), JOBS, ids=[j[0] for j in JOBS])
def test_pull_request_jobs_hold_no_stack_credential_and_never_run_where_prod_deploys(
    name: str, triggers: set[str], text: str, job: dict[str, Any]
) -> None:
    if "pull_request" not in triggers and "pull_request_target" not in triggers:
        return
    assert "pull_request_target" not in triggers, f"{name}: pull_request_target runs branch code with secrets"
    used = set(SECRET_REFERENCE.findall(text))
    assert not used & set(STACK_CREDENTIALS), f"{name} reads {sorted(used & set(STACK_CREDENTIALS))}"
    assert not environments(job), f"{name} runs in an environment"
    assert "DEPLOY_RUNNER" not in str(job.get("runs-on")), f"{name} may run on the deploy runner"


@pytest.mark.parametrize(("name", "triggers", "text", "job"), JOBS, ids=[j[0] for j in JOBS])
def test_every_job_holding_stack_credentials_sits_in_a_branch_bound_environment(
    name: str, triggers: set[str], text: str, job: dict[str, Any]
) -> None:
    used = set(SECRET_REFERENCE.findall(text)) & set(STACK_CREDENTIALS)
    if not used:
        return
    bound = environments(job)
    assert bound, f"{name} reads {sorted(used)} outside an environment (a repository secret any branch reads)"
    declared = {
        env_name: settings
        for stack in ("staging", "prod")
        if (github := load_stack_file(ROOT / f"Pulumi.{stack}.yaml").github) is not None
        for env_name, settings in github.environments.items()
    }
    for environment in bound:
        assert environment in declared, f"{name} uses environment {environment}, which no stack declares"
        branches = declared[environment].branches
        assert branches, f"{environment} has no deployment branch policy: every branch could use it"
        if environment.startswith("production"):
            assert list(branches) == ["main"], f"{environment} must deploy from main only, got {branches}"


# Who may run on the deploy runner: a job whose own `if` or `runs-on` holds it to main.
ONLY_MAIN = re.compile(r"github\.ref_name == 'main'|github\.ref == 'refs/heads/main'")


def _deploy_runner_only_for_main(job: dict[str, Any]) -> bool:
    runs_on = str(job.get("runs-on", ""))
    if "DEPLOY_RUNNER" not in runs_on:
        return True
    if ONLY_MAIN.search(str(job.get("if", ""))):
        return True
    # `main && (DEPLOY_RUNNER || …) || (…)`: the deploy runner only on the main side of the condition.
    main_side = re.match(r"\$\{\{\s*github\.ref_name == 'main' && \(([^)]*)\) \|\| \(([^)]*)\)\s*\}\}$", runs_on)
    return bool(main_side) and "DEPLOY_RUNNER" in main_side.group(1) and "DEPLOY_RUNNER" not in main_side.group(2)


@pytest.mark.parametrize(("name", "triggers", "text", "job"), JOBS, ids=[j[0] for j in JOBS])
def test_no_job_a_branch_can_start_runs_on_the_deploy_runner(
    name: str, triggers: set[str], text: str, job: dict[str, Any]
) -> None:
    """A pull request, a manual run from a branch or a push to staging runs branch code: it must
    leave nothing behind where prod deploys. (A branch can also write a workflow of its own: the
    runner group's workflow allow-list is what stops that, docs/security.md.)"""
    assert _deploy_runner_only_for_main(job), f"{name} may run branch code on the deploy runner: {job.get('runs-on')}"


@pytest.mark.parametrize(("name", "triggers", "text", "job"), JOBS, ids=[j[0] for j in JOBS])
def test_prod_previews_hold_the_read_only_state_identity(
    name: str, triggers: set[str], text: str, job: dict[str, Any]
) -> None:
    """production-preview serves code on main before any reviewer approves the deploy: it holds
    prod's preview identity, which writes nothing (docs/team.md), never the deploy identity."""
    if "production-preview" not in environments(job):
        return
    used = set(SECRET_REFERENCE.findall(text))
    assert not used & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, f"{name} holds prod's deploy identity"
    assert {"PREVIEW_AWS_ACCESS_KEY_ID", "PREVIEW_AWS_SECRET_ACCESS_KEY"} <= used, f"{name}: {sorted(used)}"


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
    with pytest.raises(AssertionError, match="branch code on the deploy runner"):
        test_no_job_a_branch_can_start_runs_on_the_deploy_runner("bad", {"workflow_dispatch"}, "", job)
    swapped = {"runs-on": "${{ github.ref_name == 'main' && (vars.X) || (vars.DEPLOY_RUNNER) }}"}
    with pytest.raises(AssertionError, match="branch code on the deploy runner"):
        test_no_job_a_branch_can_start_runs_on_the_deploy_runner("bad", {"push"}, "", swapped)
    preview = {"environment": "production-preview", "env": {"K": "${{ secrets.AWS_ACCESS_KEY_ID }}"}}
    with pytest.raises(AssertionError, match="deploy identity"):
        test_prod_previews_hold_the_read_only_state_identity("bad", {"push"}, yaml.safe_dump(preview), preview)
    job["environment"] = "${{ github.ref_name == 'main' && 'production' || 'anything-goes' }}"
    with pytest.raises(AssertionError, match="anything-goes, which no stack declares"):
        test_every_job_holding_stack_credentials_sits_in_a_branch_bound_environment(
            "bad", {"push"}, yaml.safe_dump(job), job
        )


PULUMI_ACTION = "pulumi/actions@"


def _steps() -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name, _, _, job in JOBS for step in job.get("steps", [])]


def policy_config_problems(steps: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The pack decides its own levels (mandatory in prod): a workflow passing a policy-pack
    config could turn a mandatory policy advisory or off. So none passes one, and every update
    or preview through the Pulumi action runs the pack."""
    found = []
    for name, step in steps:
        text = yaml.safe_dump(step)
        if re.search(r"policyPackConfigs|policy-pack-config", text):
            found.append(f"{name}: step {step.get('name')!r} passes a policy-pack config")
        uses, inputs = str(step.get("uses", "")), step.get("with") or {}
        runs_the_engine = uses.startswith(PULUMI_ACTION) and inputs.get("command") in {"up", "preview"}
        if runs_the_engine and inputs.get("policyPacks") != "policy":
            found.append(f"{name}: step {step.get('name')!r} runs `{inputs['command']}` without the policy pack")
    return found


def test_no_workflow_weakens_the_policy_pack() -> None:
    assert policy_config_problems(_steps()) == []
    bad = {
        "uses": f"{PULUMI_ACTION}v7",
        "with": {"command": "up", "policyPacks": "policy", "policyPackConfigs": "x.json"},
    }
    assert policy_config_problems([("bad", bad)]) == ["bad: step None passes a policy-pack config"]
    bare = {"uses": f"{PULUMI_ACTION}v7", "with": {"command": "preview"}}
    assert policy_config_problems([("bare", bare)]) == ["bare: step None runs `preview` without the policy pack"]
    shell = {"run": "pulumi up --policy-pack policy --policy-pack-config off.json"}
    assert policy_config_problems([("shell", shell)]) == ["shell: step None passes a policy-pack config"]
