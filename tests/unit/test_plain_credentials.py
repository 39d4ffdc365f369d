"""A credential in a plain setting is refused before anything is touched (issue 25): by `check`,
`preview` and `up` alike, naming the key, never showing the value."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.policy.credential_corpus import CORPUS
from tests.support.mocks import load_stack_config, settings_problems

P = "service-infra:"
CREDENTIALS = {s.what: s.text for s in CORPUS if s.secret}
# Less the detector's one known false positive (tests/policy/test_credentials.py): declare it public.
LOOK_ALIKES = [s.text for s in CORPUS if not s.secret and s.what != "public key PEM"]


def problems(config: dict[str, Any], stack: str = "prod") -> list[str]:
    return settings_problems(config, stack)


def llm(config: dict[str, Any]) -> dict[str, Any]:
    return config[f"{P}services"]["llm-server"]


@pytest.mark.parametrize(
    "what",
    [
        "GitHub fine-grained token",
        "AWS access key id",
        "AWS secret access key",
        "Slack bot token" if "Slack bot token" in CREDENTIALS else "GitLab token",
        "RSA private key",
        "JSON Web Token" if "JSON Web Token" in CREDENTIALS else "Google API key",
        "password in a database URL",
    ],
)
@pytest.mark.parametrize("stack", ["prod", "staging", "local"])
def test_a_credential_in_a_plain_env_value_is_refused_naming_its_key(what: str, stack: str) -> None:
    config = copy.deepcopy(load_stack_config(stack))
    value = CREDENTIALS[what]
    llm(config)["env"]["UPSTREAM"] = value  # a name that says nothing
    found = [p for p in problems(config, stack) if "env.UPSTREAM" in p]
    assert len(found) == 1, problems(config, stack)
    assert found[0].startswith(f"{P}services.llm-server.env.UPSTREAM: looks like ")
    assert "move it to secrets: pulumi config set --secret --path 'secrets.<NAME>'" in found[0]
    assert value not in found[0] and value[:8] not in found[0]


def test_prod_with_secret_env_is_refused_too() -> None:
    config = copy.deepcopy(load_stack_config("prod"))
    assert llm(config)["secret_env"]  # the whole env becomes one secret on the container
    llm(config)["env"]["BACKUP_TARGET"] = CREDENTIALS["password in a database URL"]
    assert any(p.startswith(f"{P}services.llm-server.env.BACKUP_TARGET: looks like") for p in problems(config))


@pytest.mark.parametrize(
    ("where", "key"),
    [
        (lambda c, v: llm(c)["docker"].__setitem__("command", ["serve", "--upstream", v]), "docker.command[2]"),
        (
            lambda c, v: (
                c[f"{P}labels"].update(owner=v) if f"{P}labels" in c else c.__setitem__(f"{P}labels", {"owner": v})
            ),
            None,
        ),
    ],
)
def test_command_args_and_labels_are_scanned(where: Any, key: str | None) -> None:
    config = copy.deepcopy(load_stack_config("prod"))
    where(config, CREDENTIALS["GitHub fine-grained token"])
    expected = f"{P}services.llm-server.{key}" if key else f"{P}labels.owner"
    assert any(p.startswith(f"{expected}: looks like a") for p in problems(config)), problems(config)


@pytest.mark.parametrize("name", ["DB_PASS", "SMTP_PWD", "APIKEY", "SENTRY_DSN", "DB_PASSWORD"])
def test_a_secret_sounding_variable_is_refused_whatever_its_value(name: str) -> None:
    config = copy.deepcopy(load_stack_config("staging"))
    llm(config)["env"][name] = "hunter2"
    (found,) = problems(config, "staging")
    assert found.startswith(f"{P}services.llm-server.env.{name}: looks like a secret, by its name {name}")
    assert "hunter2" not in found


def test_a_value_that_only_looks_like_one_can_be_declared_public() -> None:
    config = copy.deepcopy(load_stack_config("staging"))
    llm(config)["env"]["STRIPE_PK"] = CREDENTIALS["high-entropy hex (40)"]
    assert problems(config, "staging")
    config[f"{P}public_values"] = ["services.llm-server.env.STRIPE_PK"]
    assert problems(config, "staging") == []


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_what_this_program_really_passes_is_no_credential(text: str) -> None:
    config = copy.deepcopy(load_stack_config("staging"))
    llm(config)["env"]["SOMETHING"] = text
    assert problems(config, "staging") == []


@pytest.mark.parametrize("name", ["PRIMARY_REGION", "FLY_PROCESS_GROUP", "FLY_REGION", "RELEASE_COMMAND"])
def test_an_env_name_fly_sets_itself_is_refused_for_a_fly_service(name: str) -> None:
    """flyctl v0.4.87 and Fly's init overwrite these on every machine: the value would vanish silently."""
    config = copy.deepcopy(load_stack_config("staging"))
    config[f"{P}services"]["image-descriptor"]["env"][name] = "x"
    (found,) = problems(config, "staging")
    assert found.startswith(f"{P}services.image-descriptor: env.{name}: Fly sets {name} itself on every machine")
    llm(config)["env"][name] = "x"  # a Docker service may use the name
    assert len(problems(config, "staging")) == 1


def test_a_nul_in_a_plain_env_value_is_refused_as_for_secrets() -> None:
    config = copy.deepcopy(load_stack_config("staging"))
    config[f"{P}services"]["image-descriptor"]["env"]["BANNER"] = "a\0b"
    (found,) = problems(config, "staging")
    assert found.startswith(f"{P}services.image-descriptor.env: BANNER holds a NUL byte")


def _counting_detector(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the detector is asked about, from now on."""
    from service_infra import credentials
    from service_infra.settings import plain_credentials

    asked: list[str] = []

    def counting(text: str) -> str | None:
        asked.append(text)
        return credentials.credential_kind(text)

    monkeypatch.setattr(plain_credentials, "credential_kind", counting)
    return asked


def test_values_found_clean_are_not_scanned_again_outside_prod(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unchanged stack file is scanned once per machine: a clean value is remembered, keyed by
    the detector's version and rules; a credential is refused at every run; prod scans every time."""
    from service_infra.settings.plain_credentials import plain_credential_problems

    monkeypatch.setenv("SERVICE_INFRA_CACHE", str(tmp_path / "cache"))
    asked = _counting_detector(monkeypatch)
    config = {"services": {"api": {"image": "ghcr.io/acme/api", "env": {"GREETING": "hello"}}}}
    assert plain_credential_problems(config) == []
    assert sorted(asked) == ["ghcr.io/acme/api", "hello"]
    asked.clear()
    assert plain_credential_problems(config) == []
    assert asked == []  # remembered
    assert plain_credential_problems(config, remember=False) == []
    assert sorted(asked) == ["ghcr.io/acme/api", "hello"]  # prod's way: every value, every time

    token = CREDENTIALS["GitHub fine-grained token"]
    leaked = {"services": {"api": {"env": {"GREETING": token}}}}
    for _ in range(2):
        asked.clear()
        assert len(plain_credential_problems(leaked)) == 1
        assert asked == [token]  # never remembered


def test_a_new_detector_does_not_trust_old_answers(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from service_infra import credentials
    from service_infra.settings import plain_credentials

    monkeypatch.setenv("SERVICE_INFRA_CACHE", str(tmp_path / "cache"))
    token = CREDENTIALS["GitHub fine-grained token"]
    # An answer planted for this value, as an older detector (or whoever writes the cache) would leave it.
    from service_infra.machine_cache import Remembered

    Remembered("clean-plain-values", "an older detector").add(token)
    assert len(plain_credentials.plain_credential_problems({"env": {"GREETING": token}})) == 1
    # Under this detector's own version it would be believed, which is why prod never reads it.
    Remembered("clean-plain-values", credentials.detector_version()).add(token)
    assert plain_credentials.plain_credential_problems({"env": {"GREETING": token}}) == []
    found = problems({**load_stack_config("prod"), f"{P}notes": token}, "prod")
    assert any(line.startswith(f"{P}notes: looks like a") for line in found), found
