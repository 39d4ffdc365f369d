"""The credential detector (detect-secrets, configured by service_infra/credentials.py) on the corpus.

Measured when it replaced the hand-kept patterns: detect-secrets caught 30/30 credentials with
1/32 false positives; the old patterns caught 28/30 (no hex tokens) with 2/32.
"""

from __future__ import annotations

import socket

import pytest

from service_infra.credentials import credential_kind
from tests.policy.credential_corpus import CREDENTIALS, LOOK_ALIKES, Sample

# A PEM public key's body is random-looking base64 on a line of its own: the scan, line by line,
# cannot see its BEGIN PUBLIC KEY header. Public keys belong in plain config rarely enough.
KNOWN_FALSE_POSITIVES = {"public key PEM"}


@pytest.mark.parametrize("sample", CREDENTIALS, ids=lambda s: s.what)
def test_every_credential_is_caught(sample: Sample) -> None:
    kind = credential_kind(sample.text)
    assert kind is not None
    assert sample.text not in kind, "the kind never repeats the value"


@pytest.mark.parametrize(
    "sample", [s for s in LOOK_ALIKES if s.what not in KNOWN_FALSE_POSITIVES], ids=lambda s: s.what
)
def test_look_alikes_pass(sample: Sample) -> None:
    assert credential_kind(sample.text) is None


def test_the_measured_false_positives() -> None:
    assert {s.what for s in LOOK_ALIKES if credential_kind(s.text)} == KNOWN_FALSE_POSITIVES


@pytest.mark.parametrize(
    ("what", "kind"),
    [
        ("AWS access key id", "an AWS access key id"),
        ("GitHub classic token", "a GitHub token"),
        ("Slack bot token", "a Slack token"),
        ("RSA private key", "a private key"),
        ("JWT", "a JSON Web Token"),
        ("high-entropy hex (40)", "a high-entropy token"),
        ("password in a database URL", "a password in a URL"),
        ("Stripe secret key", "a secret (Stripe Access Key)"),
    ],
)
def test_a_named_signature_wins_over_entropy(what: str, kind: str) -> None:
    (sample,) = [s for s in CREDENTIALS if s.what == what]
    assert credential_kind(sample.text) == kind


def test_the_detector_never_goes_online(monkeypatch: pytest.MonkeyPatch) -> None:
    # detect-secrets can verify a secret against its provider's API; the pack must not.
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the credential detector opened a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert all(credential_kind(s.text) for s in CREDENTIALS)
