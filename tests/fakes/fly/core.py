"""What every command shares: the error flyctl reports, its output helpers, ids and timestamps."""

from __future__ import annotations

import json
import random
import string
import sys
import time
from collections.abc import Iterable
from typing import Any

VERSION = "0.4.87"
NEED_YES = "yes flag must be specified when not running interactively"

# The stand-in's JSON state and fly-go's JSON shapes: plain dicts, as json.load returns them.
Json = dict[str, Any]


class FlyError(Exception):
    """A failed command: main prints ``Error: <message>`` (and the usage text when ``usage``).

    ``request_id``: an answer of the Machines API (flaps), whose request id cli.printError appends;
    ``suggestion``: what flyerr.GetErrorSuggestion finds (fly-go's FlapsError.Suggestion, from the
    API's status code), printed on stderr after the error, then a blank line.
    """

    def __init__(
        self, msg: str, usage: bool = False, hint: str = "", suggestion: str = "", request_id: bool = False
    ) -> None:
        super().__init__(msg)
        self.usage, self.hint, self.suggestion, self.request_id = usage, hint, suggestion, request_id


# fly-go v0.9.5 flaps_error.go: the API's `name_taken` status code, and the prose beside it.
NAME_TAKEN = "Validation failed: Name has already been taken"
NAME_TAKEN_SUGGESTION = (
    "App names are unique across all of Fly.io, not just your organization, so this name may be held by an app "
    "you cannot see. Try a different name."
)


class PanicError(Exception):
    """A Go runtime panic: flyctl's main recovers it, prints it to stdout and exits 3 (main.go, sentry.Recover)."""


def now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def rid(n: int, alphabet: str = string.ascii_lowercase + string.digits) -> str:
    return "".join(random.choice(alphabet) for _ in range(n))


def out(*lines: object) -> None:
    print(*lines, sep="\n")


def err(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")


def dump(obj: object) -> None:  # flyctl render.JSON: 4-space indent
    print(json.dumps(obj, indent=4, ensure_ascii=False))


def table(headers: Iterable[str], rows: Iterable[Iterable[object]]) -> None:
    out("\t".join(headers), *("\t".join(str(c) for c in r) for r in rows))
