"""no-plaintext-secrets: container envs, command lines and stdin, Actions variables.

Values passed as Pulumi secrets arrive as the engine's secret objects and must not be flagged;
the same values in plaintext must be, and no message may repeat the value.
"""

from __future__ import annotations

import shlex

import pytest

from policy.guards.resources import COMMAND, CONTAINER, GITHUB_ENVIRONMENT_VARIABLE
from service_infra.commands import fly as flyctl
from service_infra.commands.probe import probe_command
from service_infra.credentials import credential_kind, is_secret_name
from tests.policy.support import UNKNOWN_ARRAY, resource_args, secret, violations

POLICY = "no-plaintext-secrets"
GITHUB_PAT = "ghp_" + "Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5"
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
RANDOM = "q8Zr2LmX7vK1pT9wB4nYc6Hd3Fg0Js5A"  # 32 chars, mixed case and digits
PLAIN_ENV = [
    "ALLOWED_ORIGINS=https://app.acme.example,https://www.acme.example",
    "APP_ENV=prod",
    "MODEL_NAME=llama3.1:8b",
    "OLLAMA_BASE_URL=http://host.docker.internal:11434",
    "RATE_LIMIT_RPM=60",
    "MAX_TOKENS=4096",
]


def container(envs: object) -> list[str]:
    return violations(POLICY, resource_args(CONTAINER, "llm-server-container", {"envs": envs}))


def test_plain_configuration_passes() -> None:
    assert container(PLAIN_ENV) == []


def test_envs_passed_as_a_pulumi_secret_pass() -> None:
    # What the program registers when a service has secret_env: the whole list is a secret.
    assert container(secret([*PLAIN_ENV, "API_KEY=test-secret-value-of-API_KEY"])) == []


def test_a_secret_element_among_plain_envs_passes() -> None:
    assert container([*PLAIN_ENV, secret("API_KEY=test-secret-value-of-API_KEY")]) == []


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ("API_KEY=abc123", "API_KEY"),
        ("SUPABASE_SERVICE_KEY=whatever", "SUPABASE_SERVICE_KEY"),
        ("DB_PASSWORD=hunter2", "DB_PASSWORD"),
        ("GITHUB_TOKEN=tok-value-1", "GITHUB_TOKEN"),
        ("CLIENT_SECRET=client-secret-9", "CLIENT_SECRET"),
        (f"NOTES={GITHUB_PAT}", "GitHub token"),
        (f"SUPABASE_ANON={JWT}", "JSON Web Token"),
        (f"OPAQUE={RANDOM}", "high-entropy token"),
        ("DATABASE_URL=postgres://app:hunter2@db:5432/app", "password in a URL"),
    ],
)
def test_a_plaintext_secret_in_envs_is_a_violation(entry: str, named: str) -> None:
    (message,) = container([*PLAIN_ENV, entry])
    assert "Container 'llm-server-container'" in message
    assert named in message
    assert "secret_env" in message
    value = entry.partition("=")[2]
    assert value not in message, "a violation must not print the secret"


def test_envs_not_known_in_preview_are_skipped() -> None:
    assert container(UNKNOWN_ARRAY) == []


@pytest.mark.parametrize("entry", ["API_KEY=", "TOKEN_FILE=/run/secrets/token", "SECRET_NAME=API_KEY"])
def test_empty_values_and_names_that_point_at_secrets_pass(entry: str) -> None:
    assert container([entry]) == []


def command(**props: object) -> list[str]:
    return violations(POLICY, resource_args(COMMAND, "image-descriptor-app", props))


def test_the_programs_commands_pass() -> None:
    assert (
        command(
            create=shlex.join(flyctl.ensure_app_operation("acme-image-descriptor", "acme")),
            delete=shlex.join(flyctl.apps_destroy("acme-image-descriptor")),
            environment=secret({"FLY_API_TOKEN": "FlyV1 fm2_" + RANDOM * 2}),
        )
        == []
    )
    assert command(create=shlex.join(probe_command("llm-server", "http://mac-mini.tailnet.example:8000/health"))) == []
    assert (
        command(
            create=shlex.join(flyctl.secrets_import("acme-image-descriptor")),
            stdin=secret('API_KEY="test-secret-value"\n'),
        )
        == []
    )


@pytest.mark.parametrize(
    ("field", "text", "named"),
    [
        ("create", "fly deploy --access-token abc123def", "--access-token"),
        ("create", "fly deploy --api-key=abc123def", "--api-key"),
        ("update", "FLY_API_TOKEN=abc123 fly deploy --app a", "FLY_API_TOKEN"),
        ("delete", f"curl -H 'Authorization: token {GITHUB_PAT}' https://api.github.com", "GitHub token"),
    ],
)
def test_a_secret_in_a_command_line_is_a_violation(field: str, text: str, named: str) -> None:
    (message,) = command(**{field: text})
    assert f"the {field} command has a secret in plaintext" in message
    assert named in message
    assert "abc123" not in message and GITHUB_PAT not in message


def test_a_reference_to_an_environment_variable_is_not_a_literal() -> None:
    assert command(create='fly deploy --access-token "$FLY_API_TOKEN"') == []


def test_plaintext_command_environment_is_a_violation() -> None:
    (message,) = command(create="fly apps list --json", environment={"FLY_API_TOKEN": "abc123"})
    assert "environment FLY_API_TOKEN is set to a literal value" in message and "abc123" not in message


def test_plaintext_secret_in_stdin_is_a_violation() -> None:
    toml = flyctl.fly_toml(
        app="a",
        region="iad",
        vm_size="shared-cpu-1x",
        memory_mb=512,
        internal_port=8080,
        health_path="/api/health",
        env={"APP_ENV": "prod", "GOOGLE_AI_API_KEY": "AIza" + "x" * 35},
        mount=None,
    )
    messages = command(create=shlex.join(flyctl.release_operation("a", "r:sha-1234567")), stdin=toml)
    assert any("GOOGLE_AI_API_KEY is set to a literal value" in m for m in messages)
    assert all("AIza" not in m for m in messages)


def variable(name: str, value: str) -> list[str]:
    props = {"repository": "local-llm-server", "environment": "production", "variableName": name, "value": value}
    return violations(POLICY, resource_args(GITHUB_ENVIRONMENT_VARIABLE, f"production-variable-{name}", props))


@pytest.mark.parametrize(
    ("name", "value"),
    [("MODEL_NAME", "llama3.1:8b"), ("RATE_LIMIT_RPM", "60"), ("ALLOWED_ORIGINS", "https://app.acme.example")],
)
def test_the_programs_variables_pass(name: str, value: str) -> None:
    assert variable(name, value) == []


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [("DEPLOY_TOKEN", "deploy-token-77", "DEPLOY_TOKEN"), ("SUPABASE_ANON", JWT, "JSON Web Token")],
)
def test_a_secret_as_an_actions_variable_is_a_violation(name: str, value: str, named: str) -> None:
    (message,) = variable(name, value)
    assert "ActionsEnvironmentVariable" in message and named in message and ".secrets" in message
    assert value not in message


@pytest.mark.parametrize(
    "name",
    [
        "API_KEY",
        "GOOGLE_AI_API_KEY",
        "SUPABASE_SERVICE_KEY",
        "DB_PASSWORD",
        "PGPASSWORD",
        "GITHUB_TOKEN",
        "KEY",
        "DB_PASS",
        "SMTP_PWD",
        "APIKEY",
        "OPENAI_APIKEY",
        "SENTRY_DSN",
        "DATABASE_DSN",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "MAX_TOKENS",
        "TOKEN_LIMIT",
        "MODEL_NAME",
        "RATE_LIMIT_RPM",
        "MONKEY",
        "SECRET_NAME",
        "STRIPE_PUBLISHABLE_KEY",
        "PASSENGER_COUNT",
        "BYPASS_CACHE",
        "COMPASS_URL",
        "DSN_HOST",
    ],
)
def test_not_secret_names(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(
    "text",
    [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk1bE9tYW1zQ2F0dGxlUHJvZEtleUV4YW1wbGUwMDA",  # a public host key
        "sha256:" + "0123456789abcdef" * 4,  # an image id
        "ghcr.io/acme/local-llm-server:sha-3f9c2a1",
        "python3 -m service_infra.ops.fly ensure-volume --app acme-image-descriptor --name cache_data --region iad",
    ],
)
def test_public_or_structural_values_do_not_look_like_tokens(text: str) -> None:
    assert credential_kind(text) is None
