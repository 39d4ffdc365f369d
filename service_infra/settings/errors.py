"""Turning pydantic's validation errors into one line per problem, each naming its config key."""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from service_infra.contract import PROJECT


class SettingsError(Exception):
    """The stack config has problems; each names its config key and says what to change."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"invalid stack configuration ({count}); nothing was changed:\n" + "\n".join(problems))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _is_mapping_of_models(annotation: Any) -> bool:
    return getattr(annotation, "__origin__", None) is dict


def _walk_model(root: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """Field names valid at `path` (the error location without the unknown key)."""
    current: type[BaseModel] | None = root
    skip_next = False
    for part in path:
        if current is None:
            return []
        if skip_next:  # a key of a dict of models (e.g. a service name)
            skip_next = False
            continue
        if isinstance(part, int):
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        skip_next = _is_mapping_of_models(field.annotation) and _model_in(field.annotation) is not None
        current = _model_in(field.annotation)
    return list(current.model_fields) if current is not None else []


def _key(path: tuple[Any, ...]) -> str:
    dotted = ".".join(str(part) for part in path)
    return f"{PROJECT}:{dotted}" if dotted else PROJECT


def problems_from(error: ValidationError, root: type[BaseModel]) -> list[str]:
    problems = []
    for detail in error.errors(include_url=False):
        location = tuple(detail["loc"])
        kind = detail["type"]
        if kind == "extra_forbidden":
            *parent, unknown = location
            message = "unknown key"
            close = difflib.get_close_matches(str(unknown), _walk_model(root, tuple(parent)), n=1)
            if close:
                message += f"; did you mean `{close[0]}`?"
            else:
                allowed = _walk_model(root, tuple(parent))
                if allowed:
                    message += f"; allowed here: {', '.join(allowed)}"
        elif kind == "missing":
            message = "is required"
        elif kind == "value_error":
            message = str(detail.get("ctx", {}).get("error", detail["msg"]))
            # A model-level check names its own field first ("host_key: ...").
            field, sep, rest = message.partition(": ")
            if sep and re.match(r"^[a-z_]+$", field):
                location = (*location, field)
                message = rest
        else:
            message = f"{detail['msg'].lower()}, got {detail['input']!r}"
        problems.append(f"{_key(location)}: {message}")
    return problems
