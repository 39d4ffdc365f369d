"""What this machine remembers between runs: the folder (the scripts' own
`${SERVICE_INFRA_CACHE:-${XDG_CACHE_HOME:-~/.cache}/service-infra}`), and `Remembered`, answers
that never change for the same input, kept as empty marker files named by a hash of the input.

Only answers that let a check pass are remembered, so that a check that costs most of a second
runs once per input, not at every preview and up; a refusal is worked out again every time.
Anyone who can write the cache (a restored CI cache, another job on the runner) could plant an
answer, so prod's checks never read one."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def cache_root() -> Path:
    configured = os.environ.get("SERVICE_INFRA_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "service-infra"


class Remembered:
    """Inputs whose answer was "fine", under cache_root()/KIND; VERSION (the rules that gave the
    answer) is part of every input, so new rules never see an old answer."""

    def __init__(self, kind: str, version: str = "") -> None:
        self.directory = cache_root() / kind
        self.version = version

    def _marker(self, value: str) -> Path:
        return self.directory / hashlib.sha256(f"{self.version}\0{value}".encode()).hexdigest()

    def __contains__(self, value: str) -> bool:
        return self._marker(value).is_file()

    def add(self, value: str) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._marker(value).touch()
        except OSError:
            pass  # an unwritable cache only costs the check next time
