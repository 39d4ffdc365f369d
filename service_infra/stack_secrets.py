"""Refuse to run staging or prod while their secrets are encrypted with the published example
passphrase: anyone who read the README could decrypt them.

Pulumi's passphrase secrets manager keeps `encryptionsalt: v1:<salt>:<"pulumi" encrypted>` in
the stack file (pkg/v3 secrets/passphrase and sdk/v3 go/common/resource/config/crypt.go: the key
is PBKDF2-HMAC-SHA256 of the passphrase, 1,000,000 rounds, 32 bytes; values are
`v1:<nonce>:<AES-256-GCM ciphertext>`). If the example passphrase opens that check value, the
stack uses it. Nothing is decrypted beyond that check value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path

import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from service_infra.contract import EXAMPLE_PASSPHRASE

PBKDF2_ROUNDS = 1_000_000
KEY_BYTES = 32
CHECK_PLAINTEXT = b"pulumi"


class ExamplePassphraseError(Exception):
    """The stack's secrets are encrypted with the published example passphrase."""


def opens_with(passphrase: str, encryption_salt: str) -> bool:
    """Whether `passphrase` is the one the stack file's `encryptionsalt` was made with."""
    parts = encryption_salt.split(":")
    if len(parts) != 5 or parts[0] != "v1" or parts[2] != "v1":
        return False
    try:
        salt, nonce, sealed = (base64.b64decode(part, validate=True) for part in (parts[1], parts[3], parts[4]))
    except (binascii.Error, ValueError):
        return False
    key = hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, PBKDF2_ROUNDS, KEY_BYTES)
    try:
        return AESGCM(key).decrypt(nonce, sealed, None) == CHECK_PLAINTEXT
    except (InvalidTag, ValueError):
        return False


def encryption_salt(stack_file: Path) -> str | None:
    """The stack file's `encryptionsalt`, if it uses the passphrase secrets manager."""
    if not stack_file.is_file():
        return None
    document = yaml.safe_load(stack_file.read_text()) or {}
    salt = document.get("encryptionsalt") if isinstance(document, dict) else None
    return salt if isinstance(salt, str) else None


def refuse_example_passphrase(stack: str, project_dir: Path) -> None:
    """Raise when Pulumi.<stack>.yaml is encrypted with the published example passphrase."""
    salt = encryption_salt(project_dir / f"Pulumi.{stack}.yaml")
    if salt and opens_with(EXAMPLE_PASSPHRASE, salt):
        raise ExamplePassphraseError(
            f"the secrets of stack {stack} are encrypted with the published example passphrase, which anyone "
            f"can read in the README; nothing was changed. Rotate it, then set every secret again:\n"
            f"  PULUMI_CONFIG_PASSPHRASE={EXAMPLE_PASSPHRASE} pulumi stack change-secrets-provider passphrase "
            f"-s {stack}   (enter the new passphrase when asked)"
        )
