"""GitHub's JSON documents for the stand-in's users, organization, teams and repository.

Field for field what the REST description requires of each schema (`simple-user`,
`public-user`, `private-user`, `organization-full`, `team`, `team-full`, `full-repository`, and a
branch's protection: `protected-branch`, `branch-protection`, `protected-branch-admin-enforced`), so
that the provider decodes what it would decode from GitHub; the URLs point back at the stand-in.
Compared with @octokit/openapi 23.0.2 (see openapi.py).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from tests.fakes.github_api.records import BranchProtection

Json = dict[str, Any]
Permission = Literal["pull", "triage", "push", "maintain", "admin"]
PERMISSIONS: tuple[Permission, ...] = ("pull", "triage", "push", "maintain", "admin")


def node_id(kind: str, number: int) -> str:
    """GitHub's legacy global id, e.g. base64 of `04:User101` or `012:Organization7`."""
    width = 2 if len(kind) < 10 else 3
    return base64.b64encode(f"{len(kind):0{width}d}:{kind}{number}".encode()).decode()


@dataclass(frozen=True)
class Site:
    """Where the stand-in answers: `html` is the web root, `api` the REST root (both end without /)."""

    html: str
    api: str

    def rest(self, path: str) -> str:
        return f"{self.api}/{path}"

    def web(self, path: str) -> str:
        return f"{self.html}/{path}"


def simple_user(site: Site, login: str, user_id: int) -> Json:
    user = site.rest(f"users/{login}")
    return {
        "login": login,
        "id": user_id,
        "node_id": node_id("User", user_id),
        "avatar_url": f"https://avatars.example.invalid/u/{user_id}?v=4",
        "gravatar_id": "",
        "url": user,
        "html_url": site.web(login),
        "followers_url": f"{user}/followers",
        "following_url": f"{user}/following{{/other_user}}",
        "gists_url": f"{user}/gists{{/gist_id}}",
        "starred_url": f"{user}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{user}/subscriptions",
        "organizations_url": f"{user}/orgs",
        "repos_url": f"{user}/repos",
        "events_url": f"{user}/events{{/privacy}}",
        "received_events_url": f"{user}/received_events",
        "type": "User",
        "user_view_type": "public",
        "site_admin": False,
    }


def public_user(site: Site, login: str, user_id: int, created: str) -> Json:
    """`GET /users/{login}`: the public view (the description allows no other field)."""
    return {
        **simple_user(site, login, user_id),
        "name": login,
        "company": None,
        "blog": "",
        "location": None,
        "email": None,
        "hireable": None,
        "bio": None,
        "twitter_username": None,
        "public_repos": 0,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": created,
        "updated_at": created,
    }


def private_user(site: Site, login: str, user_id: int, created: str) -> Json:
    """`GET /user`: the authenticated user sees the private view of itself."""
    return {
        **public_user(site, login, user_id, created),
        "user_view_type": "private",
        "private_gists": 0,
        "total_private_repos": 0,
        "owned_private_repos": 0,
        "disk_usage": 0,
        "collaborators": 0,
        "two_factor_authentication": True,
    }


def organization(site: Site, login: str, org_id: int, created: str) -> Json:
    org = site.rest(f"orgs/{login}")
    return {
        "login": login,
        "id": org_id,
        "node_id": node_id("Organization", org_id),
        "url": org,
        "repos_url": f"{org}/repos",
        "events_url": f"{org}/events",
        "hooks_url": f"{org}/hooks",
        "issues_url": f"{org}/issues",
        "members_url": f"{org}/members{{/member}}",
        "public_members_url": f"{org}/public_members{{/member}}",
        "avatar_url": f"https://avatars.example.invalid/u/{org_id}?v=4",
        "description": None,
        "name": login,
        "html_url": site.web(login),
        "has_organization_projects": True,
        "has_repository_projects": True,
        "public_repos": 0,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "type": "Organization",
        "created_at": created,
        "updated_at": created,
        "archived_at": None,
    }


def team(site: Site, org: str, slug: str, team_id: int) -> Json:
    """A team as GitHub embeds it (`team`), e.g. as an environment's reviewer."""
    return {
        "id": team_id,
        "node_id": node_id("Team", team_id),
        "url": site.rest(f"teams/{team_id}"),
        "html_url": site.web(f"orgs/{org}/teams/{slug}"),
        "name": slug,
        "slug": slug,
        "description": None,
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": site.rest(f"teams/{team_id}/members{{/member}}"),
        "repositories_url": site.rest(f"teams/{team_id}/repos"),
        "type": "organization",
        "parent": None,
    }


def team_full(site: Site, org: str, slug: str, team_id: int, org_json: Json, created: str) -> Json:
    """`GET /orgs/{org}/teams/{slug}`."""
    return {
        **team(site, org, slug, team_id),
        "members_count": 0,
        "repos_count": 0,
        "created_at": created,
        "updated_at": created,
        "organization": org_json,
    }


_REPOSITORY_LINKS = {
    "archive_url": "{archive_format}{/ref}",
    "assignees_url": "assignees{/user}",
    "blobs_url": "git/blobs{/sha}",
    "branches_url": "branches{/branch}",
    "collaborators_url": "collaborators{/collaborator}",
    "comments_url": "comments{/number}",
    "commits_url": "commits{/sha}",
    "compare_url": "compare/{base}...{head}",
    "contents_url": "contents/{+path}",
    "contributors_url": "contributors",
    "deployments_url": "deployments",
    "downloads_url": "downloads",
    "events_url": "events",
    "forks_url": "forks",
    "git_commits_url": "git/commits{/sha}",
    "git_refs_url": "git/refs{/sha}",
    "git_tags_url": "git/tags{/sha}",
    "hooks_url": "hooks",
    "issue_comment_url": "issues/comments{/number}",
    "issue_events_url": "issues/events{/number}",
    "issues_url": "issues{/number}",
    "keys_url": "keys{/key_id}",
    "labels_url": "labels{/name}",
    "languages_url": "languages",
    "merges_url": "merges",
    "milestones_url": "milestones{/number}",
    "notifications_url": "notifications{?since,all,participating}",
    "pulls_url": "pulls{/number}",
    "releases_url": "releases{/id}",
    "stargazers_url": "stargazers",
    "statuses_url": "statuses/{sha}",
    "subscribers_url": "subscribers",
    "subscription_url": "subscription",
    "tags_url": "tags",
    "teams_url": "teams",
    "trees_url": "git/trees{/sha}",
}


def repository(site: Site, full_name: str, repo_id: int, owner_json: Json, created: str) -> Json:
    """`GET /repos/{owner}/{repo}`: a private repository the token administers."""
    url = site.rest(f"repos/{full_name}")
    html = site.web(full_name)
    host = site.html.split("://", 1)[-1]
    return {
        "id": repo_id,
        "node_id": node_id("Repository", repo_id),
        "name": full_name.split("/", 1)[1],
        "full_name": full_name,
        "private": True,
        "owner": owner_json,
        "html_url": html,
        "description": None,
        "fork": False,
        "url": url,
        **{field: f"{url}/{suffix}" for field, suffix in _REPOSITORY_LINKS.items()},
        "git_url": f"git://{host}/{full_name}.git",
        "ssh_url": f"git@{host}:{full_name}.git",
        "clone_url": f"{html}.git",
        "svn_url": html,
        "mirror_url": None,
        "homepage": None,
        "language": None,
        "forks": 0,
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers": 0,
        "watchers_count": 0,
        "size": 0,
        "default_branch": "main",
        "open_issues": 0,
        "open_issues_count": 0,
        "is_template": False,
        "topics": [],
        "has_issues": True,
        "has_projects": True,
        "has_wiki": False,
        "has_pages": False,
        "has_downloads": True,
        "has_discussions": False,
        "archived": False,
        "disabled": False,
        "visibility": "private",
        "license": None,
        "pushed_at": created,
        "created_at": created,
        "updated_at": created,
        "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
        "network_count": 0,
        "subscribers_count": 0,
    }


def _actors_json(users: list[str], teams: list[str], user: Callable[[str], Json], team: Callable[[str], Json]) -> Json:
    return {"users": [user(login) for login in users], "teams": [team(slug) for slug in teams], "apps": []}


def protected_branch(
    site: Site,
    full_name: str,
    branch: str,
    protection: BranchProtection,
    user: Callable[[str], Json],
    team: Callable[[str], Json],
) -> Json:
    """`GET` and `PUT /repos/{owner}/{repo}/branches/{branch}/protection`: one document for both.

    It satisfies both the `branch-protection` (GET) and `protected-branch` (PUT) schemas. Status
    checks, pull request reviews, dismissal restrictions, bypass allowances and push restrictions
    appear only when set (as GitHub answers: go-github reads a missing one as off); the rest always,
    as `{"enabled": ...}`. `user` and `team` give the `simple-user` and `team` of a login or slug.
    """
    url = site.rest(f"repos/{full_name}/branches/{quote(branch, safe='/')}/protection")
    document: Json = {"url": url}
    status_checks = protection["required_status_checks"]
    if status_checks is not None:
        document["required_status_checks"] = {
            "url": f"{url}/required_status_checks",
            "strict": status_checks["strict"],
            "contexts": list(dict.fromkeys(check["context"] for check in status_checks["checks"])),
            "contexts_url": f"{url}/required_status_checks/contexts",
            "checks": [{"context": check["context"], "app_id": check["app_id"]} for check in status_checks["checks"]],
        }
    restrictions = protection["restrictions"]
    if restrictions is not None:
        document["restrictions"] = {
            "url": f"{url}/restrictions",
            "users_url": f"{url}/restrictions/users",
            "teams_url": f"{url}/restrictions/teams",
            "apps_url": f"{url}/restrictions/apps",
            **_actors_json(restrictions["users"], restrictions["teams"], user, team),
        }
    reviews = protection["required_pull_request_reviews"]
    if reviews is not None:
        reviews_json: Json = {
            "url": f"{url}/required_pull_request_reviews",
            "dismiss_stale_reviews": reviews["dismiss_stale_reviews"],
            "require_code_owner_reviews": reviews["require_code_owner_reviews"],
            "required_approving_review_count": reviews["required_approving_review_count"],
            "require_last_push_approval": reviews["require_last_push_approval"],
        }
        dismissal = reviews["dismissal_restrictions"]
        if dismissal is not None:
            reviews_json["dismissal_restrictions"] = {
                "url": f"{url}/dismissal_restrictions",
                "users_url": f"{url}/dismissal_restrictions/users",
                "teams_url": f"{url}/dismissal_restrictions/teams",
                **_actors_json(dismissal["users"], dismissal["teams"], user, team),
            }
        bypass = reviews["bypass_pull_request_allowances"]
        if bypass is not None:
            reviews_json["bypass_pull_request_allowances"] = _actors_json(bypass["users"], bypass["teams"], user, team)
        document["required_pull_request_reviews"] = reviews_json
    document["required_signatures"] = signatures(site, full_name, branch, protection["required_signatures"])
    document["enforce_admins"] = {"url": f"{url}/enforce_admins", "enabled": protection["enforce_admins"]}
    for flag in (
        "required_linear_history",
        "allow_force_pushes",
        "allow_deletions",
        "block_creations",
        "required_conversation_resolution",
        "lock_branch",
        "allow_fork_syncing",
    ):
        document[flag] = {"enabled": protection[flag]}
    return document


def signatures(site: Site, full_name: str, branch: str, enabled: bool) -> Json:
    """`.../protection/required_signatures` (`protected-branch-admin-enforced`)."""
    url = site.rest(f"repos/{full_name}/branches/{quote(branch, safe='/')}/protection/required_signatures")
    return {"url": url, "enabled": enabled}
