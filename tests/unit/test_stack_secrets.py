"""Staging and prod refuse to run with the published example passphrase (which decrypts the
committed example stacks); local may."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service_infra import preflight, stack_secrets
from service_infra.machine_cache import Remembered
from service_infra.settings import load_stack_file
from service_infra.stack_secrets import (
    EXAMPLE_PASSPHRASE,
    ExamplePassphraseError,
    encryption_salt,
    opens_with,
    refuse_example_passphrase,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_stacks_are_recognised_as_example_encrypted() -> None:
    salt = encryption_salt(ROOT / "Pulumi.prod.yaml")
    assert salt is not None
    assert opens_with(EXAMPLE_PASSPHRASE, salt)
    assert not opens_with("a-passphrase-of-our-own", salt)


@pytest.mark.parametrize("salt", ["", "v1:abc", "v2:AAAA:v1:AAAA:AAAA", "v1:!!:v1:AAAA:AAAA", "v1:AAAA:v1:AAAA:AAAA"])
def test_malformed_salts_are_not_the_example(salt: str) -> None:
    assert not opens_with(EXAMPLE_PASSPHRASE, salt)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_refuse_the_example_passphrase_with_the_rotation_command(stack: str) -> None:
    config = load_stack_file(ROOT / f"Pulumi.{stack}.yaml")
    with pytest.raises(ExamplePassphraseError) as refused:
        preflight.check_before_changes(config, stack, ROOT)
    message = str(refused.value)
    assert f"the secrets of stack {stack} are encrypted with the published example passphrase" in message
    assert f"pulumi stack change-secrets-provider passphrase -s {stack}" in message


def test_local_may_use_it() -> None:
    config = load_stack_file(ROOT / "Pulumi.local.yaml")
    preflight.check_before_changes(config, "local", ROOT)  # local has no SSH hosts to check


def test_a_stack_with_its_own_passphrase_passes(tmp_path: Path) -> None:
    # The same layout Pulumi writes, made with another passphrase by the real engine in the
    # integration tests; here: a file without an encryptionsalt (another secrets provider).
    (tmp_path / "Pulumi.prod.yaml").write_text("config: {}\n")
    refuse_example_passphrase("prod", tmp_path)
    assert encryption_salt(tmp_path / "Pulumi.absent.yaml") is None


def test_a_salt_the_example_does_not_open_is_derived_once_and_a_refusal_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVICE_INFRA_CACHE", str(tmp_path / "cache"))
    derivations: list[bytes] = []
    real = stack_secrets.hashlib.pbkdf2_hmac

    def counted(*args: Any) -> bytes:
        derivations.append(args[2])
        return real(*args)

    monkeypatch.setattr(stack_secrets.hashlib, "pbkdf2_hmac", counted)
    own = tmp_path / "own"
    own.mkdir()
    # A salt of another passphrase: the example's key cannot open its check value.
    (own / "Pulumi.staging.yaml").write_text(
        "encryptionsalt: v1:c2FsdHNhbHQ=:v1:AAAAAAAAAAAAAAAA:c2VhbGVkc2VhbGVkc2VhbGVk\n"
    )
    for _ in range(3):
        refuse_example_passphrase("staging", own)
    assert len(derivations) == 1

    for _ in range(2):
        with pytest.raises(ExamplePassphraseError):
            refuse_example_passphrase("staging", ROOT)
    assert len(derivations) == 3


def test_prod_never_trusts_a_planted_cache_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A "not the example" marker for prod's salt, planted by whoever can write the cache (a
    restored CI cache, another job on the runner): staging would skip the derivation, prod does not."""
    monkeypatch.setenv("SERVICE_INFRA_CACHE", str(tmp_path / "cache"))
    salt = encryption_salt(ROOT / "Pulumi.prod.yaml")
    assert salt is not None
    Remembered("checked-salts").add(salt)
    assert any((tmp_path / "cache" / "checked-salts").iterdir())
    refuse_example_passphrase("prod", ROOT)  # the planted "no" is believed where remembering is allowed
    with pytest.raises(ExamplePassphraseError):
        refuse_example_passphrase("prod", ROOT, remember=False)
    config = load_stack_file(ROOT / "Pulumi.prod.yaml")
    monkeypatch.setattr(preflight, "check_docker_hosts", lambda _config: None)
    with pytest.raises(ExamplePassphraseError):
        preflight.check_before_changes(config, "prod", ROOT)
