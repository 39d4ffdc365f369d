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

from service_infra.cli.preview import COMMENT_MARKER, comment
from service_infra.settings import load_stack_file
from tests.support import ROOT
from tests.support.workflows import SECRET_REFERENCE, WORKFLOWS, conjuncts, environments, jobs, load, triggers

# Unprefixed names are the stack's own credentials, which live only in environments; staging's
# copies for pull-request previews carry a STAGING_ prefix at repository level. The preview
# environments' own (PR_PREVIEW_*, repository level too) are checked below.
STACK_CREDENTIALS = (
    "PULUMI_CONFIG_PASSPHRASE",
    "SSH_PRIVATE_KEY",
    "FLY_API_TOKEN",
    "GITHUB_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)
JOBS = jobs()


def stack_environments() -> dict[str, Any]:
    """The GitHub environments staging's and prod's stack files declare: each holds that stack's secrets."""
    return {
        env_name: settings
        for stack in ("staging", "prod")
        if (github := load_stack_file(ROOT / f"Pulumi.{stack}.yaml").github) is not None
        for env_name, settings in github.environments.items()
    }


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
    declared = stack_environments()
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


# Pull-request previews (.github/workflows/preview-environment.yml) run a branch's code with
# `pulumi up`: they hold the previews' own credentials, repository secrets named PR_PREVIEW_*
# that reach preview resources only, and nothing of staging's or prod's (PREVIEW_* is prod's
# read-only state identity in production-preview, STAGING_* staging's, unprefixed a stack's own).
PREVIEW_WORKFLOW = ROOT / ".github" / "workflows" / "preview-environment.yml"
PREVIEW_SECRET_PREFIX = "PR_PREVIEW_"
RUNS_PREVIEW = re.compile(r"service_infra preview (open|close|reap)\b")
# `-s NAME`, `--stack NAME`, `--stack=NAME`, `stack-name: NAME`, and the stack file Pulumi.NAME.yaml.
NAMED_STACK = r"(?:(?<![\w-])-s\s+|--stack[=\s]+|stack-name:\s*|Pulumi\.)['\"]?"
STAGING_OR_PROD_STACK = re.compile(rf"{NAMED_STACK}(?:staging|prod)\b")
A_PREVIEW_STACK = re.compile(rf"{NAMED_STACK}pr-")
SAME_REPOSITORY = "github.event.pull_request.head.repo.full_name == github.repository"
LABELLED = "contains(github.event.pull_request.labels.*.name, 'preview')"
NOT_CLOSED = "github.event.action != 'closed'"
# What the previews' jobs map into their env, and from where.
PREVIEW_ENV = {
    name: f"${{{{ secrets.{PREVIEW_SECRET_PREFIX}{name} }}}}"
    for name in ("PULUMI_CONFIG_PASSPHRASE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
}
PREVIEW_SSH_KEY = f"${{{{ secrets.{PREVIEW_SECRET_PREFIX}SSH_PRIVATE_KEY }}}}"


def preview_job_problems(name: str, job: dict[str, Any]) -> list[str]:
    """A preview job reads PR_PREVIEW_* secrets and no others, runs in no environment (those of
    the stack files hold staging's and prod's secrets), and never on the deploy runner."""
    found: list[str] = []
    used = set(SECRET_REFERENCE.findall(yaml.safe_dump(job)))
    foreign = sorted(secret for secret in used if not secret.startswith(PREVIEW_SECRET_PREFIX))
    if foreign:
        found.append(f"{name} reads {foreign}: a preview holds the {PREVIEW_SECRET_PREFIX}* secrets only")
    bound = environments(job)
    if bound & set(stack_environments()):
        found.append(f"{name} runs in {sorted(bound)}, which holds staging's or prod's secrets")
    elif bound:
        found.append(f"{name} runs in the environment {sorted(bound)}: previews use repository secrets")
    env = job.get("env") or {}
    found += [
        f"{name}: env {key} is {env.get(key)!r}, not {value}"
        for key, value in PREVIEW_ENV.items()
        if env.get(key) != value
    ]
    steps = job.get("steps") or []
    runner = [s for s in steps if s.get("uses") == "./.github/actions/pulumi-runner"]
    if not runner or any((s.get("with") or {}).get("ssh-private-key") != PREVIEW_SSH_KEY for s in runner):
        found.append(f"{name}: the pulumi-runner step must load {PREVIEW_SSH_KEY}")
    runs_on = str(job.get("runs-on", ""))
    if "DEPLOY_RUNNER" in runs_on or "PREVIEW_RUNNER" not in runs_on:
        found.append(f"{name} runs on {runs_on!r}: previews run on PREVIEW_RUNNER, never the deploy runner")
    first = steps[0] if steps else {}
    if first.get("name") != "Refuse the deploy runner" or '"$PREVIEW_RUNNER" = "$DEPLOY_RUNNER"' not in str(
        first.get("run")
    ):
        found.append(f"{name}: the first step must refuse the deploy runner")
    return found


def preview_trigger_problems(workflow: dict[Any, Any]) -> list[str]:
    """`pull_request` (the branch's own token and repository secrets, no write token by default),
    never `pull_request_target`; a preview only for a pull request of this repository with the
    `preview` label, still open; one update per pull request at a time, never cancelled."""
    found: list[str] = []
    on = triggers(workflow)
    if "pull_request_target" in on or "pull_request" not in on:
        found.append(f"triggered by {sorted(on)}: previews take `pull_request`, never `pull_request_target`")
    for name, job in workflow["jobs"].items():
        script = str(job.get("steps"))  # not YAML, which may fold a long line between words
        actions = set(RUNS_PREVIEW.findall(script))
        clauses = set(conjuncts(str(job.get("if", ""))))
        needed = {SAME_REPOSITORY, LABELLED, NOT_CLOSED} if "open" in actions else set()
        needed |= {SAME_REPOSITORY} if "close" in actions else set()
        if needed - clauses:
            found.append(f"{name}: its `if` must require each of {sorted(needed - clauses)}")
        concurrency = job.get("concurrency") or {}
        if "open" in actions and (
            "github.event.pull_request.number" not in str(concurrency.get("group"))
            or concurrency.get("cancel-in-progress") is not False
        ):
            found.append(f"{name}: one open per pull request at a time, never cancelled (a killed `up` leaves a lock)")
    return found


PREVIEW_JOBS = [(n, job) for n, _, _, job in JOBS if n.startswith(f"{PREVIEW_WORKFLOW.name}:")]


def test_the_preview_workflow_has_its_three_jobs() -> None:
    text = PREVIEW_WORKFLOW.read_text()
    assert {action for action in RUNS_PREVIEW.findall(text)} == {"open", "close", "reap"}
    assert len(PREVIEW_JOBS) == 3


@pytest.mark.parametrize(("name", "job"), PREVIEW_JOBS, ids=[j[0] for j in PREVIEW_JOBS])
def test_previews_hold_only_the_previews_credentials(name: str, job: dict[str, Any]) -> None:
    assert preview_job_problems(name, job) == []


def test_previews_open_only_for_labelled_pull_requests_of_this_repository() -> None:
    assert preview_trigger_problems(load(PREVIEW_WORKFLOW)) == []


def test_stacks_stay_in_their_workflows() -> None:
    """No deploy, drift or pull-request job makes or names a preview stack; the previews' workflow
    never names staging's or prod's stack."""
    for path in WORKFLOWS:
        text = path.read_text()
        if path == PREVIEW_WORKFLOW:
            assert not STAGING_OR_PROD_STACK.search(text), f"{path.name} names staging or prod"
        else:
            assert not RUNS_PREVIEW.search(text), f"{path.name} runs `service_infra preview`"
            assert not A_PREVIEW_STACK.search(text), f"{path.name} names a pr- stack"


def test_the_previews_flyctl_is_the_deploys() -> None:
    """The Fly resources were modelled on one flyctl (tests/fakes/fly): previews run the same."""
    pins = {path.name: load(path).get("env", {}).get("FLYCTL_VERSION") for path in WORKFLOWS}
    assert pins[PREVIEW_WORKFLOW.name] == pins["deploy.yml"] is not None


def test_the_comment_starts_with_the_marker_the_workflow_looks_for() -> None:
    """The workflow edits the comment whose first line is the new comment's first line."""
    text = comment("pr-7", 7, {"service_urls": {"api": "https://x.example"}}, 72)
    assert text.splitlines()[0] == COMMENT_MARKER.format(stack="pr-7")
    assert 'marker=$(head -n 1 "$comment")' in PREVIEW_WORKFLOW.read_text()


def test_the_preview_checks_can_fail() -> None:
    good = dict(load(PREVIEW_WORKFLOW)["jobs"]["open"])
    assert preview_job_problems("good", good) == []
    staging = {
        **good,
        "env": {**good["env"], "PULUMI_CONFIG_PASSPHRASE": "${{ secrets.STAGING_PULUMI_CONFIG_PASSPHRASE }}"},
    }
    assert any("reads ['STAGING_PULUMI_CONFIG_PASSPHRASE']" in p for p in preview_job_problems("bad", staging))
    prods = {**good, "env": {**good["env"], "AWS_ACCESS_KEY_ID": "${{ secrets.PREVIEW_AWS_ACCESS_KEY_ID }}"}}
    assert any("reads ['PREVIEW_AWS_ACCESS_KEY_ID']" in p for p in preview_job_problems("bad", prods))
    unset = {**good, "env": {k: v for k, v in good["env"].items() if k != "PULUMI_CONFIG_PASSPHRASE"}}
    assert any("env PULUMI_CONFIG_PASSPHRASE" in p for p in preview_job_problems("bad", unset))
    staged = {**good, "environment": "staging"}
    assert any("staging's or prod's secrets" in p for p in preview_job_problems("bad", staged))
    deploy_runner = {**good, "runs-on": "${{ vars.DEPLOY_RUNNER }}"}
    assert any("never the deploy runner" in p for p in preview_job_problems("bad", deploy_runner))
    unguarded = {**good, "steps": good["steps"][1:]}
    assert any("refuse the deploy runner" in p for p in preview_job_problems("bad", unguarded))
    prod_key = {**good, "steps": [{"uses": "./.github/actions/pulumi-runner", "with": {"ssh-private-key": "k"}}]}
    assert any("must load" in p for p in preview_job_problems("bad", prod_key))

    workflow = load(PREVIEW_WORKFLOW)
    target = {**workflow, True: {"pull_request_target": None}}
    assert any("never `pull_request_target`" in p for p in preview_trigger_problems(target))
    forks = str(good["if"]).replace(SAME_REPOSITORY, "true")
    assert any(
        SAME_REPOSITORY in p for p in preview_trigger_problems({**workflow, "jobs": {"o": {**good, "if": forks}}})
    )
    optional = str(good["if"]).replace(f"&& {LABELLED}", f"|| {LABELLED}")
    assert any(LABELLED in p for p in preview_trigger_problems({**workflow, "jobs": {"o": {**good, "if": optional}}}))
    cancelled = {**good, "concurrency": {"group": good["concurrency"]["group"], "cancel-in-progress": True}}
    assert any("never cancelled" in p for p in preview_trigger_problems({**workflow, "jobs": {"o": cancelled}}))

    assert STAGING_OR_PROD_STACK.search("pulumi up -s staging")
    assert STAGING_OR_PROD_STACK.search("stack-name: prod")
    assert STAGING_OR_PROD_STACK.search("pulumi destroy --stack=prod")
    assert STAGING_OR_PROD_STACK.search("cat Pulumi.prod.yaml")
    assert not STAGING_OR_PROD_STACK.search("gh pr list --state open --label preview")
    assert A_PREVIEW_STACK.search("pulumi up --stack pr-12")
    assert A_PREVIEW_STACK.search("stack-name: 'pr-${{ github.event.number }}'")
    assert conjuncts("${{ a && (b || c) && d }}") == ["a", "(b || c)", "d"]
