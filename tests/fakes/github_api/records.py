"""What the stand-in holds: environments and their secrets, variables and branch policies, and
the classic protection of branches.

Plain dicts with declared keys (TypedDict), so that tests read them as GitHub's state:
``api.environments["production"]["reviewers"]``.
"""

from __future__ import annotations

from typing import Literal, TypedDict

ReviewerType = Literal["User", "Team"]


class Reviewer(TypedDict):
    type: ReviewerType
    id: int


class BranchPolicySetting(TypedDict):
    protected_branches: bool
    custom_branch_policies: bool


class BranchPolicy(TypedDict):
    id: int
    name: str
    type: Literal["branch", "tag"]


class Secret(TypedDict):
    encrypted_value: str  # base64 of a sealed box for the public key `key_id` names
    key_id: str
    created_at: str
    updated_at: str


class Variable(TypedDict):
    value: str
    created_at: str
    updated_at: str


class Environment(TypedDict):
    id: int
    name: str
    created_at: str
    updated_at: str
    wait_timer: int
    reviewers: list[Reviewer]  # as GitHub keeps them: teams that cannot approve are not among them
    prevent_self_review: bool
    can_admins_bypass: bool
    deployment_branch_policy: BranchPolicySetting | None
    branch_policies: dict[int, BranchPolicy]
    secrets: dict[str, Secret]
    variables: dict[str, Variable]
    key_id: str  # the environment's secrets public key
    rule_ids: dict[str, int]  # protection rule kind -> its stable id


class StatusCheck(TypedDict):
    context: str
    app_id: int | None  # the GitHub App that must report it; None: any app


class StatusChecks(TypedDict):
    strict: bool  # the branch must be up to date with the base before merging
    checks: list[StatusCheck]  # one per (context, app_id), in the order first sent


class Actors(TypedDict):
    """Who may do something on a protected branch, by GitHub's names for them."""

    users: list[str]  # logins
    teams: list[str]  # slugs
    apps: list[str]  # app slugs


class PullRequestReviews(TypedDict):
    dismiss_stale_reviews: bool
    require_code_owner_reviews: bool
    required_approving_review_count: int
    require_last_push_approval: bool
    dismissal_restrictions: Actors | None  # None: anyone who can approve may dismiss
    bypass_pull_request_allowances: Actors | None


class BranchProtection(TypedDict):
    """A branch's classic protection, as `PUT /repos/{o}/{r}/branches/{branch}/protection` set it."""

    required_status_checks: StatusChecks | None
    enforce_admins: bool
    required_pull_request_reviews: PullRequestReviews | None
    restrictions: Actors | None  # who may push; None: anyone with write access
    required_linear_history: bool
    allow_force_pushes: bool
    allow_deletions: bool
    block_creations: bool
    required_conversation_resolution: bool
    lock_branch: bool
    allow_fork_syncing: bool
    required_signatures: bool  # set apart, through .../protection/required_signatures
