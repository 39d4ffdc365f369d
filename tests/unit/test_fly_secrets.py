"""Secrets reach Fly byte-exact: each value's line is one that flyctl's own parser stores unchanged.

The expected values come from tests/fakes/fly/secrets_table.json: flyctl's parser.go (the commit named in
the table) run on every case and encoding by tests/fakes/fly/secrets_oracle.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service_infra.commands.fly import UnsafeSecretError, secret_line, secrets_stdin
from tests.fakes.fly.app_secrets import parse_secrets
from tests.fakes.fly.secret_cases import CASES, ENCODINGS, NAME

TABLE = json.loads((Path(__file__).parents[1] / "fakes" / "fly" / "secrets_table.json").read_text())

# Cases the parser stores exactly but the program refuses all the same, and why: the app gets each
# secret as an environment variable, which cannot hold a NUL byte.
REFUSED_PAST_THE_PARSER = {"nul byte": "NUL byte, which no process environment can carry"}


def exact_encodings(label: str) -> set[str]:
    """The encodings the real parser stored byte-exact, without losing the secret after it."""
    return {e for e, found in TABLE["cases"][label].items() if found["stored"] == "same" and found["after_kept"]}


def test_the_table_is_from_the_pinned_flyctl_and_large_enough() -> None:
    assert TABLE["flyctl"]["version"] == "v0.4.87"
    assert len(TABLE["flyctl"]["commit"]) == 40
    assert set(TABLE["cases"]) == set(CASES) and len(CASES) >= 30
    deploy = (Path(__file__).parents[2] / ".github" / "workflows" / "deploy.yml").read_text()
    assert 'FLYCTL_VERSION: "0.4.87"' in deploy


@pytest.mark.parametrize("label", sorted(CASES))
def test_each_value_is_sent_in_an_encoding_flyctl_stores_exactly_or_refused(label: str) -> None:
    value, exact = CASES[label], exact_encodings(label)
    try:
        line = secret_line(NAME, value)
    except UnsafeSecretError as refused:
        assert str(refused).startswith(f"service-infra:secrets.{NAME}: ")
        if label in REFUSED_PAST_THE_PARSER:
            assert REFUSED_PAST_THE_PARSER[label] in str(refused)
            return
        assert not exact, f"{label}: refused, but flyctl stores it exactly as {sorted(exact)}"
        return
    assert label not in REFUSED_PAST_THE_PARSER, f"{label}: sent as {line!r}, but the app could not read it back"
    used = [e for e in ENCODINGS if line == f"{NAME}={ENCODINGS[e](value)}"]
    assert used and used[0] in exact, f"{label}: sent as {used}, flyctl stores it exactly only as {sorted(exact)}"


@pytest.mark.parametrize(
    ("label", "why"),
    [
        ("crlf lines", "CRLF"),
        ("pem key with crlf", "CRLF"),
        ("quote then hash on the first line", "first line at '#'"),
        ("first line ends with three quotes", 'ending in """'),
        ("middle line ends with three quotes", 'ending in """'),
        ("70 KiB line", "longer than 65535 bytes"),
        ("nul byte", r"NUL byte, which no process environment can carry .* encoded \(e\.g\. base64\)"),
    ],
)
def test_refusals_name_the_secret_and_why(label: str, why: str) -> None:
    with pytest.raises(UnsafeSecretError, match=rf"^service-infra:secrets\.DB_URL: .*{why}") as refused:
        secrets_stdin({"A": "1", "DB_URL": CASES[label]})
    assert refused.value.name == "DB_URL"


def test_all_accepted_values_together_round_trip_through_one_stdin() -> None:
    accepted = {}
    for index, label in enumerate(sorted(CASES)):
        if exact_encodings(label) and label not in REFUSED_PAST_THE_PARSER:
            accepted[f"S{index}"] = CASES[label]
    assert len(accepted) >= 40
    assert parse_secrets(secrets_stdin(accepted).encode()) == accepted


def test_readable_encodings_when_nothing_forces_another() -> None:
    assert secrets_stdin({"B": " two words", "A": "x#y", "C": "plain"}) == 'A="x#y"\nB=" two words"\nC="plain"\n'
    assert secret_line("K", '"quoted"') == 'K=""quoted""'
    assert secret_line("K", '""x') == 'K=""x'
    assert secret_line("K", '"a#') == 'K="a#'
    assert secret_line("K", '"a#"') == "K='\"a#\"'"
    assert secret_line("K", '""x#') == 'K="""""x#"""'
    assert secret_line("K", "a\nb") == 'K="""a\nb"""'
