"""Prod's guards hold whatever a config edit says: each bypass a reviewer found is refused,
naming its key (issue: safe by default)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from service_infra.settings.docker import root_user_problem
from tests.support.mocks import load_stack_config
from tests.support.mocks import settings_problems as problems

Config = dict[str, Any]
P = "service-infra:"


def llm_docker(config: Config) -> Config:
    return config[f"{P}services"]["llm-server"]["docker"]


def production(config: Config) -> Config:
    return config[f"{P}github"]["environments"]["production"]


@pytest.mark.parametrize("stack", ["local", "staging", "prod"])
def test_the_committed_stacks_pass_under_their_own_names(stack: str) -> None:
    assert problems(load_stack_config(stack), stack) == []


@pytest.mark.parametrize(("stack", "claimed"), [("prod", "staging"), ("prod", "local"), ("staging", "prod")])
def test_a_stack_named_for_an_environment_cannot_claim_another(stack: str, claimed: str) -> None:
    config = load_stack_config(stack)
    config[f"{P}environment"] = claimed
    found = problems(config, stack)
    assert found[0] == (
        f"{P}environment: the stack {stack} must say `environment: {stack}`, got {claimed} "
        "(the environment of the stacks local, staging, prod, preview and pr-<n> is bound to their name)"
    )


def test_other_stack_names_choose_their_environment() -> None:
    assert problems(load_stack_config("prod"), "prod-eu") == []


# Group 0 too: root's group owns what root does on the host's files and sockets.
@pytest.mark.parametrize(
    "user", ["0", "00", "+0", "-0", "000:1000", "root", "root:root", ":10001", "", "-5", "10001:0", "10001:root"]
)
def test_root_in_any_spelling_is_refused(user: str) -> None:
    assert root_user_problem(user) is not None
    config = load_stack_config("prod")
    llm_docker(config)["user"] = user
    (found,) = problems(config, "prod")
    assert found.startswith(f"{P}services.llm-server.docker.user: containers run as a non-root user; got {user!r}")


@pytest.mark.parametrize("user", ["10001:10001", "app", "1000", "+1000:1000", "nobody", "app:staff"])
def test_non_root_users_pass(user: str) -> None:
    assert root_user_problem(user) is None


Change = Callable[[Config], None]


def _set(where: Callable[[Config], Config], key: str, value: object) -> Change:
    return lambda config: where(config).__setitem__(key, value)


def _drop_production(config: Config) -> None:
    del config[f"{P}github"]["environments"]["production"]


def _drop_github(config: Config) -> None:
    del config[f"{P}github"]


def every_interface_refused(bind: str) -> str:
    return (
        f"{P}services.llm-server.docker.bind: {bind} publishes prod on every interface of the host; set the address "
        "clients use (e.g. the Mac Mini's Tailscale or LAN address, or 127.0.0.1 behind a tunnel)"
    )


PROD_BYPASSES: list[tuple[str, Change, str]] = [
    ("volumes made deletable", _set(llm_docker, "retain_volumes", False),
     f"{P}services.llm-server.docker.retain_volumes: prod data outlives the stack; remove `retain_volumes: false`"),
    ("every interface by default", lambda c: llm_docker(c).pop("bind"),
     f"{P}services.llm-server.docker.bind: prod publishes only where you say: set it to the address clients use "
     "(e.g. the Mac Mini's Tailscale or LAN address, or 127.0.0.1 behind a tunnel)"),
    ("every interface, said", _set(llm_docker, "bind", "0.0.0.0"),
     every_interface_refused("0.0.0.0")),
    ("every interface, IPv6", _set(llm_docker, "bind", "::"),
     every_interface_refused("::")),
    ("admins bypass", _set(production, "can_admins_bypass", True),
     f"{P}github.environments.production.can_admins_bypass: admins may not bypass prod's reviewers; remove it"),
    ("self-review", _set(production, "prevent_self_review", False),
     f"{P}github.environments.production.prevent_self_review: whoever starts a prod deploy may not approve it; "
     "remove it"),
    ("every branch", _set(production, "branches", ["*"]),
     f"{P}github.environments.production.branches: '*' lets every branch deploy to prod; name the branches (e.g. main)"),
    ("every branch, deeper", _set(production, "branches", ["main", "**/*"]),
     f"{P}github.environments.production.branches: '**/*' lets every branch deploy to prod; name the branches "
     "(e.g. main)"),
    ("production dropped", _drop_production,
     f"{P}github.environments.production: prod needs the GitHub environment production (reviewers, branches "
     "[main]) to gate its deploys; add it under github.environments"),
    ("github dropped", _drop_github,
     f"{P}github.environments.production: prod needs the GitHub environment production (reviewers, branches "
     "[main]) to gate its deploys; add it under github.environments"),
    # Every interface in the spellings Docker or inet_aton also read so (staging refuses the last
    # two as addresses at all, so they stay out of test_staging_may_choose_differently).
    ("every interface, IPv4-mapped", _set(llm_docker, "bind", "::ffff:0.0.0.0"),
     every_interface_refused("::ffff:0.0.0.0")),
    ("every interface, bracketed", _set(llm_docker, "bind", "[::]"),
     every_interface_refused("[::]")),
    ("every interface, as 0", _set(llm_docker, "bind", "0"),
     every_interface_refused("0")),
]  # fmt: skip


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in PROD_BYPASSES], ids=[c[0] for c in PROD_BYPASSES])
def test_prod_guards_cannot_be_switched_off_by_config(change: Change, expected: str) -> None:
    config = load_stack_config("prod")
    change(config)
    assert problems(config, "prod") == [expected]


@pytest.mark.parametrize(("change", "_expected"), [c[1:] for c in PROD_BYPASSES[:1] + PROD_BYPASSES[2:4]])
def test_staging_may_choose_differently(change: Change, _expected: str) -> None:
    config = load_stack_config("prod")
    config[f"{P}environment"] = "staging"
    config[f"{P}services"]["llm-server"]["tag"] = "sha-3f9c2a1"
    del config[f"{P}github"]  # GitHub's protection is prod's alone (below)
    change(config)
    assert problems(config, "staging-like") == []


def staging_environment(config: Config) -> Config:
    return config[f"{P}github"]["environments"]["staging"]


def _repository_secret(name: str) -> Change:
    return lambda config: config[f"{P}github"].__setitem__("repository_secrets", [name])


PROTECTION_IS_PRODS = (
    "an environment's protection is the prod stack's to set (only its token administers the repository): move it "
    "to Pulumi.prod.yaml under github.environments.staging; staging sets only the environment's secrets and "
    "variables (docs/delivery.md)"
)
STAGING_OVERREACH: list[tuple[str, Change, str]] = [
    ("branches", _set(staging_environment, "branches", ["staging"]),
     f"{P}github.environments.staging.branches: {PROTECTION_IS_PRODS}"),
    ("reviewers", _set(staging_environment, "reviewers", {"users": ["alice-acme"]}),
     f"{P}github.environments.staging.reviewers: {PROTECTION_IS_PRODS}"),
    ("self-review", _set(staging_environment, "prevent_self_review", False),
     f"{P}github.environments.staging.prevent_self_review: {PROTECTION_IS_PRODS}"),
    ("admins", _set(staging_environment, "can_admins_bypass", True),
     f"{P}github.environments.staging.can_admins_bypass: {PROTECTION_IS_PRODS}"),
    ("wait timer", _set(staging_environment, "wait_timer", 5),
     f"{P}github.environments.staging.wait_timer: {PROTECTION_IS_PRODS}"),
    ("repository secrets", _repository_secret("API_KEY"),
     f"{P}github.repository_secrets: repository secrets are the prod stack's to set (every branch can read them, "
     "and setting them takes a token with Secrets write on the repository): move them to Pulumi.prod.yaml; "
     "staging's token has Environments write and nothing more (docs/delivery.md)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "expected"), [c[1:] for c in STAGING_OVERREACH], ids=[c[0] for c in STAGING_OVERREACH]
)
def test_staging_sets_only_its_environments_secrets_and_variables(change: Change, expected: str) -> None:
    """GitHub cannot scope a token to one environment: a staging token that could set staging's
    protection could set production's, so none of it is staging's."""
    config = load_stack_config("staging")
    change(config)
    assert problems(config, "staging") == [expected]


def production_preview(config: Config) -> Config:
    return config[f"{P}github"]["environments"]["production-preview"]


PROD_SECRET_RULES: list[tuple[str, Change, str]] = [
    ("a pattern", _set(production_preview, "branches", ["release/*"]),
     f"{P}github.environments.production-preview.branches: 'release/*' is a pattern, and this environment receives "
     "prod's secrets (SSH_PRIVATE_KEY): name the branches (e.g. main)"),
    ("admins bypass", _set(production_preview, "can_admins_bypass", True),
     f"{P}github.environments.production-preview.can_admins_bypass: this environment receives prod's secrets; "
     "admins may not bypass it"),
    ("a deploy key for every branch", _repository_secret("SSH_PRIVATE_KEY"),
     f"{P}github.repository_secrets: SSH_PRIVATE_KEY looks like a deploy credential, and every branch can read "
     "repository secrets: put it in the environment that needs it (github.environments.<name>.secrets)"),
    ("the stack's token", _repository_secret("GITHUB_TOKEN"),
     f"{P}github.repository_secrets: GITHUB_TOKEN looks like a deploy credential, and every branch can read "
     "repository secrets: put it in the environment that needs it (github.environments.<name>.secrets)"),
    ("an environment's secret", _repository_secret("FLY_API_TOKEN"),
     f"{P}github.repository_secrets: FLY_API_TOKEN looks like a deploy credential, and every branch can read "
     "repository secrets: put it in the environment that needs it (github.environments.<name>.secrets)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "expected"), [c[1:] for c in PROD_SECRET_RULES], ids=[c[0] for c in PROD_SECRET_RULES]
)
def test_what_receives_prods_secrets_gets_prods_rules(change: Change, expected: str) -> None:
    config = load_stack_config("prod")
    change(config)
    assert problems(config, "prod") == [expected]


def test_a_repository_secret_that_deploys_nothing_is_allowed_in_prod() -> None:
    config = load_stack_config("prod")
    _repository_secret("CODECOV_TOKEN")(config)
    assert problems(config, "prod") == []
