"""What the operator commands print for a person: lines that fit a 100-column terminal.

`--json` keeps every value whole; a person's table shortens what only a script compares: a
digest to its first 12 hex digits (as `docker images` shows an ID), a time to the second; a
table row that would still run past the width ends in an ellipsis, and a sentence (a problem, a
probe's answer) wraps under its label instead, whole.
"""

from __future__ import annotations

import textwrap

WIDTH = 100
SHORT_DIGEST = len("sha256:") + 12


def short_digest(digest: str | None) -> str:
    return digest[:SHORT_DIGEST] if digest else "-"


def short_time(timestamp: str | None) -> str:
    """`2026-12-06T08:00:00.123456789Z` as `2026-12-06 08:00:00`."""
    return (timestamp or "-")[:19].replace("T", " ")


def fit(line: str, width: int = WIDTH) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"


def wrapped(label: str, text: str, width: int = WIDTH) -> list[str]:
    """TEXT after LABEL, wrapped to WIDTH with its continuation lines under the text."""
    indent = " " * len(label)
    return textwrap.wrap(text, width, initial_indent=label, subsequent_indent=indent, break_on_hyphens=False) or [
        label.rstrip()
    ]
