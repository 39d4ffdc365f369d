"""A stand-in for GitHub's REST API, as the github provider (go-github) reaches it through `baseUrl`.

What the program needs of GitHub, served on 127.0.0.1 like a GitHub Enterprise Server
(REST under ``/api/v3/``, GraphQL at ``/api/graphql``), with GitHub's documented request
and response shapes, status codes and validation:

- who is who: ``GET /user``, ``/users/{login}`` (+ ``/gpg_keys``, ``/keys``), ``/orgs/{org}``,
  ``/orgs/{org}/teams/{slug}`` (+ ``/members``, ``/repos``), ``/repos/{owner}/{repo}``,
  ``/repositories/{id}``;
- deployment environments: ``PUT/GET/DELETE /repos/{o}/{r}/environments/{name}``, the list,
  and their custom deployment branch policies;
- Actions secrets (repository and environment), sealed with real NaCl public keys whose
  private halves the stand-in keeps, so that tests can decrypt what the provider stored;
- environment variables;
- classic branch protection, as terraform-provider-github v6.13.0 (pulumi-github 6.15.0's upstream,
  on go-github v88; read in github/resource_github_branch_protection_v3{,_utils}.go) manages
  ``github_branch_protection_v3``: ``PUT/GET/DELETE /repos/{o}/{r}/branches/{branch}/protection``,
  its ``/required_signatures`` (GET, POST, DELETE) and ``DELETE .../required_pull_request_reviews``.
  Branch ``main`` exists from the start (``api.add_branch`` adds others; any other is 404 "Branch
  not found"); ``api.branch_protection("main")`` is what the stand-in holds (None: unprotected).
  Its two GETs answer conditional requests (ETag, If-None-Match -> 304), as the provider's read uses.

Every exchange is recorded (method, path, query, JSON body, status, JSON answer, and the label of
the token it carried). Requests need ``Authorization: Bearer <token>`` (or ``token <token>``).

Tokens: the configured one (``token=``, recorded as ``"default"``) may do everything, like a
classic token. ``api.add_token("github_pat_...", {"environments": "write"})`` adds a fine-grained
one holding only the repository permissions given (GitHub's names: ``administration``,
``environments``, ``secrets``, ``actions``...; "read" or "write", write includes read; metadata:read
comes with every token), and the organization's ``members`` for team look-ups. Each route refuses
such a token unless it holds what GitHub requires there: 403 "Resource not accessible by personal
access token", with ``X-Accepted-GitHub-Permissions`` (e.g. ``administration=write``) naming what
the route accepts (sent with every answer a served route gives a fine-grained token). The
requirements are ``ROUTE_PERMISSIONS`` in server.py, modelled from GitHub's "Permissions required
for fine-grained personal access tokens", read 2026-12-06:
https://docs.github.com/en/rest/overview/permissions-required-for-fine-grained-personal-access-tokens
There, reading an environment is the Actions permission's, writing one Administration's, and
environment secrets and variables are the Environments permission's; branch protection is
Administration's (read for GET, write for PUT, POST and DELETE).

Each team has a permission on the repository (``api.set_team_access("platform", "pull")``;
write access by default): as on GitHub, a required-reviewer team without write access is
accepted and silently left out of the environment.

The stand-in's requests and answers are checked against GitHub's published REST description
(``openapi.py``, pinned to @octokit/openapi 23.0.2; tests/fakes/test_github_api_openapi.py):
``shapes.py`` builds GitHub's documents, ``records.py`` types what the stand-in holds, and
``client.py`` is the tests' small REST client.

    with GithubApi("acme", "local-llm-server", users={"alice": 101}, teams={"platform": 7}) as api:
        provider_base_url = api.base_url            # http://127.0.0.1:<port>/
        ...
        api.environments["production"]["reviewers"]  # [{"type": "User", "id": 101}, ...]
        api.decrypt_secret("production", "FLY_API_TOKEN")
        api.branch_protection("main")["enforce_admins"]  # True, once the provider protected it
        SpecChecker(install_spec()).check_all(api.requests, "acme", "local-llm-server")  # [] when all agree
"""

from tests.fakes.github_api.server import (
    DEFAULT_TOKEN,
    DEFAULT_TOKEN_LABEL,
    ROUTE_PERMISSIONS,
    ApiRequest,
    GithubApi,
)
from tests.fakes.github_api.shapes import Permission

__all__ = ["DEFAULT_TOKEN", "DEFAULT_TOKEN_LABEL", "ROUTE_PERMISSIONS", "ApiRequest", "GithubApi", "Permission"]
