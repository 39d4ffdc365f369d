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
- environment variables.

Every request is recorded (method, path, query, JSON body, status). Requests need
``Authorization: Bearer <token>`` (or ``token <token>``) with the configured token.

    with GithubApi("acme", "local-llm-server", users={"alice": 101}, teams={"platform": 7}) as api:
        provider_base_url = api.base_url            # http://127.0.0.1:<port>/
        ...
        api.environments["production"]["reviewers"]  # [{"type": "User", "id": 101}, ...]
        api.decrypt_secret("production", "FLY_API_TOKEN")
"""

from tests.fakes.github_api.server import (
    DEFAULT_TOKEN,
    ApiRequest,
    GithubApi,
)

__all__ = ["DEFAULT_TOKEN", "ApiRequest", "GithubApi"]
