"""The GitHub REST API stand-in: state, routes and the threaded HTTP server (see __init__.py)."""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import hashlib
import http.server
import itertools
import json
import re
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, cast
from urllib.parse import parse_qs, unquote, urlsplit

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from tests.fakes.github_api import shapes
from tests.fakes.github_api.records import (
    Actors,
    BranchPolicy,
    BranchPolicySetting,
    BranchProtection,
    Environment,
    PullRequestReviews,
    Reviewer,
    Secret,
    StatusCheck,
    StatusChecks,
    Variable,
)
from tests.fakes.github_api.shapes import PERMISSIONS, Json, Permission, Site

# The `role_name` GitHub shows for each permission (the UI's names for the API's).
ROLE_NAMES: dict[Permission, str] = {
    "pull": "read",
    "triage": "triage",
    "push": "write",
    "maintain": "maintain",
    "admin": "admin",
}

DEFAULT_TOKEN = "ghp_servicEinfraStandinT0ken0000000000000"
DEFAULT_TOKEN_LABEL = "default"  # how requests made with the configured token are recorded
ACCEPTED_PERMISSIONS_HEADER = "X-Accepted-GitHub-Permissions"
NOT_ACCESSIBLE = "Resource not accessible by personal access token"
DOCS = "https://docs.github.com/rest"
REST_PREFIX = "/api/v3"
GRAPHQL_PATH = "/api/graphql"
MAX_REVIEWERS = 6
MAX_WAIT_TIMER = 43200
SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_BRANCH = "main"  # the repository's default branch, there from the start
BRANCH_NOT_FOUND = "Branch not found"  # GitHub's 404 message for a branch the repository lacks
BRANCH_NOT_PROTECTED = "Branch not protected"  # ...and for protection a branch does not have
MAX_APPROVALS = 6  # required_approving_review_count: 0 to 6
MAX_ACTORS = 100  # "The list of users, apps, and teams in total is limited to 100 items."

Reply = tuple[int, Json | list[Json] | None]  # status and JSON body


class ApiError(Exception):
    """An error response, shaped as GitHub shapes them."""

    def __init__(self, status: int, message: str, errors: list[Json] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: Json = {"message": message, "documentation_url": DOCS, "status": str(status)}
        if errors:
            self.body["errors"] = errors


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def invalid(message: str, resource: str, field_name: str, code: str = "invalid") -> ApiError:
    return ApiError(422, message, [{"resource": resource, "field": field_name, "code": code}])


@dataclass(frozen=True)
class ApiRequest:
    """One request the stand-in received."""

    method: str
    path: str  # as sent, without the query string (e.g. /api/v3/repos/acme/app/environments/production)
    query: dict[str, list[str]]
    body: Any  # the parsed JSON body (untrusted: any JSON value), or None
    status: int = 0
    response: Any = None  # the JSON body answered, or None
    token: str | None = None  # the label of the token it carried (`DEFAULT_TOKEN_LABEL`...), None if none passed

    @property
    def route(self) -> str:
        """METHOD and the REST path with the /api/v3 prefix removed, e.g. `GET /users/alice`."""
        path = self.path[len(REST_PREFIX) :] if self.path.startswith(REST_PREFIX + "/") else self.path
        return f"{self.method} {unquote(path)}"


@dataclass
class KeyPair:
    key_id: str
    private: PrivateKey

    @property
    def public_b64(self) -> str:
        return base64.b64encode(bytes(self.private.public_key)).decode()


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_key() -> KeyPair:
    return KeyPair(key_id=str(secrets.randbelow(9 * 10**17) + 10**17), private=PrivateKey.generate())


Access = Literal["read", "write"]
Grant = tuple[str, Access]  # a fine-grained permission and its level, e.g. ("administration", "write")

# The fine-grained permissions a token can be given (`GithubApi.add_token`), as GitHub's
# app-permissions schema names them: the repository permissions of the pinned description
# (openapi.py), plus `variables` (the page's "Variables" repository permission, which that
# schema does not list), the organization's `members` (team look-ups) and the user's
# `git_ssh_keys` (GET /users/{username}/keys, see below).
TOKEN_PERMISSIONS: frozenset[str] = frozenset(
    {
        "actions",
        "administration",
        "artifact_metadata",
        "attestations",
        "checks",
        "code_quality",
        "codespaces",
        "contents",
        "dependabot_secrets",
        "deployments",
        "discussions",
        "environments",
        "issues",
        "merge_queues",
        "metadata",
        "packages",
        "pages",
        "pull_requests",
        "repository_custom_properties",
        "repository_hooks",
        "repository_projects",
        "secret_scanning_alerts",
        "secrets",
        "security_events",
        "single_file",
        "statuses",
        "variables",
        "vulnerability_alerts",
        "workflows",
        "members",
        "git_ssh_keys",
    }
)

_METADATA: tuple[Grant, ...] = (("metadata", "read"),)  # every fine-grained token has it
_ACTIONS_READ: tuple[Grant, ...] = (("actions", "read"),)
_ADMINISTRATION_READ: tuple[Grant, ...] = (("administration", "read"),)
_ADMINISTRATION_WRITE: tuple[Grant, ...] = (("administration", "write"),)
_ENVIRONMENTS_READ: tuple[Grant, ...] = (("environments", "read"),)
_ENVIRONMENTS_WRITE: tuple[Grant, ...] = (("environments", "write"),)
_SECRETS_READ: tuple[Grant, ...] = (("secrets", "read"),)
_SECRETS_WRITE: tuple[Grant, ...] = (("secrets", "write"),)
_MEMBERS_READ: tuple[Grant, ...] = (("members", "read"),)

# What each route of the stand-in accepts from a fine-grained token: any one of the listed
# (permission, level) grants will do, and write includes read. Keyed by method and GitHub's
# path template; `GithubApi._build_routes` serves exactly these routes, in its own order.
#
# Modelled from GitHub's "Permissions required for fine-grained personal access tokens",
# https://docs.github.com/en/rest/overview/permissions-required-for-fine-grained-personal-access-tokens,
# read 2026-12-06: its tables as GitHub's docs generate them for the current REST version
# (github/docs, src/github-apps/data/fpt-2026-03-10/fine-grained-pat-permissions.json).
# Where the page is silent or ambiguous the comment says so, and the stricter reading is taken.
ROUTE_PERMISSIONS: Mapping[tuple[str, str], tuple[Grant, ...]] = {
    # Look-ups. The page does not list "Get the authenticated user", "Get a user", "List GPG
    # keys for a user" or "Get an organization" (public resources); read strictly as needing
    # metadata:read, which every token has.
    ("GET", "/user"): _METADATA,
    ("GET", "/users/{username}"): _METADATA,
    ("GET", "/users/{username}/gpg_keys"): _METADATA,
    # Listed under the *user* permission "Git SSH keys" (read), while the page's preamble says
    # public resources may be reachable without the permission; read strictly: required.
    ("GET", "/users/{username}/keys"): (("git_ssh_keys", "read"),),
    ("GET", "/orgs/{org}"): _METADATA,
    # Team look-ups: the organization permission "Members" (read).
    ("GET", "/orgs/{org}/teams/{team_slug}"): _MEMBERS_READ,
    ("GET", "/orgs/{org}/teams/{team_slug}/members"): _MEMBERS_READ,
    ("GET", "/orgs/{org}/teams/{team_slug}/repos"): _MEMBERS_READ,
    ("GET", "/repos/{owner}/{repo}"): _METADATA,
    # Not on the page (it lists /repositories, the list of public repositories, under
    # Metadata); read as repos/get, metadata:read.
    ("GET", "/repositories/{repository_id}"): _METADATA,
    # Environments: reading them is the *Actions* permission (read); creating, updating and
    # deleting them is Administration (write). Not the Environments permission.
    ("GET", "/repos/{owner}/{repo}/environments"): _ACTIONS_READ,
    ("GET", "/repos/{owner}/{repo}/environments/{environment_name}"): _ACTIONS_READ,
    ("PUT", "/repos/{owner}/{repo}/environments/{environment_name}"): _ADMINISTRATION_WRITE,
    ("DELETE", "/repos/{owner}/{repo}/environments/{environment_name}"): _ADMINISTRATION_WRITE,
    # Deployment branch policies: the same split.
    ("GET", "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies"): _ACTIONS_READ,
    ("POST", "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies"): (
        _ADMINISTRATION_WRITE
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies/{branch_policy_id}",
    ): _ACTIONS_READ,
    (
        "PUT",
        "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies/{branch_policy_id}",
    ): _ADMINISTRATION_WRITE,
    (
        "DELETE",
        "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies/{branch_policy_id}",
    ): _ADMINISTRATION_WRITE,
    # Repository secrets: Secrets.
    ("GET", "/repos/{owner}/{repo}/actions/secrets/public-key"): _SECRETS_READ,
    ("GET", "/repos/{owner}/{repo}/actions/secrets"): _SECRETS_READ,
    ("GET", "/repos/{owner}/{repo}/actions/secrets/{secret_name}"): _SECRETS_READ,
    ("PUT", "/repos/{owner}/{repo}/actions/secrets/{secret_name}"): _SECRETS_WRITE,
    ("DELETE", "/repos/{owner}/{repo}/actions/secrets/{secret_name}"): _SECRETS_WRITE,
    # Environment secrets: listed under Environments alone (not under Secrets). The page has
    # only the /repos/{owner}/{repo}/environments/... paths; go-github's
    # /repositories/{repository_id}/environments/... forms are read as the same operations.
    ("GET", "/repositories/{repository_id}/environments/{environment_name}/secrets/public-key"): _ENVIRONMENTS_READ,
    ("GET", "/repos/{owner}/{repo}/environments/{environment_name}/secrets/public-key"): _ENVIRONMENTS_READ,
    ("GET", "/repositories/{repository_id}/environments/{environment_name}/secrets"): _ENVIRONMENTS_READ,
    ("GET", "/repos/{owner}/{repo}/environments/{environment_name}/secrets"): _ENVIRONMENTS_READ,
    ("GET", "/repositories/{repository_id}/environments/{environment_name}/secrets/{secret_name}"): _ENVIRONMENTS_READ,
    ("GET", "/repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}"): _ENVIRONMENTS_READ,
    ("PUT", "/repositories/{repository_id}/environments/{environment_name}/secrets/{secret_name}"): (
        _ENVIRONMENTS_WRITE
    ),
    ("PUT", "/repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}"): _ENVIRONMENTS_WRITE,
    ("DELETE", "/repositories/{repository_id}/environments/{environment_name}/secrets/{secret_name}"): (
        _ENVIRONMENTS_WRITE
    ),
    ("DELETE", "/repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}"): _ENVIRONMENTS_WRITE,
    # Environment variables: Environments (the Variables permission covers repository ones).
    ("GET", "/repos/{owner}/{repo}/environments/{environment_name}/variables"): _ENVIRONMENTS_READ,
    ("POST", "/repos/{owner}/{repo}/environments/{environment_name}/variables"): _ENVIRONMENTS_WRITE,
    ("GET", "/repos/{owner}/{repo}/environments/{environment_name}/variables/{name}"): _ENVIRONMENTS_READ,
    ("PATCH", "/repos/{owner}/{repo}/environments/{environment_name}/variables/{name}"): _ENVIRONMENTS_WRITE,
    ("DELETE", "/repos/{owner}/{repo}/environments/{environment_name}/variables/{name}"): _ENVIRONMENTS_WRITE,
    # Classic branch protection: Administration, read for GET and write for PUT, POST and
    # DELETE, none with additional permissions (repository "Administration" in github/docs
    # src/github-apps/data/fpt-2026-03-10/fine-grained-pat-permissions.json at 0a351d98e5f6,
    # slugs get-/update-/delete-branch-protection, get-/create-/delete-commit-signature-protection,
    # delete-pull-request-review-protection).
    ("GET", "/repos/{owner}/{repo}/branches/{branch}/protection"): _ADMINISTRATION_READ,
    ("PUT", "/repos/{owner}/{repo}/branches/{branch}/protection"): _ADMINISTRATION_WRITE,
    ("DELETE", "/repos/{owner}/{repo}/branches/{branch}/protection"): _ADMINISTRATION_WRITE,
    ("GET", "/repos/{owner}/{repo}/branches/{branch}/protection/required_signatures"): _ADMINISTRATION_READ,
    ("POST", "/repos/{owner}/{repo}/branches/{branch}/protection/required_signatures"): _ADMINISTRATION_WRITE,
    ("DELETE", "/repos/{owner}/{repo}/branches/{branch}/protection/required_signatures"): _ADMINISTRATION_WRITE,
    ("DELETE", "/repos/{owner}/{repo}/branches/{branch}/protection/required_pull_request_reviews"): (
        _ADMINISTRATION_WRITE
    ),
}

# GET routes that answer conditional requests: an ETag with every 200, and 304 Not Modified with
# no body when If-None-Match names the current one (GitHub does so for most GETs: "Best practices
# for using the REST API", "Use conditional requests if appropriate"). The stand-in does it where
# the provider relies on it: terraform-provider-github's branch protection read sends the ETag it
# kept (`etag` in state) and, on a 304, keeps its state as it is.
CONDITIONAL_GETS: frozenset[str] = frozenset(
    {
        "/repos/{owner}/{repo}/branches/{branch}/protection",
        "/repos/{owner}/{repo}/branches/{branch}/protection/required_signatures",
    }
)

_NUMERIC_PARAMETERS = frozenset({"repository_id", "branch_policy_id"})


def _route_pattern(template: str) -> re.Pattern[str]:
    """The regular expression a path template stands for: one group per {parameter}."""
    regex = "".join(
        (r"(\d+)" if part[1:-1] in _NUMERIC_PARAMETERS else r"([^/]+)") if part.startswith("{") else re.escape(part)
        for part in re.split(r"(\{[a-z_]+\})", template)
    )
    return re.compile(f"^{regex}/?$")


def accepted_header(accepted: Sequence[Grant]) -> str:
    """The X-Accepted-GitHub-Permissions value: each accepted set as `name=level`, sets separated by `; `."""
    return "; ".join(f"{name}={access}" for name, access in accepted)


def _header(headers: Mapping[str, str], name: str) -> str:
    """A request header's value, looked up without regard to case ("" when absent)."""
    return next((value for key, value in headers.items() if key.lower() == name.lower()), "")


def entity_tag(document: object) -> str:
    """The ETag of a JSON answer: weak, and the same for the same document (GitHub's are W/"<sha256>")."""
    return 'W/"' + hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest() + '"'


def _none_match(header: str, tag: str) -> bool:
    """Whether If-None-Match names `tag` (weak comparison, RFC 9110 13.1.2), or is `*`."""
    opaque = tag.removeprefix("W/")
    return any(part.strip() == "*" or part.strip().removeprefix("W/") == opaque for part in header.split(",") if part)


def _inspect(value: object) -> str:
    """A JSON value as GitHub's validation messages show it (Ruby's inspect: {"strict"=>true})."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_inspect(k)}=>{_inspect(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_inspect(item) for item in value) + "]"
    if value is None or isinstance(value, bool):
        return {None: "nil", True: "true", False: "false"}[value]
    return json.dumps(value)


def unprocessable(message: str) -> ApiError:
    """A 422 as branch protection answers one: a message and no `errors` (`validation-error-simple`)."""
    return ApiError(422, f"Invalid request.\n\n{message}")


@dataclass(frozen=True)
class Token:
    """A token the stand-in accepts: `permissions` None means every permission (the configured token)."""

    label: str
    permissions: Mapping[str, Access] | None

    def allows(self, accepted: Sequence[Grant]) -> bool:
        """Whether the token holds one of the accepted grants (write includes read)."""
        if self.permissions is None:
            return True
        for name, access in accepted:
            granted = self.permissions.get(name)
            if granted == "write" or (granted == "read" and access == "read"):
                return True
        return False


@dataclass
class Route:
    method: str
    template: str  # GitHub's path template, e.g. /repos/{owner}/{repo}/environments/{environment_name}
    pattern: re.Pattern[str]
    handler: Callable[..., Reply]  # (*path parameters, body=<parsed JSON>)
    accepted: tuple[Grant, ...]  # ROUTE_PERMISSIONS[(method, template)]


class GithubApi:
    """The stand-in: start it as a context manager; `base_url` is what the provider's `baseUrl` takes."""

    def __init__(
        self,
        owner: str,
        repo: str,
        users: Mapping[str, int] | None = None,
        teams: Mapping[str, int] | None = None,
        token: str = DEFAULT_TOKEN,
        *,
        login: str = "service-infra-bot",
        login_id: int = 9000001,
        repo_id: int = 700001,
        org_id: int = 800001,
    ) -> None:
        self.owner = owner
        self.repo = repo
        self.token = token
        self.login = login
        self.login_id = login_id
        self.repo_id = repo_id
        self.org_id = org_id
        self.users: dict[str, int] = {login: login_id, **dict(users or {})}
        self.teams: dict[str, int] = dict(teams or {})
        # Each team's access to the repository (None: none). A team reviews only with write access.
        self.team_access: dict[str, Permission | None] = dict.fromkeys(self.teams, "push")
        self.environments: dict[str, Environment] = {}
        # The repository's branches, each with its classic protection (None: unprotected).
        self.branches: dict[str, BranchProtection | None] = {DEFAULT_BRANCH: None}
        self.repo_secrets: dict[str, Secret] = {}
        self.requests: list[ApiRequest] = []
        self._keys: dict[str, KeyPair] = {}
        self._repo_key = self._add_key()
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        self._created = _now()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes = self._build_routes()
        # Accepted tokens by their value; the configured one may do everything.
        self._tokens: dict[str, Token] = {token: Token(DEFAULT_TOKEN_LABEL, None)}

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> GithubApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        api = self

        class Handler(_Handler):
            pass

        Handler.api = api
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="github-api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None, "the stand-in is not running"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The provider's `baseUrl`: a GitHub Enterprise Server style host (REST under /api/v3/)."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{REST_PREFIX}/"

    # --------------------------------------------------------------- test helpers

    def routes_called(self) -> list[str]:
        """Distinct `METHOD /path` of the requests so far, ids and names kept, in first-seen order."""
        return list(dict.fromkeys(request.route for request in self.requests))

    def add_environment(
        self,
        name: str,
        *,
        reviewers: list[Reviewer] | None = None,
        wait_timer: int = 0,
        prevent_self_review: bool = False,
        can_admins_bypass: bool = True,
        deployment_branch_policy: BranchPolicySetting | None = None,
    ) -> Environment:
        """Seed an environment, as if someone had made it by hand."""
        with self._lock:
            env = self._environment_record(name)
            self._apply_environment(
                env,
                {
                    "reviewers": reviewers,
                    "wait_timer": wait_timer,
                    "prevent_self_review": prevent_self_review,
                    "can_admins_bypass": can_admins_bypass,
                    "deployment_branch_policy": deployment_branch_policy,
                },
            )
            self.environments[env["name"]] = env
            return env

    def add_token(self, token: str, permissions: Mapping[str, str], *, label: str | None = None) -> str:
        """Accept another token, a fine-grained one holding only `permissions`; returns the token.

        `permissions` maps GitHub's permission names (`TOKEN_PERMISSIONS`: `administration`,
        `environments`, `secrets`, ...) to "read" or "write" (write includes read); metadata:read
        comes with every token, as on GitHub. Each route then refuses the token, as GitHub does,
        unless it holds what `ROUTE_PERMISSIONS` says the route accepts. Requests made with it are
        recorded with `label` (by default the token itself) in `ApiRequest.token`.
        """
        if not token or token != token.strip() or " " in token:
            raise ValueError(f"a token is one word, not {token!r}")
        granted: dict[str, Access] = {"metadata": "read"}
        for name, access in permissions.items():
            if name not in TOKEN_PERMISSIONS:
                raise ValueError(f"unknown permission {name!r}; GitHub's names: {', '.join(sorted(TOKEN_PERMISSIONS))}")
            if access not in ("read", "write"):
                raise ValueError(f"permission {name!r} must be 'read' or 'write', not {access!r}")
            granted[name] = cast(Access, access)
        record = Token(label or token, granted)
        with self._lock:
            if token in self._tokens or any(t.label == record.label for t in self._tokens.values()):
                raise ValueError(f"token {token!r} or label {record.label!r} is already in use")
            self._tokens[token] = record
        return token

    def set_team_access(self, slug: str, permission: Permission | None) -> None:
        """The team's permission on the repository (None: no access), as an org admin would set it."""
        if permission is not None and permission not in PERMISSIONS:
            raise ValueError(f"permission must be one of {PERMISSIONS} or None, not {permission!r}")
        with self._lock:
            self.team_access[slug] = permission

    def add_branch(self, name: str) -> None:
        """Seed a branch (unprotected), as if someone had pushed it; `main` is there from the start."""
        if not name or name != name.strip() or name in self.branches:
            raise ValueError(f"a new branch needs a name the repository does not have, not {name!r}")
        with self._lock:
            self.branches[name] = None

    def branch_protection(self, branch: str) -> BranchProtection | None:
        """The classic protection the stand-in holds for `branch` (None when unprotected)."""
        with self._lock:
            if branch not in self.branches:
                raise KeyError(f"no branch {branch!r} (have: {', '.join(self.branches)})")
            return self.branches[branch]

    def _team_can_review(self, team_id: int) -> bool:
        """Whether GitHub keeps a team as an environment's required reviewer.

        GitHub's docs (Deployments and environments, "Required reviewers"): "The reviewers must
        have at least read access to the repository." What GitHub does otherwise is not in its
        docs; reported behaviour is that it accepts the update (200) and leaves the team out, so
        that nobody in it can approve: integrations/terraform-provider-github#1166 (a team
        without explicit access is missing after apply) and eclipse-csi/otterdog#556 ("it will
        silently be ignored if the configured team ... does not have write access"). The
        stand-in keeps a team only with write access (push, maintain or admin).
        """
        slug = next(name for name, tid in self.teams.items() if tid == team_id)
        return self.team_access.get(slug) in ("push", "maintain", "admin")

    def set_secret(self, name: str, value: str, environment: str | None = None) -> None:
        """Seed a secret (sealed with the right public key, as a client would)."""
        with self._lock:
            key = self._keys[self._env(environment)["key_id"]] if environment else self._repo_key
            sealed = SealedBox(PublicKey(bytes(key.private.public_key))).encrypt(value.encode())
            store = self._env(environment)["secrets"] if environment else self.repo_secrets
            now = _now()
            store[name.upper()] = {
                "encrypted_value": base64.b64encode(sealed).decode(),
                "key_id": key.key_id,
                "created_at": now,
                "updated_at": now,
            }

    def set_variable(self, environment: str, name: str, value: str) -> None:
        with self._lock:
            now = _now()
            self._env(environment)["variables"][name.upper()] = {"value": value, "created_at": now, "updated_at": now}

    def decrypt_secret(self, environment: str, name: str) -> str:
        """The plaintext of an environment secret, opened with the environment's private key."""
        with self._lock:
            return self._open(self._env(environment)["secrets"][name.upper()])

    def repo_secret(self, name: str) -> str:
        """The plaintext of a repository secret, opened with the repository's private key."""
        with self._lock:
            return self._open(self.repo_secrets[name.upper()])

    def _open(self, record: Secret) -> str:
        key = self._keys[record["key_id"]]
        return SealedBox(key.private).decrypt(base64.b64decode(record["encrypted_value"])).decode()

    def _env(self, name: str | None) -> Environment:
        for env_name, env in self.environments.items():
            if name is not None and env_name.lower() == name.lower():
                return env
        raise KeyError(f"no environment {name!r} (have: {', '.join(self.environments) or 'none'})")

    def _add_key(self) -> KeyPair:
        key = _new_key()
        self._keys[key.key_id] = key
        return key

    # ------------------------------------------------------------------ JSON shapes

    def _html(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def _api(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{REST_PREFIX}/{path}"

    @property
    def _site(self) -> Site:
        return Site(html=f"http://127.0.0.1:{self.port}", api=f"http://127.0.0.1:{self.port}{REST_PREFIX}")

    def user_json(self, login: str) -> Json:
        return shapes.simple_user(self._site, login, self.users[login])

    def team_json(self, slug: str) -> Json:
        return shapes.team(self._site, self.owner, slug, self.teams[slug])

    def _org_json(self) -> Json:
        return shapes.organization(self._site, self.owner, self.org_id, self._created)

    def _repo_json(self) -> Json:
        owner = {
            **shapes.simple_user(self._site, self.owner, self.org_id),
            "node_id": shapes.node_id("Organization", self.org_id),
            "type": "Organization",
        }
        return shapes.repository(self._site, f"{self.owner}/{self.repo}", self.repo_id, owner, self._created)

    def _environment_json(self, env: Environment) -> Json:
        rules: list[Json] = []
        if env["wait_timer"]:
            rules.append({**self._rule_ids(env, "wait_timer"), "type": "wait_timer", "wait_timer": env["wait_timer"]})
        if env["reviewers"]:
            reviewers = []
            for reviewer in env["reviewers"]:
                if reviewer["type"] == "User":
                    login = next(name for name, uid in self.users.items() if uid == reviewer["id"])
                    reviewers.append({"type": "User", "reviewer": self.user_json(login)})
                else:
                    slug = next(name for name, tid in self.teams.items() if tid == reviewer["id"])
                    reviewers.append({"type": "Team", "reviewer": self.team_json(slug)})
            rules.append(
                {
                    **self._rule_ids(env, "required_reviewers"),
                    "prevent_self_review": env["prevent_self_review"],
                    "type": "required_reviewers",
                    "reviewers": reviewers,
                }
            )
        if env["deployment_branch_policy"] is not None:
            rules.append({**self._rule_ids(env, "branch_policy"), "type": "branch_policy"})
        name = env["name"]
        return {
            "id": env["id"],
            "node_id": shapes.node_id("Environment", env["id"]),
            "name": name,
            "url": self._api(f"repos/{self.owner}/{self.repo}/environments/{name}"),
            "html_url": self._html(f"{self.owner}/{self.repo}/deployments/activity_log?environments_filter={name}"),
            "created_at": env["created_at"],
            "updated_at": env["updated_at"],
            "can_admins_bypass": env["can_admins_bypass"],
            "protection_rules": rules,
            "deployment_branch_policy": copy.deepcopy(env["deployment_branch_policy"]),
        }

    def _rule_ids(self, env: Environment, kind: str) -> Json:
        rule_id = env["rule_ids"].setdefault(kind, next(self._ids))
        return {"id": rule_id, "node_id": shapes.node_id("Gate", rule_id)}

    # ------------------------------------------------------------------ routes

    def _build_routes(self) -> list[Route]:
        repo = "/repos/{owner}/{repo}"
        env = f"{repo}/environments/{{environment_name}}"
        by_id_env = "/repositories/{repository_id}/environments/{environment_name}"
        policies = f"{env}/deployment-branch-policies"
        protection = f"{repo}/branches/{{branch}}/protection"
        table: list[tuple[str, str, Callable[..., Reply]]] = [
            ("GET", "/user", self._get_authenticated_user),
            ("GET", "/users/{username}", self._get_user),
            ("GET", "/users/{username}/gpg_keys", self._get_user_keys),
            ("GET", "/users/{username}/keys", self._get_user_keys),
            ("GET", "/orgs/{org}", self._get_org),
            ("GET", "/orgs/{org}/teams/{team_slug}", self._get_team),
            ("GET", "/orgs/{org}/teams/{team_slug}/members", self._get_team_list),
            ("GET", "/orgs/{org}/teams/{team_slug}/repos", self._get_team_repos),
            ("GET", repo, self._get_repo),
            ("GET", "/repositories/{repository_id}", self._get_repo_by_id),
            ("GET", f"{repo}/environments", self._list_environments),
            ("GET", env, self._get_environment),
            ("PUT", env, self._put_environment),
            ("DELETE", env, self._delete_environment),
            ("GET", policies, self._list_branch_policies),
            ("POST", policies, self._create_branch_policy),
            ("GET", f"{policies}/{{branch_policy_id}}", self._get_branch_policy),
            ("PUT", f"{policies}/{{branch_policy_id}}", self._update_branch_policy),
            ("DELETE", f"{policies}/{{branch_policy_id}}", self._delete_branch_policy),
            ("GET", f"{repo}/actions/secrets/public-key", self._get_repo_public_key),
            ("GET", f"{repo}/actions/secrets", self._list_repo_secrets),
            ("GET", f"{repo}/actions/secrets/{{secret_name}}", self._get_repo_secret),
            ("PUT", f"{repo}/actions/secrets/{{secret_name}}", self._put_repo_secret),
            ("DELETE", f"{repo}/actions/secrets/{{secret_name}}", self._delete_repo_secret),
            # Environment secrets: go-github addresses them by repository id; GitHub's current
            # docs by owner/repo. Both are served.
            ("GET", f"{by_id_env}/secrets/public-key", self._get_env_public_key_by_id),
            ("GET", f"{env}/secrets/public-key", self._get_env_public_key),
            ("GET", f"{by_id_env}/secrets", self._list_env_secrets_by_id),
            ("GET", f"{env}/secrets", self._list_env_secrets),
            ("GET", f"{by_id_env}/secrets/{{secret_name}}", self._get_env_secret_by_id),
            ("GET", f"{env}/secrets/{{secret_name}}", self._get_env_secret),
            ("PUT", f"{by_id_env}/secrets/{{secret_name}}", self._put_env_secret_by_id),
            ("PUT", f"{env}/secrets/{{secret_name}}", self._put_env_secret),
            ("DELETE", f"{by_id_env}/secrets/{{secret_name}}", self._delete_env_secret_by_id),
            ("DELETE", f"{env}/secrets/{{secret_name}}", self._delete_env_secret),
            ("GET", f"{env}/variables", self._list_env_variables),
            ("POST", f"{env}/variables", self._create_env_variable),
            ("GET", f"{env}/variables/{{name}}", self._get_env_variable),
            ("PATCH", f"{env}/variables/{{name}}", self._update_env_variable),
            ("DELETE", f"{env}/variables/{{name}}", self._delete_env_variable),
            ("GET", protection, self._get_protection),
            ("PUT", protection, self._put_protection),
            ("DELETE", protection, self._delete_protection),
            ("GET", f"{protection}/required_signatures", self._get_signatures),
            ("POST", f"{protection}/required_signatures", self._require_signatures),
            ("DELETE", f"{protection}/required_signatures", self._drop_signatures),
            ("DELETE", f"{protection}/required_pull_request_reviews", self._drop_reviews),
        ]
        unlisted = {(method, template) for method, template, _ in table} ^ set(ROUTE_PERMISSIONS)
        if unlisted:
            raise RuntimeError(f"routes and ROUTE_PERMISSIONS disagree on: {sorted(unlisted)}")
        return [
            Route(method, template, _route_pattern(template), handler, ROUTE_PERMISSIONS[(method, template)])
            for method, template, handler in table
        ]

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], raw_body: bytes) -> Reply:
        """One request: (status, JSON body or None). Records it."""
        status, response, _ = self.respond(method, raw_path, headers, raw_body)
        return status, response

    def respond(
        self, method: str, raw_path: str, headers: Mapping[str, str], raw_body: bytes
    ) -> tuple[int, Json | list[Json] | None, dict[str, str]]:
        """`handle`, with the headers the answer carries beyond the usual ones (X-Accepted-GitHub-Permissions)."""
        parts = urlsplit(raw_path)
        path, query = parts.path, parse_qs(parts.query)
        body: object = None
        status, response = 500, None
        token: Token | None = None
        extra_headers: dict[str, str] = {}
        try:
            if raw_body:
                try:
                    body = json.loads(raw_body)
                except ValueError:
                    body = raw_body.decode(errors="replace")
                    raise ApiError(400, "Problems parsing JSON") from None
            token = self._authorize(_header(headers, "Authorization"))
            status, response = self._dispatch(method, path, headers, body, token, extra_headers)
        except ApiError as error:
            status, response = error.status, error.body
        finally:
            label = token.label if token is not None else None
            with self._lock:
                self.requests.append(ApiRequest(method, path, query, body, status, response, label))
        return status, response, extra_headers

    def _authorize(self, header: str) -> Token:
        scheme, _, credential = header.partition(" ")
        if not header:
            raise ApiError(401, "Requires authentication")
        token = self._tokens.get(credential.strip()) if scheme.lower() in ("bearer", "token") else None
        if token is None:
            raise ApiError(401, "Bad credentials")
        return token

    def _dispatch(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: object,
        token: Token,
        extra_headers: dict[str, str],
    ) -> Reply:
        if path == GRAPHQL_PATH:
            if method != "POST":
                raise not_found()
            # Nothing this program manages goes through GraphQL; answer as GitHub does to an
            # unknown field, so that an unexpected query shows up clearly in a test.
            query = body.get("query", "") if isinstance(body, dict) else ""
            return 200, {"errors": [{"message": f"the GitHub stand-in does not serve GraphQL: {query[:200]}"}]}
        if not path.startswith(REST_PREFIX + "/"):
            raise not_found()
        rest = path[len(REST_PREFIX) :]
        for route in self._routes:
            match = route.pattern.match(rest)
            if match and route.method == method:
                if token.permissions is not None:
                    # GitHub tells fine-grained tokens (not classic ones) what the route accepts.
                    extra_headers[ACCEPTED_PERMISSIONS_HEADER] = accepted_header(route.accepted)
                if not token.allows(route.accepted):
                    raise ApiError(403, NOT_ACCESSIBLE)
                args = [unquote(group) for group in match.groups()]
                with self._lock:
                    status, response = route.handler(*args, body=body)
                if method == "GET" and status == 200 and route.template in CONDITIONAL_GETS:
                    tag = entity_tag(response)
                    extra_headers["ETag"] = tag
                    if _none_match(_header(headers, "If-None-Match"), tag):
                        return 304, None
                return status, response
        raise not_found()

    # --------------------------------------------------------------- handlers

    def _check_repo(self, owner: str, repo: str) -> None:
        if owner.lower() != self.owner.lower() or repo.lower() != self.repo.lower():
            raise not_found()

    def _check_repo_id(self, repo_id: str) -> None:
        if int(repo_id) != self.repo_id:
            raise not_found()

    def _find_env(self, name: str) -> Environment:
        try:
            return self._env(name)
        except KeyError:
            raise not_found() from None

    def _get_authenticated_user(self, *, body: object) -> Reply:
        return 200, shapes.private_user(self._site, self.login, self.login_id, self._created)

    def _get_user(self, login: str, *, body: object) -> Reply:
        for name in self.users:
            if name.lower() == login.lower():
                return 200, shapes.public_user(self._site, name, self.users[name], self._created)
        raise not_found()

    def _get_user_keys(self, login: str, *, body: object) -> Reply:
        if not any(name.lower() == login.lower() for name in self.users):
            raise not_found()
        return 200, []

    def _get_org(self, org: str, *, body: object) -> Reply:
        if org.lower() != self.owner.lower():
            raise not_found()
        return 200, self._org_json()

    def _team_slug(self, org: str, slug: str) -> str:
        if org.lower() != self.owner.lower():
            raise not_found()
        for name in self.teams:
            if name.lower() == slug.lower():
                return name
        raise not_found()

    def _get_team(self, org: str, slug: str, *, body: object) -> Reply:
        slug = self._team_slug(org, slug)
        return 200, shapes.team_full(self._site, self.owner, slug, self.teams[slug], self._org_json(), self._created)

    def _get_team_list(self, org: str, slug: str, *, body: object) -> Reply:
        self._team_slug(org, slug)
        return 200, []

    def _get_team_repos(self, org: str, slug: str, *, body: object) -> Reply:
        """The repository, with the team's role on it, when the team has any access (GitHub lists
        a team's repositories with `permissions` and `role_name`)."""
        slug = self._team_slug(org, slug)
        permission = self.team_access.get(slug)
        if permission is None:
            return 200, []
        granted = PERMISSIONS.index(permission)
        permissions = {p: PERMISSIONS.index(p) <= granted for p in PERMISSIONS}
        return 200, [{**self._repo_json(), "permissions": permissions, "role_name": ROLE_NAMES[permission]}]

    def _get_repo(self, owner: str, repo: str, *, body: object) -> Reply:
        self._check_repo(owner, repo)
        return 200, self._repo_json()

    def _get_repo_by_id(self, repo_id: str, *, body: object) -> Reply:
        self._check_repo_id(repo_id)
        return 200, self._repo_json()

    # environments

    def _environment_record(self, name: str) -> Environment:
        now = _now()
        return {
            "id": next(self._ids),
            "name": name,
            "created_at": now,
            "updated_at": now,
            "wait_timer": 0,
            "reviewers": [],
            "prevent_self_review": False,
            "can_admins_bypass": True,
            "deployment_branch_policy": None,
            "branch_policies": {},
            "secrets": {},
            "variables": {},
            "key_id": self._add_key().key_id,
            "rule_ids": {},
        }

    def _list_environments(self, owner: str, repo: str, *, body: object) -> Reply:
        self._check_repo(owner, repo)
        envs = [self._environment_json(env) for env in self.environments.values()]
        return 200, {"total_count": len(envs), "environments": envs}

    def _get_environment(self, owner: str, repo: str, name: str, *, body: object) -> Reply:
        self._check_repo(owner, repo)
        return 200, self._environment_json(self._find_env(name))

    def _put_environment(self, owner: str, repo: str, name: str, *, body: object) -> Reply:
        self._check_repo(owner, repo)
        if body is not None and not isinstance(body, dict):
            raise ApiError(400, "Problems parsing JSON")
        if not name.strip() or len(name) > 255:
            raise invalid("Validation Failed", "Environment", "name")
        settings = self._validate_environment(body or {})
        try:
            env = self._env(name)
        except KeyError:
            env = self._environment_record(name)
            self.environments[name] = env
        self._apply_environment(env, settings)
        return 200, self._environment_json(env)

    def _validate_environment(self, body: Json) -> Json:
        unknown = set(body) - {
            "wait_timer",
            "reviewers",
            "prevent_self_review",
            "can_admins_bypass",
            "deployment_branch_policy",
        }
        if unknown:
            raise invalid(
                f"Invalid request.\n\n{', '.join(sorted(unknown))} is not a permitted key.", "Environment", ""
            )
        wait_timer = body.get("wait_timer")
        if wait_timer is not None and (
            isinstance(wait_timer, bool) or not isinstance(wait_timer, int) or not 0 <= wait_timer <= MAX_WAIT_TIMER
        ):
            raise invalid(
                f"Invalid request.\n\nwait_timer must be an integer between 0 and {MAX_WAIT_TIMER}.",
                "Environment",
                "wait_timer",
            )
        for flag in ("prevent_self_review", "can_admins_bypass"):
            if body.get(flag) is not None and not isinstance(body[flag], bool):
                raise invalid(
                    f"Invalid request.\n\nFor '{flag}', {body[flag]!r} is not a boolean.", "Environment", flag
                )
        reviewers = body.get("reviewers")
        if reviewers is not None:
            if not isinstance(reviewers, list):
                raise invalid("Invalid request.\n\nFor 'reviewers', it is not an array.", "Environment", "reviewers")
            if len(reviewers) > MAX_REVIEWERS:
                raise invalid(
                    f"Invalid request.\n\nA maximum of {MAX_REVIEWERS} reviewers is allowed.",
                    "Environment",
                    "reviewers",
                    "too_long",
                )
            for reviewer in reviewers:
                if (
                    not isinstance(reviewer, dict)
                    or reviewer.get("type") not in ("User", "Team")
                    or isinstance(reviewer.get("id"), bool)
                    or not isinstance(reviewer.get("id"), int)
                ):
                    raise invalid(
                        "Invalid request.\n\nEach reviewer needs a type (User or Team) and an integer id.",
                        "Environment",
                        "reviewers",
                    )
                known = self.users.values() if reviewer["type"] == "User" else self.teams.values()
                if reviewer["id"] not in known:
                    raise invalid(
                        f"Invalid request.\n\n{reviewer['type']} {reviewer['id']} cannot be a reviewer: not found.",
                        "Environment",
                        "reviewers",
                        "not_found",
                    )
        policy = body.get("deployment_branch_policy")
        if policy is not None:
            if (
                not isinstance(policy, dict)
                or not isinstance(policy.get("protected_branches"), bool)
                or not isinstance(policy.get("custom_branch_policies"), bool)
            ):
                raise invalid(
                    "Invalid request.\n\ndeployment_branch_policy needs protected_branches and custom_branch_policies"
                    " (booleans).",
                    "Environment",
                    "deployment_branch_policy",
                )
            if policy["protected_branches"] == policy["custom_branch_policies"]:
                raise invalid(
                    "Invalid request.\n\nExactly one of protected_branches or custom_branch_policies must be true.",
                    "Environment",
                    "deployment_branch_policy",
                )
        return body

    def _apply_environment(self, env: Environment, settings: Json) -> None:
        if "wait_timer" in settings:
            env["wait_timer"] = settings["wait_timer"] or 0
        if "reviewers" in settings:
            reviewers: list[Reviewer] = settings["reviewers"] or []
            unique = {(r["type"], r["id"]): Reviewer(type=r["type"], id=r["id"]) for r in reviewers}
            env["reviewers"] = [r for r in unique.values() if r["type"] == "User" or self._team_can_review(r["id"])]
        if settings.get("prevent_self_review") is not None:
            env["prevent_self_review"] = settings["prevent_self_review"]
        if settings.get("can_admins_bypass") is not None:
            env["can_admins_bypass"] = settings["can_admins_bypass"]
        if "deployment_branch_policy" in settings:
            policy = settings["deployment_branch_policy"]
            env["deployment_branch_policy"] = (
                None
                if policy is None
                else {
                    "protected_branches": policy["protected_branches"],
                    "custom_branch_policies": policy["custom_branch_policies"],
                }
            )
            if policy is None or not policy["custom_branch_policies"]:
                env["branch_policies"] = {}  # custom patterns go with the custom setting
        env["updated_at"] = _now()

    def _delete_environment(self, owner: str, repo: str, name: str, *, body: object) -> Reply:
        self._check_repo(owner, repo)
        env = self._find_env(name)
        del self.environments[env["name"]]  # its secrets, variables and branch policies go with it
        return 204, None

    # deployment branch policies

    def _custom_env(self, owner: str, repo: str, name: str) -> Environment:
        self._check_repo(owner, repo)
        env = self._find_env(name)
        policy = env["deployment_branch_policy"]
        # The description (repos/create-deployment-branch-policy): "404 Not Found or
        # `deployment_branch_policy.custom_branch_policies` property for the environment is set
        # to false" -- so an environment limited to protected branches, or open to all, answers
        # GitHub's plain 404 to every branch-policy call.
        if policy is None or not policy["custom_branch_policies"]:
            raise not_found()
        return env

    def _list_branch_policies(self, owner: str, repo: str, name: str, *, body: object) -> Reply:
        env = self._custom_env(owner, repo, name)
        policies = [self._branch_policy_json(p) for p in env["branch_policies"].values()]
        return 200, {"total_count": len(policies), "branch_policies": policies}

    @staticmethod
    def _branch_policy_json(policy: BranchPolicy) -> Json:
        return {
            "id": policy["id"],
            "node_id": shapes.node_id("DeploymentBranchPolicy", policy["id"]),
            "name": policy["name"],
            "type": policy["type"],
        }

    def _create_branch_policy(self, owner: str, repo: str, name: str, *, body: object) -> Reply:
        env = self._custom_env(owner, repo, name)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            raise invalid('Invalid request.\n\nNo subschema in "anyOf" matched.', "DeploymentBranchPolicy", "name")
        kind = body.get("type", "branch")
        if kind != "branch" and kind != "tag":
            raise invalid(f"Invalid request.\n\n{kind!r} is not a valid type.", "DeploymentBranchPolicy", "type")
        for policy in env["branch_policies"].values():
            if policy["name"] == body["name"] and policy["type"] == kind:
                return 303, self._branch_policy_json(policy)  # GitHub: the same pattern already exists
        policy = BranchPolicy(id=next(self._ids), name=body["name"], type=kind)
        env["branch_policies"][policy["id"]] = policy
        return 200, self._branch_policy_json(policy)

    def _branch_policy(self, env: Environment, policy_id: str) -> BranchPolicy:
        policy = env["branch_policies"].get(int(policy_id))
        if policy is None:
            raise not_found()
        return policy

    def _get_branch_policy(self, owner: str, repo: str, name: str, policy_id: str, *, body: object) -> Reply:
        env = self._custom_env(owner, repo, name)
        return 200, self._branch_policy_json(self._branch_policy(env, policy_id))

    def _update_branch_policy(self, owner: str, repo: str, name: str, policy_id: str, *, body: object) -> Reply:
        env = self._custom_env(owner, repo, name)
        policy = self._branch_policy(env, policy_id)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            raise invalid('Invalid request.\n\n"name" wasn\'t supplied.', "DeploymentBranchPolicy", "name")
        policy["name"] = body["name"]
        return 200, self._branch_policy_json(policy)

    def _delete_branch_policy(self, owner: str, repo: str, name: str, policy_id: str, *, body: object) -> Reply:
        env = self._custom_env(owner, repo, name)
        del env["branch_policies"][self._branch_policy(env, policy_id)["id"]]
        return 204, None

    # secrets

    def _public_key_json(self, key: KeyPair) -> Json:
        return {"key_id": key.key_id, "key": key.public_b64}

    def _get_repo_public_key(self, owner: str, repo: str, *, body: object) -> Reply:
        self._check_repo(owner, repo)
        return 200, self._public_key_json(self._repo_key)

    def _get_env_public_key(self, owner: str, repo: str, name: str, *, body: object) -> Reply:
        self._check_repo(owner, repo)
        return 200, self._public_key_json(self._keys[self._find_env(name)["key_id"]])

    def _get_env_public_key_by_id(self, repo_id: str, name: str, *, body: object) -> Reply:
        self._check_repo_id(repo_id)
        return 200, self._public_key_json(self._keys[self._find_env(name)["key_id"]])

    @staticmethod
    def _secret_json(name: str, record: Secret) -> Json:
        return {"name": name, "created_at": record["created_at"], "updated_at": record["updated_at"]}

    def _list_secrets(self, store: dict[str, Secret]) -> Reply:
        listed = [self._secret_json(name, record) for name, record in sorted(store.items())]
        return 200, {"total_count": len(listed), "secrets": listed}

    def _get_secret(self, store: dict[str, Secret], name: str) -> Reply:
        record = store.get(name.upper())
        if record is None:
            raise not_found()
        return 200, self._secret_json(name.upper(), record)

    def _put_secret(self, store: dict[str, Secret], key: KeyPair, name: str, body: object) -> Reply:
        if not SECRET_NAME.match(name) or name.upper().startswith("GITHUB_"):
            raise invalid(
                "Secret names can only contain alphanumeric characters or underscores, must not start with a"
                " number, and must not start with the GITHUB_ prefix.",
                "Secret",
                "name",
            )
        if not isinstance(body, dict) or not isinstance(body.get("encrypted_value"), str):
            raise invalid('Invalid request.\n\n"encrypted_value" wasn\'t supplied.', "Secret", "encrypted_value")
        if body.get("key_id") != key.key_id:
            raise invalid(
                "Invalid request.\n\nkey_id is not the ID of the current public key.", "Secret", "key_id", "invalid"
            )
        try:
            SealedBox(key.private).decrypt(base64.b64decode(body["encrypted_value"], validate=True))
        except (binascii.Error, CryptoError, ValueError):
            raise invalid(
                "Bad request: encrypted_value is not a sealed box for the public key key_id names.",
                "Secret",
                "encrypted_value",
            ) from None
        now = _now()
        existing = store.get(name.upper())
        store[name.upper()] = {
            "encrypted_value": body["encrypted_value"],
            "key_id": body["key_id"],
            "created_at": existing["created_at"] if existing else now,
            "updated_at": now,
        }
        return (204, None) if existing else (201, {})

    def _delete_secret(self, store: dict[str, Secret], name: str) -> Reply:
        if name.upper() not in store:
            raise not_found()
        del store[name.upper()]
        return 204, None

    def _list_repo_secrets(self, owner: str, repo: str, *, body: object) -> Reply:
        self._check_repo(owner, repo)
        return self._list_secrets(self.repo_secrets)

    def _get_repo_secret(self, owner: str, repo: str, name: str, *, body: object) -> Reply:
        self._check_repo(owner, repo)
        return self._get_secret(self.repo_secrets, name)

    def _put_repo_secret(self, owner: str, repo: str, name: str, *, body: object) -> Reply:
        self._check_repo(owner, repo)
        return self._put_secret(self.repo_secrets, self._repo_key, name, body)

    def _delete_repo_secret(self, owner: str, repo: str, name: str, *, body: object) -> Reply:
        self._check_repo(owner, repo)
        return self._delete_secret(self.repo_secrets, name)

    def _env_by_id(self, repo_id: str, name: str) -> Environment:
        self._check_repo_id(repo_id)
        return self._find_env(name)

    def _env_by_name(self, owner: str, repo: str, name: str) -> Environment:
        self._check_repo(owner, repo)
        return self._find_env(name)

    def _list_env_secrets_by_id(self, repo_id: str, env: str, *, body: object) -> Reply:
        return self._list_secrets(self._env_by_id(repo_id, env)["secrets"])

    def _list_env_secrets(self, owner: str, repo: str, env: str, *, body: object) -> Reply:
        return self._list_secrets(self._env_by_name(owner, repo, env)["secrets"])

    def _get_env_secret_by_id(self, repo_id: str, env: str, name: str, *, body: object) -> Reply:
        return self._get_secret(self._env_by_id(repo_id, env)["secrets"], name)

    def _get_env_secret(self, owner: str, repo: str, env: str, name: str, *, body: object) -> Reply:
        return self._get_secret(self._env_by_name(owner, repo, env)["secrets"], name)

    def _put_env_secret_by_id(self, repo_id: str, env: str, name: str, *, body: object) -> Reply:
        record = self._env_by_id(repo_id, env)
        return self._put_secret(record["secrets"], self._keys[record["key_id"]], name, body)

    def _put_env_secret(self, owner: str, repo: str, env: str, name: str, *, body: object) -> Reply:
        record = self._env_by_name(owner, repo, env)
        return self._put_secret(record["secrets"], self._keys[record["key_id"]], name, body)

    def _delete_env_secret_by_id(self, repo_id: str, env: str, name: str, *, body: object) -> Reply:
        return self._delete_secret(self._env_by_id(repo_id, env)["secrets"], name)

    def _delete_env_secret(self, owner: str, repo: str, env: str, name: str, *, body: object) -> Reply:
        return self._delete_secret(self._env_by_name(owner, repo, env)["secrets"], name)

    # variables

    @staticmethod
    def _variable_json(name: str, record: Variable) -> Json:
        return {
            "name": name,
            "value": record["value"],
            "created_at": record["created_at"],
            "updated_at": record["updated_at"],
        }

    def _list_env_variables(self, owner: str, repo: str, env: str, *, body: object) -> Reply:
        variables = self._env_by_name(owner, repo, env)["variables"]
        listed = [self._variable_json(name, record) for name, record in sorted(variables.items())]
        return 200, {"total_count": len(listed), "variables": listed}

    @staticmethod
    def _check_variable_name(name: object) -> str:
        if not isinstance(name, str) or not SECRET_NAME.match(name) or name.upper().startswith("GITHUB_"):
            raise invalid(
                "Variable names can only contain alphanumeric characters or underscores, must not start with a"
                " number, and must not start with the GITHUB_ prefix.",
                "Variable",
                "name",
            )
        return name.upper()

    def _create_env_variable(self, owner: str, repo: str, env: str, *, body: object) -> Reply:
        variables = self._env_by_name(owner, repo, env)["variables"]
        if not isinstance(body, dict) or not isinstance(body.get("value"), str):
            raise invalid('Invalid request.\n\n"value" wasn\'t supplied.', "Variable", "value")
        name = self._check_variable_name(body.get("name"))
        if name in variables:
            raise ApiError(409, "Already exists - Variable already exists")
        now = _now()
        variables[name] = {"value": body["value"], "created_at": now, "updated_at": now}
        return 201, {}

    def _get_env_variable(self, owner: str, repo: str, env: str, name: str, *, body: object) -> Reply:
        variables = self._env_by_name(owner, repo, env)["variables"]
        record = variables.get(name.upper())
        if record is None:
            raise not_found()
        return 200, self._variable_json(name.upper(), record)

    def _update_env_variable(self, owner: str, repo: str, env: str, name: str, *, body: object) -> Reply:
        variables = self._env_by_name(owner, repo, env)["variables"]
        record = variables.get(name.upper())
        if record is None:
            raise not_found()
        if not isinstance(body, dict):
            raise ApiError(400, "Problems parsing JSON")
        if "value" in body and not isinstance(body["value"], str):
            raise invalid("Invalid request.\n\nFor 'value', it is not a string.", "Variable", "value")
        new_name = self._check_variable_name(body.get("name", name))
        if new_name != name.upper():
            if new_name in variables:
                raise ApiError(409, "Already exists - Variable already exists")
            variables[new_name] = variables.pop(name.upper())
        record["value"] = body.get("value", record["value"])
        record["updated_at"] = _now()
        return 204, None

    def _delete_env_variable(self, owner: str, repo: str, env: str, name: str, *, body: object) -> Reply:
        variables = self._env_by_name(owner, repo, env)["variables"]
        if name.upper() not in variables:
            raise not_found()
        del variables[name.upper()]
        return 204, None

    # classic branch protection, as terraform-provider-github's github_branch_protection_v3 uses it

    def _branch(self, owner: str, repo: str, branch: str) -> str:
        self._check_repo(owner, repo)
        if branch not in self.branches:  # branch names are case-sensitive
            raise ApiError(404, BRANCH_NOT_FOUND)
        return branch

    def _protected(self, owner: str, repo: str, branch: str) -> tuple[str, BranchProtection]:
        name = self._branch(owner, repo, branch)
        protection = self.branches[name]
        if protection is None:
            raise ApiError(404, BRANCH_NOT_PROTECTED)
        return name, protection

    def _protection_json(self, branch: str, protection: BranchProtection) -> Json:
        full_name = f"{self.owner}/{self.repo}"
        return shapes.protected_branch(self._site, full_name, branch, protection, self.user_json, self.team_json)

    def _get_protection(self, owner: str, repo: str, branch: str, *, body: object) -> Reply:
        name, protection = self._protected(owner, repo, branch)
        return 200, self._protection_json(name, protection)

    def _put_protection(self, owner: str, repo: str, branch: str, *, body: object) -> Reply:
        """Sets the whole protection: what the body leaves out is off. Signed commits are kept (their
        own endpoint sets them; a branch protected anew starts without)."""
        name = self._branch(owner, repo, branch)
        protection = self._validate_protection({} if body is None else body)
        previous = self.branches[name]
        protection["required_signatures"] = previous["required_signatures"] if previous else False
        self.branches[name] = protection
        return 200, self._protection_json(name, protection)

    def _delete_protection(self, owner: str, repo: str, branch: str, *, body: object) -> Reply:
        name, _ = self._protected(owner, repo, branch)
        self.branches[name] = None
        return 204, None

    def _get_signatures(self, owner: str, repo: str, branch: str, *, body: object) -> Reply:
        name, protection = self._protected(owner, repo, branch)
        return 200, shapes.signatures(self._site, f"{self.owner}/{self.repo}", name, protection["required_signatures"])

    def _require_signatures(self, owner: str, repo: str, branch: str, *, body: object) -> Reply:
        name, protection = self._protected(owner, repo, branch)
        protection["required_signatures"] = True
        return 200, shapes.signatures(self._site, f"{self.owner}/{self.repo}", name, True)

    def _drop_signatures(self, owner: str, repo: str, branch: str, *, body: object) -> Reply:
        """204 whether or not signed commits were required: the provider sends this on every create
        and update with require_signed_commits = false, right after protecting the branch."""
        _, protection = self._protected(owner, repo, branch)
        protection["required_signatures"] = False
        return 204, None

    def _drop_reviews(self, owner: str, repo: str, branch: str, *, body: object) -> Reply:
        """204 whether or not reviews were required: the provider sends this after every update whose
        PUT already set required_pull_request_reviews to null (GitHub's answer to removing absent
        review protection is not documented; an error there would fail every such update)."""
        _, protection = self._protected(owner, repo, branch)
        protection["required_pull_request_reviews"] = None
        return 204, None

    _PROTECTION_REQUIRED = ("required_status_checks", "enforce_admins", "required_pull_request_reviews", "restrictions")
    _PROTECTION_FLAGS = (
        "required_linear_history",
        "allow_force_pushes",
        "allow_deletions",
        "block_creations",
        "required_conversation_resolution",
        "lock_branch",
        "allow_fork_syncing",
    )
    _NULLABLE_FLAGS = frozenset({"enforce_admins", "allow_force_pushes"})  # null: off

    def _validate_protection(self, body: object) -> BranchProtection:
        """GitHub's request schema for PUT .../protection, as the description gives it and as GitHub
        applies it to required_status_checks: exactly one of `contexts` and `checks` (the description
        requires `contexts`; GitHub takes either alone and refuses both or neither, with the messages
        google/go-github#2976 and ossf/allstar#155 quote)."""
        if not isinstance(body, dict):
            raise ApiError(400, "Problems parsing JSON")
        self._check_keys(body, {*self._PROTECTION_REQUIRED, *self._PROTECTION_FLAGS}, self._PROTECTION_REQUIRED)
        flags = {  # enforce_admins is required; the others are off when left out
            flag: self._flag(body.get(flag, False), flag, nullable=flag in self._NULLABLE_FLAGS)
            for flag in ("enforce_admins", *self._PROTECTION_FLAGS)
        }
        restrictions = body["restrictions"]
        if restrictions is not None:
            self._check_keys(restrictions, {"users", "teams", "apps"}, ("users", "teams"), "restrictions")
        return {
            "required_status_checks": self._status_checks(body["required_status_checks"]),
            "enforce_admins": flags["enforce_admins"],
            "required_pull_request_reviews": self._reviews(body["required_pull_request_reviews"]),
            "restrictions": None if restrictions is None else self._actors(restrictions, "restrictions"),
            "required_linear_history": flags["required_linear_history"],
            "allow_force_pushes": flags["allow_force_pushes"],
            "allow_deletions": flags["allow_deletions"],
            "block_creations": flags["block_creations"],
            "required_conversation_resolution": flags["required_conversation_resolution"],
            "lock_branch": flags["lock_branch"],
            "allow_fork_syncing": flags["allow_fork_syncing"],
            "required_signatures": False,
        }

    @staticmethod
    def _check_keys(value: object, allowed: set[str], required: Sequence[str] = (), where: str = "") -> Json:
        if not isinstance(value, dict):
            raise unprocessable(f"For 'properties/{where}', {_inspect(value)} is not an object.")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise unprocessable(f"{', '.join(unknown)} is not a permitted key.")
        for key in required:
            if key not in value:
                raise unprocessable(f'"{key}" wasn\'t supplied.')
        return cast(Json, value)

    @staticmethod
    def _flag(value: object, where: str, *, nullable: bool = False) -> bool:
        if value is None and nullable:
            return False
        if not isinstance(value, bool):
            GithubApi._not_a(value, where, "boolean")
        return value

    @staticmethod
    def _not_a(value: object, where: str, kind: str) -> NoReturn:
        raise unprocessable(f"For 'properties/{where}', {_inspect(value)} is not a {kind}.")

    def _status_checks(self, value: object) -> StatusChecks | None:
        if value is None:
            return None
        settings = self._check_keys(value, {"strict", "contexts", "checks"}, (), "required_status_checks")
        if ("contexts" in settings) == ("checks" in settings):
            raise unprocessable(
                'No subschema in "anyOf" matched.\n'
                + ("More than one subschema" if "contexts" in settings else "No subschema")
                + ' in "oneOf" matched.\nNot all subschemas of "allOf" matched.\n'
                + f"For 'anyOf/1', {_inspect(settings)} is not a null."
            )
        if "strict" not in settings:
            raise unprocessable('"strict" wasn\'t supplied.')
        strict = self._flag(settings["strict"], "strict")
        checks: list[StatusCheck] = []
        if "contexts" in settings:
            contexts = settings["contexts"]
            if not isinstance(contexts, list) or not all(isinstance(c, str) for c in cast(list[Any], contexts)):
                self._not_a(contexts, "contexts", "array of strings")
            checks = [StatusCheck(context=c, app_id=None) for c in cast(list[str], contexts)]
        else:
            given = settings["checks"]
            if not isinstance(given, list):
                self._not_a(given, "checks", "array")
            for check in cast(list[Any], given):
                check = self._check_keys(check, {"context", "app_id"}, ("context",), "checks")
                context, app_id = check["context"], check.get("app_id", -1)
                if not isinstance(context, str) or not context:
                    self._not_a(context, "context", "non-empty string")
                if isinstance(app_id, bool) or not isinstance(app_id, int):
                    self._not_a(app_id, "app_id", "integer")
                # -1 is "any app"; so is no app_id where no GitHub App has reported the check,
                # which none has to the stand-in. A check is required once per context and app.
                checks.append(StatusCheck(context=context, app_id=None if app_id == -1 else app_id))
        unique = {(check["context"], check["app_id"]): check for check in checks}
        return {"strict": strict, "checks": list(unique.values())}

    def _reviews(self, value: object) -> PullRequestReviews | None:
        if value is None:
            return None
        settings = self._check_keys(
            value,
            {
                "dismissal_restrictions",
                "dismiss_stale_reviews",
                "require_code_owner_reviews",
                "required_approving_review_count",
                "require_last_push_approval",
                "bypass_pull_request_allowances",
            },
            (),
            "required_pull_request_reviews",
        )
        # GitHub documents no default for the count; the stand-in takes its web UI's, 1.
        count = settings.get("required_approving_review_count", 1)
        if isinstance(count, bool) or not isinstance(count, int):
            self._not_a(count, "required_approving_review_count", "integer")
        if not 0 <= count <= MAX_APPROVALS:
            limit = f"greater than the maximum of {MAX_APPROVALS}" if count > 0 else "less than the minimum of 0"
            raise unprocessable(f"For 'properties/required_approving_review_count', {count} is {limit}.")
        # "Pass an empty dismissal_restrictions object to disable": lists, even empty ones, enable
        # it (then only those named, and admins, may dismiss reviews).
        dismissal = settings.get("dismissal_restrictions")
        if dismissal is not None:
            self._check_keys(dismissal, {"users", "teams", "apps"}, (), "dismissal_restrictions")
        bypass = settings.get("bypass_pull_request_allowances")
        if bypass is not None:
            self._check_keys(bypass, {"users", "teams", "apps"}, (), "bypass_pull_request_allowances")
        allowances = None if bypass is None else self._actors(bypass, "bypass_pull_request_allowances")
        return {
            "dismiss_stale_reviews": self._flag(settings.get("dismiss_stale_reviews", False), "dismiss_stale_reviews"),
            "require_code_owner_reviews": self._flag(
                settings.get("require_code_owner_reviews", False), "require_code_owner_reviews"
            ),
            "required_approving_review_count": count,
            "require_last_push_approval": self._flag(
                settings.get("require_last_push_approval", False), "require_last_push_approval"
            ),
            "dismissal_restrictions": (
                self._actors(dismissal, "dismissal_restrictions") if isinstance(dismissal, dict) and dismissal else None
            ),
            # Nobody allowed to bypass is no allowance: GitHub's answer then has none.
            "bypass_pull_request_allowances": allowances if allowances and any(allowances.values()) else None,
        }

    def _actors(self, value: Json, where: str) -> Actors:
        """Users, teams and apps by login and slug. Unknown ones are refused: the stand-in knows the
        users and teams it was given, and no GitHub App at all."""
        lists: dict[str, list[str]] = {}
        for kind in ("users", "teams", "apps"):
            names = value.get(kind, [])
            if not isinstance(names, list) or not all(isinstance(n, str) for n in cast(list[Any], names)):
                self._not_a(names, f"{where}/{kind}", "array of strings")
            lists[kind] = list(dict.fromkeys(cast(list[str], names)))
        if sum(len(names) for names in lists.values()) > MAX_ACTORS:
            raise unprocessable(f"The list of users, apps, and teams in {where} is limited to {MAX_ACTORS} items.")
        known = {"users": self.users, "teams": self.teams, "apps": {}}
        canonical: dict[str, list[str]] = {}
        for kind, names in lists.items():
            canonical[kind] = []
            for name in names:
                match = next((k for k in known[kind] if k.lower() == name.lower()), None)
                if match is None:
                    raise unprocessable(f"{where}: no {kind[:-1]} {name!r} can be given access: not found.")
                canonical[kind].append(match)
        return {"users": canonical["users"], "teams": canonical["teams"], "apps": canonical["apps"]}


class _Handler(http.server.BaseHTTPRequestHandler):
    api: GithubApi
    protocol_version = "HTTP/1.1"
    server_version = "GitHub.com"
    sys_version = ""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        status, body, extra_headers = self.api.respond(self.command, self.path, dict(self.headers.items()), raw_body)
        data = b"" if body is None or status == 204 else json.dumps(body).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
        self.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
        self.send_header("X-RateLimit-Limit", "5000")
        self.send_header("X-RateLimit-Remaining", "4999")
        self.send_header("X-RateLimit-Reset", str(int(datetime.datetime.now(datetime.UTC).timestamp()) + 3600))
        self.send_header("X-RateLimit-Used", "1")
        self.send_header("X-RateLimit-Resource", "core")
        if status == 303 and isinstance(body, dict) and "id" in body:
            self.send_header("Location", self.path.rstrip("/") + f"/{body['id']}")
        for name, value in extra_headers.items():
            self.send_header(name, value)
        self.end_headers()
        if data:
            self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        pass
