"""`logs`: every secret value of the stack masked in what it prints; Fly through the `fly` stand-in."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

from service_infra.cli import logs
from tests.support import ROOT

FAKES = ROOT / "tests" / "fakes" / "fly"
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----"


def test_every_secret_value_of_the_stack_is_found_by_name() -> None:
    config = {
        "service-infra:secrets": {"secret": True, "value": json.dumps({"API_KEY": "k-123456789", "SSH_KEY": PEM})},
        "github:token": {"secret": True, "value": "ghp_abcdefghijklmnop"},
        "service-infra:environment": {"secret": False, "value": "staging"},
        "service-infra:other": {"secret": True, "objectValue": {"nested": ["n-1", "n-2"]}},
    }
    found = logs.stack_secret_values(config)
    assert found["API_KEY"] == "k-123456789" and found["SSH_KEY"] == PEM and found["token"] == "ghp_abcdefghijklmnop"
    assert found["nested[0]"] == "n-1" and "staging" not in found.values()
    # A key printed one line at a time is masked line by line; its armour lines are public.
    assert found["SSH_KEY line 2"] == "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
    assert "-----BEGIN PRIVATE KEY-----" not in {v for k, v in found.items() if k != "SSH_KEY"}


def test_what_a_command_prints_is_masked_line_by_line() -> None:
    out = io.StringIO()
    script = "printf 'key=k-123456789\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n'; echo err-k-123456789 >&2; exit 3"
    secrets = logs.stack_secret_values(
        {"s:secrets": {"secret": True, "objectValue": {"API_KEY": "k-123456789", "SSH": PEM}}}
    )
    assert logs.stream(["sh", "-c", script], secrets, out) == 3
    assert out.getvalue().splitlines() == ["key=[secret API_KEY]", "[secret SSH line 2]", "err-[secret API_KEY]"]


@pytest.fixture
def fly_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The committed staging stack, its Fly app's log buffer in the `fly` stand-in's state."""
    shutil.copy(ROOT / "Pulumi.staging.yaml", tmp_path)
    monkeypatch.chdir(tmp_path)
    state = tmp_path / "fly-state.json"
    app = "acme-image-descriptor-staging"
    entry = {"timestamp": "2026-12-06T08:00:00.5Z", "instance": "148e1", "region": "ams", "level": "info"}
    state.write_text(
        json.dumps(
            {
                "tokens": {"fly-token-value-1": ["personal"]},
                "apps": {app: {}},
                "logs": {app: [{**entry, "message": "started with GOOGLE_AI_API_KEY=g-secret-value-42"}]},
            }
        )
    )
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FLY_STANDIN_STATE", str(state))
    secrets = {"FLY_API_TOKEN": "fly-token-value-1", "GOOGLE_AI_API_KEY": "g-secret-value-42"}
    monkeypatch.setattr(logs, "read_secret_values", lambda stack: secrets)
    return tmp_path


def test_a_fly_service_logs_through_fly_with_the_stacks_token_masked(
    fly_stack: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert logs.main(["--stack", "staging", "--service", "image-descriptor"]) == 0
    out, err = capfd.readouterr()
    assert out.endswith("[info]started with GOOGLE_AI_API_KEY=[secret GOOGLE_AI_API_KEY]\n"), out
    assert "g-secret-value-42" not in out + err and "logs of the Fly app acme-image-descriptor-staging" in err


def test_an_empty_fly_buffer_ends_with_a_word_not_a_hang(
    fly_stack: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    state = fly_stack / "fly-state.json"
    state.write_text(json.dumps({**json.loads(state.read_text()), "logs": {}}))
    monkeypatch.setattr(logs, "FLY_NO_TAIL_SECONDS", 1)
    assert logs.main(["--stack", "staging", "--service", "image-descriptor"]) == 0
    assert "stayed empty for 1s" in capfd.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--service", "nope"], "Pulumi.staging.yaml has no service nope (its services: image-descriptor, llm-server)"),
        (["--service", "llm-server", "--since", "yesterday"], "--since 'yesterday': give a duration"),
        (["--service", "llm-server", "--tail", "-3"], "--tail '-3': give a number of lines, or all"),
        (["--service", "image-descriptor", "--since", "10m"], "--since and --tail are for Docker services"),
    ],
)
def test_bad_arguments_are_named(
    fly_stack: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert logs.main(["--stack", "staging", *args]) == 2
    assert message in capsys.readouterr().err


def test_without_the_passphrase_it_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(args: list[str]) -> str:
        raise logs.RollbackError("`pulumi config --show-secrets --json` failed: incorrect passphrase")

    monkeypatch.setattr(logs, "run_pulumi", refused)
    with pytest.raises(logs.LogsError, match=r"masks every secret value of prod.*PULUMI_CONFIG_PASSPHRASE"):
        logs.read_secret_values("prod")


def test_since_takes_what_docker_logs_takes() -> None:
    for good in ("10m", "1h30m", "90s", "2026-12-06", "2026-12-06T08:00:00Z", "1765000000"):
        assert logs.SINCE.match(good), good
    for bad in ("10 m", "10d", "yesterday", "; rm -rf /"):
        assert not logs.SINCE.match(bad), bad
