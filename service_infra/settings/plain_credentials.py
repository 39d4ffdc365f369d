"""No credential in a plain value: every setting outside `secrets` is read by whoever reads the
stack file (and by every branch, for staging), and reaches state and logs as it is.

Each string the config holds is run through the one credential detector the policy pack uses
(``service_infra.credentials``), and a variable whose name says it holds a secret (`DB_PASS`,
`SENTRY_DSN`, ...) may not be set here either. `check`, `preview` and `up` all refuse it, naming
the key. A value that only looks like a credential is declared public by its key in
`public_values`.

A value the detector found clean is remembered on this machine (`Remembered`, keyed by the
detector's version and rules), so an unchanged stack file is not scanned again at every preview
and up; prod's values are scanned every time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from service_infra.contract import PROJECT
from service_infra.credentials import credential_kind, detector_version, is_secret_name
from service_infra.machine_cache import Remembered

# Maps whose keys are variable names: a value under a secret-sounding name is a secret's.
_VARIABLE_MAPS = frozenset({"env", "variables"})
# Where the settings keep what is not judged here: the secrets themselves, and the list of keys
# declared public (names, not values).
_SKIPPED = frozenset({"secrets", "public_values"})


def _leaves(value: Any, path: str, parent: str) -> Iterator[tuple[str, str, str]]:
    """(key path, the key's own name, value) of every string under VALUE; PARENT names its map."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield from _leaves(child, f"{path}.{key}" if path else str(key), str(key))
    elif isinstance(value, list | tuple):
        for index, child in enumerate(value):
            yield from _leaves(child, f"{path}[{index}]", parent)
    elif isinstance(value, str):
        yield path, parent, value


def plain_credential_problems(config: Mapping[str, Any], remember: bool = True) -> list[str]:
    """One line per plain value that is a credential, or a secret by its variable's name; with
    REMEMBER, the values found clean before are taken as clean."""
    clean = Remembered("clean-plain-values", detector_version()) if remember else None
    public = config.get("public_values") or []
    public = {str(key).removeprefix(f"{PROJECT}:") for key in public} if isinstance(public, list | tuple) else set()
    problems = []
    for top, value in config.items():
        if top in _SKIPPED:
            continue
        for path, name, text in _leaves(value, str(top), str(top)):
            if path in public or not text.strip():
                continue
            map_name = path.rsplit(".", 2)[-2] if path.count(".") >= 1 else ""
            if clean is not None and text in clean:
                kind = None
            else:
                kind = credential_kind(text)
                if kind is None and clean is not None:
                    clean.add(text)
            if kind is None and map_name in _VARIABLE_MAPS and is_secret_name(name):
                kind = f"a secret, by its name {name}"
            if kind is not None:
                problems.append(
                    f"{PROJECT}:{path}: looks like {kind} in a plain value, which anyone who reads the stack file "
                    f"sees (and state and logs keep): move it to secrets: pulumi config set --secret --path "
                    f"'secrets.<NAME>' <value>, and refer to it by name (e.g. secret_env); if it is public, add "
                    f"{path} to public_values"
                )
    return problems
