"""Command-line flags with pflag's parsing rules, and the flag sets of the commands the stand-in knows.

A flag set is written ``"name/short:kind=default ..."``; kinds: ``b`` bool, ``s`` string, ``i`` int,
``f`` float, ``a`` StringArray (repeatable), ``l`` StringSlice (comma-separated, repeatable).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .core import FlyError


class Flag(NamedTuple):
    kind: str
    short: str | None
    default: str | None


Spec = dict[str, Flag]

GLOBAL = "access-token/t:s verbose:b debug:b help/h:b"
APP, JSONF, YES = "app/a:s config/c:s", "json/j:b", "yes/y:b"
VM = "vm-size:s vm-cpus:i vm-cpu-kind:s vm-memory:s vm-max-memory:s vm-gpus:i vm-gpu-kind:s host-dedication-id:s"
DEPLOY = (
    f"{APP} {YES} {VM} image/i:s now:b remote-only:b local-only:b push:b wg:b https-failover:b detach:b strategy:s "
    "dockerfile:s ignorefile:s image-label:s build-arg:a build-secret:a build-target:s build-context-warn-size:s "
    "no-cache:b depot:s depot-scope:s nixpacks:b buildkit-addr:s buildkit-image:s buildkit:b build-only:b "
    "buildpacks-docker-host:s buildpacks-volume:l recreate-builder:b env/e:a wait-timeout:s=5m0s "
    "release-command-timeout:s=5m0s lease-timeout:s=13s force-machines:b ha:b=true smoke-checks:b=true "
    "dns-checks:b=true max-unavailable:f=0.33 no-public-ips:b flycast:b file-local:a file-literal:a file-secret:a "
    "primary-region:s regions:l only-regions:l exclude-regions:l only-machines:l exclude-machines:l process-groups:l "
    "label:a max-concurrent:i=8 immediate-max-concurrent:i=8 volume-initial-size:i signal/s:s deploy-retries:s=auto "
    "compression:s compression-level:i update-only:b skip-release-command:b export-manifest:s from-manifest:s"
)
SECRETS = f"{APP} detach:b stage:b dns-checks:b=true"


def flags(spec: str) -> Spec:
    res: Spec = {}
    for entry in spec.split():
        item, _, default = entry.partition("=")
        named, _, kind = item.partition(":")
        name, _, short = named.partition("/")
        res[name] = Flag(kind, short or None, default or None)
    return res


def parse_bool(v: str) -> bool:  # strconv.ParseBool
    if v in (
        "1",
        "t",
        "T",
        "TRUE",
        "true",
        "True",
        "0",
        "f",
        "F",
        "FALSE",
        "false",
        "False",
    ):
        return v in ("1", "t", "T", "TRUE", "true", "True")
    raise ValueError(f'strconv.ParseBool: parsing "{v}": invalid syntax')


def convert(kind: str, raw: str) -> Any:
    """A scalar flag's value from its text (strconv's rules; ints take any base prefix)."""
    if kind == "b":
        return parse_bool(raw)
    if kind == "i":
        return int(raw, 0)
    if kind == "f":
        return float(raw)
    return raw


def zero(kind: str) -> Any:
    return {"b": False, "i": 0, "a": [], "l": []}.get(kind, "")


def set_flag(vals: dict[str, Any], spec: Spec, name: str, raw: str) -> None:
    kind, short, _ = spec[name]
    try:
        if kind in ("a", "l"):
            vals.setdefault(name, []).extend([raw] if kind == "a" else [v for v in raw.split(",") if v])
        else:
            vals[name] = convert(kind, raw)
    except ValueError as e:
        parser = "Int" if kind == "i" else "Float"
        why = str(e) if kind == "b" else f'strconv.Parse{parser}: parsing "{raw}": invalid syntax'
        shown = f"-{short}, --{name}" if short else f"--{name}"
        raise FlyError(f'invalid argument "{raw}" for "{shown}" flag: {why}', usage=True) from None


def parse_args(args: list[str], spec: Spec) -> tuple[dict[str, Any], list[str]]:
    shorts = {v.short: k for k, v in spec.items() if v.short}
    vals: dict[str, Any] = {}
    pos: list[str] = []
    i = 0
    while i < len(args):
        a, i = args[i], i + 1
        if a == "--":
            return vals, pos + args[i:]
        if a.startswith("--"):
            name, eq, raw = a[2:].partition("=")
            if name not in spec:
                raise FlyError(f"unknown flag: --{name}", usage=True)
            if not eq and spec[name].kind == "b":
                raw = "true"  # a bool flag never takes the next argument: `--ha false` leaves "false" positional
            elif not eq:
                if i >= len(args):
                    raise FlyError(f"flag needs an argument: --{name}", usage=True)
                raw, i = args[i], i + 1
            set_flag(vals, spec, name, raw)
        elif a.startswith("-") and len(a) > 1:
            chars, j = a[1:], 0
            while j < len(chars):
                c, rest = chars[j], chars[j + 1 :]
                if c not in shorts:
                    raise FlyError(f"unknown shorthand flag: '{c}' in -{chars}", usage=True)
                name, j = shorts[c], len(chars)
                if rest.startswith("="):
                    raw = rest[1:]
                elif spec[name].kind == "b":
                    raw, j = "true", j - len(rest)
                elif rest:
                    raw = rest
                elif i < len(args):
                    raw, i = args[i], i + 1
                else:
                    raise FlyError(f"flag needs an argument: '{c}' in -{chars}", usage=True)
                set_flag(vals, spec, name, raw)
        else:
            pos.append(a)
    return vals, pos
