"""`python -m service_infra config-reference`: the config reference, rendered from the settings models.

Every key of the stack config with its type, default and description, taken from the models in
service_infra.settings and their field docstrings, so the reference cannot drift from the code:
tests/unit/test_docs.py fails when docs/configuration.md differs from this output.
"""

from __future__ import annotations

import inspect
import json
import types
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from service_infra.contract import PROJECT
from service_infra.settings import Settings
from service_infra.settings.base import SecretRef

REFRESH = "python -m service_infra config-reference > docs/configuration.md"

# Where the stack file's shape differs from the model's: the loader reads `secrets` as a map of
# encrypted values and hands the model only their names. Field path -> (key, type, default).
CONFIG_SHAPES: dict[tuple[str, ...], tuple[str, str, str]] = {("secrets",): ("secrets.<NAME>", "secure string", "—")}

INTRO = f"""\
# Configuration reference

<!-- Generated from the settings models (service_infra/settings/) by `{REFRESH}`.
Edit the models' docstrings, not this file. -->

Every key of a stack's configuration: the `{PROJECT}` namespace of `Pulumi.<stack>.yaml`. Set a
key with `pulumi config set -s <stack> --path '<key>' <value>` (the key without `{PROJECT}:`;
`--path` reaches nested keys), and a secret with `--secret` under `secrets.<NAME>`. In a key,
`<name>` stands for a name you choose (a service, a Docker host, a GitHub environment) and `[]`
for each item of a list. A default of `—` means unset; what unset means is in the description.

`python -m service_infra check Pulumi.<stack>.yaml` checks a stack file against every rule here,
offline; `pulumi preview` and `pulumi up` run the same checks first and register nothing when
any fails. Each problem names its full key, e.g. `{PROJECT}:services.<name>.docker.port`.
"""


@dataclass(frozen=True)
class Section:
    """One settings model and the key it sits under (() for the stack itself)."""

    model: type[BaseModel]
    path: tuple[str, ...]

    @property
    def key(self) -> str:
        return _key(self.path)


def _key(path: tuple[str, ...]) -> str:
    return f"{PROJECT}:{'.'.join(path)}".replace(".[]", "[]") if path else PROJECT


def _without_none(hint: Any) -> Any:
    if get_origin(hint) in (Union, types.UnionType):
        rest = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return hint


def _item(hint: Any) -> tuple[Any, str] | None:
    """The item type of a list (tuple[T, ...]) or a map (dict[str, T]), with its key suffix."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0], "[]"
    if origin is dict:
        return args[1], "<name>"
    return None


def _nested_model(hint: Any) -> tuple[type[BaseModel], tuple[str, ...]] | None:
    """The settings model a field holds (itself, or as list items or map values)."""
    hint = _without_none(hint)
    suffix: tuple[str, ...] = ()
    item = _item(hint)
    if item is not None:
        hint, suffix = item[0], (item[1],)
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return hint, suffix
    return None


def sections(model: type[BaseModel] = Settings, path: tuple[str, ...] = ()) -> Iterator[Section]:
    """Every model under `model`, depth first, each with its key."""
    yield Section(model, path)
    hints = get_type_hints(model, include_extras=True)
    for name in model.model_fields:
        nested = _nested_model(hints[name])
        if nested is not None:
            yield from sections(nested[0], (*path, name, *nested[1]))


def _type_name(hint: Any, plural: bool = False) -> str:
    hint = _without_none(hint)
    if hint == SecretRef:
        return "secret names" if plural else "secret name"
    item = _item(hint)
    if item is not None:
        kind = "list" if item[1] == "[]" else "map"
        return f"{kind} of {_type_name(item[0], plural=True)}"
    if get_origin(hint) is Annotated:
        return _type_name(get_args(hint)[0], plural)
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return f"[{hint.__name__}](#{hint.__name__.lower()})"
    if isinstance(hint, type) and issubclass(hint, Enum):
        return " \\| ".join(f"`{member.value}`" for member in hint)
    name = {str: "string", int: "integer", bool: "boolean"}[hint]
    return f"{name}s" if plural else name


def _constraints(field: FieldInfo) -> str:
    bounds = {kind: getattr(meta, kind) for meta in field.metadata for kind in ("ge", "le") if hasattr(meta, kind)}
    if "ge" in bounds and "le" in bounds:
        return f"{bounds['ge']} to {bounds['le']}"
    if "ge" in bounds:
        return f"at least {bounds['ge']}"
    if "le" in bounds:
        return f"at most {bounds['le']}"
    return ""


def _type(hint: Any, field: FieldInfo) -> str:
    name = _type_name(hint)
    limits = _constraints(field)
    return f"{name}, {limits}" if limits else name


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None or value == "":
        return "—"
    if isinstance(value, str) and value:
        return f"`{value}`"
    return f"`{json.dumps(to_jsonable_python(value))}`"


def _text(text: str | None) -> str:
    """One table cell: the docstring on one line, pipes escaped."""
    return " ".join((text or "").split()).replace("|", "\\|")


def model_description(model: type[BaseModel]) -> str:
    """The model's own docstring (not one it inherits)."""
    own = model.__dict__.get("__doc__")
    return inspect.cleandoc(own) if own else ""


def _rows(section: Section) -> Iterator[str]:
    hints = get_type_hints(section.model, include_extras=True)
    for name, field in section.model.model_fields.items():
        path = (*section.path, name)
        if path in CONFIG_SHAPES:
            key, kind, default = CONFIG_SHAPES[path]
            key = _key((*section.path, key))
        else:
            key, kind, default = _key(path), _type(hints[name], field), _default(field)
        yield f"| `{key}` | {kind} | {default} | {_text(field.description)} |"


def render() -> str:
    """docs/configuration.md."""
    parts = [INTRO]
    for section in sections():
        parts.append(f"## {section.model.__name__}\n")
        parts.append(f"`{section.key}`: {_text(model_description(section.model))}\n")
        parts.append("| key | type | default | description |\n|---|---|---|---|\n" + "\n".join(_rows(section)) + "\n")
    return "\n".join(parts)
