"""Whether a value looks like a credential (`credential_kind`, by Yelp's detect-secrets) or a
name says it holds one (`is_secret_name`): one detector for the settings (every plain value of a
stack file, refused before anything is touched) and the policy pack (what reaches resources).

detect-secrets keeps the signatures (AWS, GitHub, GitLab, Slack, Stripe, JWT, private keys, ...)
and the high-entropy heuristics; this module only configures it. It runs offline: verification,
the one feature that calls the providers' APIs, is switched off. Values that are public by
construction but read as random (image digests, sha- tags, UUIDs, SSH public keys, publishable
keys; file paths for the entropy heuristics) are masked before the scan. tests/policy/credential_corpus.py is the corpus it is measured on.
"""

from __future__ import annotations

import functools
import hashlib
import re
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from detect_secrets.plugins.base import BasePlugin

# Names are judged by is_secret_name below; an IP address is no credential.
_UNUSED_PLUGINS = frozenset({"KeywordDetector", "IPPublicDetector"})
_VERIFICATION_FILTER = "detect_secrets.filters.common.is_ignored_due_to_verification_policies"
# Unquoted, every word is an entropy candidate: a hex word of 9 distinct digits (a container id,
# a short commit) already passes the hex limit. Generated secrets are longer than this.
_MIN_RANDOM_LENGTH = 20

_PUBLIC = re.compile(
    r"\b(?:ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]+"  # SSH public keys
    r"|\bsha256:[0-9a-f]{64}\b"  # image ids and digests
    r"|\bsha-[0-9a-f]{7,40}\b"  # the program's image tags
    r"|\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b"  # UUIDs
    r"|\bpk_(?:live|test)_[0-9a-z]+",  # Stripe publishable keys, public by design
    re.IGNORECASE,
)
# Absolute file paths (ssh -i's identity file): a temp dir's random suffix reads as entropy. Masked
# for the entropy heuristics only, so a named token behind a slash is still found.
_PATHS = re.compile(r"(?<![\w:/])/(?:[\w.-]+/)*[\w.-]+")

# How a message names what was found (detect-secrets' type name otherwise).
_KINDS = {
    "AWS Access Key": "an AWS access key id",
    "Basic Auth Credentials": "a password in a URL",
    "GitHub Token": "a GitHub token",
    "GitLab Token": "a GitLab token",
    "JSON Web Token": "a JSON Web Token",
    "Private Key": "a private key",
    "Slack Token": "a Slack token",
    "Base64 High Entropy String": "a high-entropy token",
    "Hex High Entropy String": "a high-entropy token",
}


@functools.cache
def detector_version() -> str:
    """What credential_kind's answers depend on: detect-secrets' version and this module's rules."""
    rules = Path(__file__).read_bytes()
    return hashlib.sha256(version("detect-secrets").encode() + b"\0" + rules).hexdigest()[:16]


@functools.cache
def _plugins() -> dict[str, BasePlugin]:
    """detect-secrets' plugins by secret type, configured once for this process. Imported here,
    not with this module: with requests, which it brings, it costs a tenth of a second or more,
    and a stack whose plain values were all judged before does not need it (plain_credentials)."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.settings import get_plugins, get_settings

    settings = get_settings()
    settings.configure_plugins(
        [
            {"name": plugin.__name__}
            for plugin in get_mapping_from_secret_type_to_class().values()
            if plugin.__name__ not in _UNUSED_PLUGINS
        ]
    )
    settings.disable_filters(_VERIFICATION_FILTER)  # never call a provider's API
    return {plugin.secret_type: plugin for plugin in get_plugins()}


def _found(plugin: BasePlugin, value: str | None) -> bool:
    from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin

    # scan_line reports every unquoted run for the entropy plugins and leaves the limit to us.
    if isinstance(plugin, HighEntropyStringsPlugin):
        return (
            value is not None
            and len(value) >= _MIN_RANDOM_LENGTH
            and plugin.calculate_shannon_entropy(value) > plugin.entropy_limit
        )
    return True


def credential_kind(text: str) -> str | None:
    """What a value looks like when it looks like a credential, else None. Never returns the value."""
    plugins = _plugins()
    from detect_secrets.core.scan import scan_line
    from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin

    def found_in(masked: str, by_entropy: bool) -> list[str]:
        return [
            found.type
            for line in masked.splitlines()
            for found in scan_line(line)
            if isinstance(plugins[found.type], HighEntropyStringsPlugin) == by_entropy
            and _found(plugins[found.type], found.secret_value)
        ]

    public = _PUBLIC.sub(" ", text)
    types = found_in(public, by_entropy=False) + found_in(_PATHS.sub(" ", public), by_entropy=True)
    if not types:
        return None
    # A named signature says more than entropy does.
    specific = [t for t in types if not isinstance(plugins[t], HighEntropyStringsPlugin)]
    secret_type = (specific or types)[0]
    return _KINDS.get(secret_type, f"a secret ({secret_type})")


# PASSWORD and its kin anywhere in a name (PASS, PWD and DSN as whole words: DB_PASS, SMTP_PWD,
# SENTRY_DSN); TOKEN, SECRET, CREDENTIALS and KEY as whole words, APIKEY anywhere (MAX_TOKENS is
# not a secret; SUPABASE_SERVICE_KEY is). Names that point at or describe a secret (..._FILE,
# ..._URL, ..._NAME, TOKEN_LIMIT) are not secrets themselves.
_SECRET_WORDS = re.compile(
    r"PASSWORD|PASSWD|PASSPHRASE|APIKEY"
    r"|(?:^|_)(?:TOKEN|SECRET|CREDENTIALS?|PRIVATE_KEY|AUTH|PASS|PWD|DSN)(?:_|$)|(?:^|_)KEY$"
)
_NOT_SECRET_NAME = re.compile(
    r"_(?:FILE|PATH|DIR|URL|URI|NAME|NAMES|ID|ENDPOINT|HOST|HEADER|TYPE|ALGORITHM|TTL|EXPIRY|LENGTH"
    r"|LIMIT|COUNT|SIZE|MAX|MIN|TIMEOUT)$"
    r"|(?:PUBLIC|PUBLISHABLE)_KEY$"
)


def is_secret_name(name: str) -> bool:
    """Whether a variable's name says it holds a secret."""
    upper = name.upper()
    if _NOT_SECRET_NAME.search(upper):
        return False
    return bool(_SECRET_WORDS.search(upper))
