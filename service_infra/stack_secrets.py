"""Refuse to run staging or prod while their secrets are encrypted with the published example
passphrase: anyone who read the README could decrypt them.

Pulumi's passphrase secrets manager keeps `encryptionsalt: v1:<salt>:<"pulumi" encrypted>` in
the stack file (pkg/v3 secrets/passphrase and sdk/v3 go/common/resource/config/crypt.go: the key
is PBKDF2-HMAC-SHA256 of the passphrase, 1,000,000 rounds, 32 bytes; values are
`v1:<nonce>:<AES-256-GCM ciphertext>`). If the example passphrase opens that check value, the
stack uses it. Beyond that check value, only `python -m service_infra check` decrypts, with the
user's own passphrase, to check the secret values offline (secret_values).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path

import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from service_infra.contract import PROJECT
from service_infra.machine_cache import Remembered

# The passphrase the committed example stacks are encrypted with. It is published, so staging
# and prod refuse to run while their secrets are encrypted with it.
EXAMPLE_PASSPHRASE = "service-infra-example"

PBKDF2_ROUNDS = 1_000_000
KEY_BYTES = 32
CHECK_PLAINTEXT = b"pulumi"


class ExamplePassphraseError(Exception):
    """The stack's secrets are encrypted with the published example passphrase."""


def stack_key(passphrase: str, encryption_salt: str) -> bytes | None:
    """The key of the stack's secure values, if `passphrase` is the one `encryptionsalt` was made with."""
    parts = encryption_salt.split(":")
    if len(parts) != 5 or parts[0] != "v1":
        return None
    try:
        salt = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return None
    key = hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, PBKDF2_ROUNDS, KEY_BYTES)
    return key if decrypt(key, ":".join(parts[2:])) == CHECK_PLAINTEXT.decode() else None


def decrypt(key: bytes, secure: str) -> str | None:
    """A `secure: v1:<nonce>:<ciphertext>` value's plaintext, or None if the key does not open it."""
    parts = secure.split(":")
    if len(parts) != 3 or parts[0] != "v1":
        return None
    try:
        nonce, sealed = (base64.b64decode(part, validate=True) for part in parts[1:])
        return AESGCM(key).decrypt(nonce, sealed, None).decode()
    except (binascii.Error, InvalidTag, ValueError):
        return None


def opens_with(passphrase: str, encryption_salt: str) -> bool:
    """Whether `passphrase` is the one the stack file's `encryptionsalt` was made with."""
    return stack_key(passphrase, encryption_salt) is not None


def secret_values(stack_file: Path, passphrase: str) -> dict[str, str] | None:
    """The stack file's `service-infra:secrets` values in plain text, for offline checks only (never
    printed); None when the file has no passphrase-encrypted secrets or `passphrase` does not open them."""
    salt = encryption_salt(stack_file)
    key = stack_key(passphrase, salt) if salt else None
    if key is None:
        return None
    document = yaml.safe_load(stack_file.read_text()) or {}
    secrets = (document.get("config") or {}).get(f"{PROJECT}:secrets") or {}
    values: dict[str, str] = {}
    for name, stored in secrets.items() if isinstance(secrets, dict) else ():
        if isinstance(stored, dict) and isinstance(stored.get("secure"), str):
            plain = decrypt(key, stored["secure"])
            if plain is not None:
                values[str(name)] = plain
        elif isinstance(stored, str):
            values[str(name)] = stored
    return values


def encryption_salt(stack_file: Path) -> str | None:
    """The stack file's `encryptionsalt`, if it uses the passphrase secrets manager."""
    if not stack_file.is_file():
        return None
    document = yaml.safe_load(stack_file.read_text()) or {}
    salt = document.get("encryptionsalt") if isinstance(document, dict) else None
    return salt if isinstance(salt, str) else None


def _example_opens(salt: str, remember: bool) -> bool:
    """Whether the example passphrase opens this salt (`opens_with`); with REMEMBER, a "no" is
    remembered on this machine.

    The PBKDF2 derivation costs most of a second on every preview and up; a salt's answer never
    changes (a new passphrase writes a new salt), and the salt is public, so a "no" is kept
    (`Remembered`: only the "no", and prod never reads it)."""
    if not remember:
        return opens_with(EXAMPLE_PASSPHRASE, salt)
    checked = Remembered("checked-salts")
    if salt in checked:
        return False
    if opens_with(EXAMPLE_PASSPHRASE, salt):
        return True
    checked.add(salt)
    return False


def refuse_example_passphrase(stack: str, project_dir: Path, remember: bool = True) -> None:
    """Raise when Pulumi.<stack>.yaml is encrypted with the published example passphrase; without
    REMEMBER (prod), derived every time, whatever a cache says."""
    salt = encryption_salt(project_dir / f"Pulumi.{stack}.yaml")
    if salt and _example_opens(salt, remember):
        raise ExamplePassphraseError(
            f"the secrets of stack {stack} are encrypted with the published example passphrase, which anyone "
            f"can read in the README; nothing was changed. Rotate it, then set every secret again:\n"
            f"  PULUMI_CONFIG_PASSPHRASE={EXAMPLE_PASSPHRASE} pulumi stack change-secrets-provider passphrase "
            f"-s {stack}   (enter the new passphrase when asked)"
        )
