"""Which secret values flyctl's `secrets import` (v0.4.87) stores byte-exact, and how to write
them: the settings refuse the others before anything runs (loader.check_secret_values), and the
Fly secrets command builds its stdin with the same function (commands/fly.py).
"""

from __future__ import annotations

from service_infra.settings.base import NUL_IN_ENVIRONMENT

# flyctl reads stdin with a bufio.Scanner: a longer line (and every line after it) is silently lost.
MAX_LINE_BYTES = 64 * 1024 - 1


class UnsafeSecretError(ValueError):
    """flyctl's `secrets import` parser cannot store this value byte-exact in any encoding."""

    def __init__(self, name: str, why: str) -> None:
        self.name = name
        super().__init__(f"service-infra:secrets.{name}: {why}; nothing was sent to Fly")


def _no_comment(encoded: str) -> bool:
    # parser.go cuts the value at the first "#" when an even number of '"' precede it.
    head, hashed, _ = encoded.partition("#")
    return not hashed or head.count('"') % 2 == 1


def _one_line(value: str) -> list[str]:
    """Encodings parser.go stores as `value` exactly, most readable first (flyctl v0.4.87)."""
    bare_kept = not (
        value.startswith((" ", '"""'))  # leading spaces are trimmed; """ opens a multi-line value
        or value.endswith("\r")  # the scanner drops a "\r" before the newline
        or (value[:1] in ('"', "'") and value.endswith(value[:1]))  # outer quotes go (a lone one panics)
    )
    double = f'"{value}"'  # "..." loses one pair of quotes; a value starting '""' reads as """
    double_kept = _no_comment(double) and not double.startswith('"""')
    candidates = [double] if double_kept and '"' not in value else []  # quoted, unless it holds quotes
    if bare_kept and _no_comment(value):
        candidates.append(value)
    if double_kept:
        candidates.append(double)
    if _no_comment(single := f"'{value}'"):
        candidates.append(single)
    if _no_comment(triple := f'"""{value}"""'):
        candidates.append(triple)
    return candidates


def _many_lines(name: str, value: str) -> str:
    """The only multi-line form, \"\"\"...\"\"\", or why parser.go would not store it exactly."""
    lines = value.split("\n")
    if any(line.endswith("\r") for line in lines[:-1]):
        raise UnsafeSecretError(name, "has CRLF line ends, and flyctl drops each line's \\r; convert it to LF")
    if not _no_comment('"""' + lines[0]):
        raise UnsafeSecretError(name, "flyctl would cut its first line at '#' (it follows an odd number of '\"')")
    if lines[0].endswith('"""') or any(line.endswith('"""') for line in lines[1:-1]):
        raise UnsafeSecretError(name, 'a line ending in """ would end the value there and corrupt the secrets after it')
    return f'"""{value}"""'


def secret_line(name: str, value: str) -> str:
    """The NAME=VALUE line that `fly secrets import` (flyctl v0.4.87) stores as exactly `value`.

    flyctl's parser (internal/command/secrets/parser.go) strips leading spaces and one pair of outer
    quotes, cuts at a "#" after an even number of '"', treats a leading \"\"\" as a multi-line
    value, drops "\r" at line ends, panics on a lone quote and silently stops at a line of 64 KiB.
    Each value gets an encoding that survives all of that, or UnsafeSecretError says why none does;
    a NUL byte, which the parser keeps, is refused too: no environment variable can hold it.
    tests/fakes/fly/secrets_table.json holds what the real parser stored for each case.
    """
    try:
        value.encode()
    except UnicodeEncodeError:
        raise UnsafeSecretError(name, "is not valid UTF-8") from None
    if "\0" in value:  # flyctl's parser keeps it, but the app could never read it back whole
        raise UnsafeSecretError(
            name, NUL_IN_ENVIRONMENT.format(where="the app gets each secret as an environment variable")
        )
    encodings = [_many_lines(name, value)] if "\n" in value else _one_line(value)
    lines = [f"{name}={encoded}" for encoded in encodings]
    fitting = [line for line in lines if max(len(part.encode()) for part in line.split("\n")) <= MAX_LINE_BYTES]
    if not fitting:
        raise UnsafeSecretError(name, f"flyctl silently drops a line longer than {MAX_LINE_BYTES} bytes, and the rest")
    return fitting[0]
