"""What the stand-in holds: environments and their secrets, variables and branch policies.

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
