"""Adversarial secret values and the ways a NAME=VALUE line can carry them to `fly secrets import`.

``secrets_table.json`` records, for each value and each encoding, what flyctl's own parser
(internal/command/secrets/parser.go) stores; ``secrets_oracle.py`` regenerates it from a flyctl checkout.
"""

from __future__ import annotations

from collections.abc import Callable

KIB = 1024
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACDx3Dk1YjJ5Qm9Vb3hZc2p5c3R1ZmYrL2E9PQAAAJgAAAAAAAAAAAAAAAtz\n"
    "c2gtZWQyNTUxOQAAACDx3Dk1YjJ5Qm9Vb3hZc2p5c3R1ZmYrL2E9PQAAAEA=\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)

# label -> value. Labels are the table's keys; keep them stable.
CASES: dict[str, str] = {
    "empty": "",
    "plain": "hello",
    "double quotes at both ends": '"hello"',
    "double quote at the start": '"hello',
    "double quote at the end": 'hello"',
    "single quotes at both ends": "'hello'",
    "single quote at the start": "'hello",
    "lone double quote": '"',
    "lone single quote": "'",
    "two double quotes": '""',
    "three double quotes": '"""',
    "triple-quoted word": '"""abc"""',
    "starts with three double quotes": '"""abc',
    "starts with two double quotes": '""abc',
    "leading spaces": "  lead",
    "trailing spaces": "trail  ",
    "only spaces": "   ",
    "leading tab": "\tlead",
    "hash inside": "a#b",
    "hash first": "#comment-like",
    "spaced hash": "a # b",
    "quoted then hash": '"a"#b',
    "odd quote before hash": 'a"#b',
    "single-quoted with hash": "'a#b'",
    "equals inside": 'a="b"=c',
    "json with hash": '{"url": "https://x/#frag", "n": 1}',
    "backslashes": "a\\nb\\\\c",
    "trailing carriage return": "abc\r",
    "inner carriage return": "a\rb",
    "nul byte": "a\x00b",
    "unicode": "héllo wörld ✓ 🙂 \U0001d518",
    "line separator": "a\u2028b\u0085c",
    "two lines": "line1\nline2",
    "crlf lines": "line1\r\nline2",
    "leading newline": "\nabc",
    "trailing newline": "abc\n",
    "quote then hash on the first line": 'say "hi # there\nline2',
    "first line ends with three quotes": 'a"""\nb',
    "middle line ends with three quotes": 'a\nb"""\nc',
    "last line ends with a quote": 'a\nb"',
    "hash-started second line": "a\n# not a comment\nb",
    "pem key": PEM,
    "pem key with crlf": PEM.replace("\n", "\r\n"),
    "60 KiB line": "x" * (60 * KIB),
    "longest line": "y" * (64 * KIB - 1 - len('NAME=""')),
    "one byte too long": "z" * (64 * KIB - len('NAME=""')),
    "70 KiB line": "w" * (70 * KIB),
    "70 KiB of short lines": ("v" * 99 + "\n") * (70 * KIB // 100),
}

NAME = "NAME"  # every case is imported under this name, with AFTER=after on the following line
AFTER = "AFTER"

# encoding -> the text after "NAME=" on flyctl's stdin
ENCODINGS: dict[str, Callable[[str], str]] = {
    "bare": lambda v: v,
    "double": lambda v: f'"{v}"',
    "single": lambda v: f"'{v}'",
    "triple": lambda v: f'"""{v}"""',
}


def stdin_for(value: str, encoding: str) -> str:
    return f"{NAME}={ENCODINGS[encoding](value)}\n{AFTER}=after\n"
