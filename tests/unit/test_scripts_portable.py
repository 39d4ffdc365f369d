"""The scripts run on a Mac workstation: macOS's bash 3.2 and BSD userland, not only GNU/Linux.

Each construct below works on Linux and fails (or does something else) on macOS. Linux-only
commands (dpkg, apt) may appear only in a Linux-only branch: a `Linux)` case arm, or the rest
of a script after a guard such as `[[ $(uname -s) == Linux ]] || die ...`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import ROOT

SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))

# name, pattern (on a line without its comment), why it fails on macOS
CONSTRUCTS: list[tuple[str, re.Pattern[str]]] = [
    ("stat -c (BSD stat takes -f)", re.compile(r"\bstat\s+(-[a-zA-Z]*c|--format)")),
    ("readlink -f (no -f before macOS 12.3)", re.compile(r"\breadlink\s+(-[a-zA-Z]*f|--canonicalize)")),
    (
        "sed -i without a suffix (BSD sed reads the next word as the suffix)",
        re.compile(r"\bsed\b.*\s(-i|--in-place)(\s|$)"),
    ),
    ("associative arrays (bash 4)", re.compile(r"\b(declare|local|typeset)\s+-[a-zA-Z]*A")),
    ("mapfile/readarray (bash 4)", re.compile(r"\b(mapfile|readarray)\b")),
    ("case conversion ${x,,} ${x^^} (bash 4)", re.compile(r"\$\{[^}]*(,,|\^\^|,\}|\^\})")),
]
SHA256SUM = re.compile(r"\bsha256sum\b")  # macOS has shasum -a 256
LINUX_ONLY_COMMAND = re.compile(r"(^|[\s;|&(])(dpkg|apt-get|apt|debootstrap)(\s|$)")
REST_IS_LINUX_ONLY = re.compile(r"uname -s\)?\"?\s*==?\s*\"?Linux\b.*\|\|\s*(die|exit|return)")
LINUX_ARM = re.compile(r"^\s*Linux\*?\)")


def _code(line: str) -> str:
    """The line without a trailing comment (a `#` that starts a word)."""
    return re.sub(r"(^|\s)#.*$", "", line)


def findings(text: str) -> list[str]:
    """`line N: construct` for every construct that breaks on macOS."""
    found: list[str] = []
    rest_linux_only = False
    arm_indent: int | None = None  # inside a `Linux)` case arm opened at this indent
    for number, line in enumerate(text.splitlines(), start=1):
        code = _code(line)
        indent = len(line) - len(line.lstrip())
        if arm_indent is not None and code.strip().startswith(";;") and indent <= arm_indent + 2:
            arm_indent = None
            continue
        if LINUX_ARM.match(code):
            arm_indent = indent
            if code.rstrip().endswith(";;"):  # a one-line arm
                arm_indent = None
            continue
        if rest_linux_only or arm_indent is not None:
            continue
        if REST_IS_LINUX_ONLY.search(code):
            rest_linux_only = True
            continue
        for name, pattern in CONSTRUCTS:
            if pattern.search(code):
                found.append(f"line {number}: {name}")
        if SHA256SUM.search(code) and "shasum" not in code:
            found.append(f"line {number}: sha256sum without a shasum fallback")
        if LINUX_ONLY_COMMAND.search(code):
            found.append(f"line {number}: dpkg/apt outside a Linux-only branch")
    return found


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_use_nothing_macos_lacks(script: Path) -> None:
    assert findings(script.read_text()) == [], f"{script.name} would break on macOS"


def test_the_scan_finds_each_construct_and_respects_linux_only_branches() -> None:
    bad = "\n".join(
        [
            'size=$(stat -c %s "$f")',
            'dir=$(readlink -f "$0")',
            "sed -i 's/a/b/' file",
            "declare -A seen",
            "mapfile -t lines < file",
            'echo "${name,,}"',
            "sha256sum file",
            "dpkg -s curl",
            "  apt-get install -y curl",
        ]
    )
    assert [f.split(": ", 1)[0] for f in findings(bad)] == [f"line {n}" for n in range(1, 10)]
    fine = "\n".join(
        [
            "sed -i.bak 's/a/b/' file  # a suffix: both seds",
            "if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi",
            "# dpkg -s curl, only in a comment",
            'case "$(uname -s)" in',
            "  Linux)",
            "    dpkg -s curl",
            "    ;;",
            "  *) echo not Linux ;;",
            "esac",
            "[[ $(uname -s) == Linux ]] || die 'Linux only'",
            "apt-get install -y curl",
        ]
    )
    assert findings(fine) == []
    # Leaving the arm ends the exemption.
    assert findings('case "$(uname -s)" in\n  Linux)\n    :\n    ;;\nesac\ndpkg -s curl') == [
        "line 6: dpkg/apt outside a Linux-only branch"
    ]
