"""GitHub's published REST description, and a check of the stand-in's exchanges against it.

The description is the one `@octokit/openapi` ships on npm (GitHub's own
github/rest-api-description, bundled): pinned here by version and integrity, fetched with
`npm pack` into a cache outside the repository on first use, never committed. The stand-in
was last compared with ``SPEC_PACKAGE@SPEC_VERSION``'s ``api.github.com.json`` (the
description of github.com, the API the program talks to outside tests).

Each recorded exchange is looked up by its REST path and method and checked with openapi-core:
the request's path, query and JSON body against the operation, and the response's body against
the operation's response for that status. Error statuses an operation does not list are checked
against GitHub's generic error shapes (``basic-error``; ``validation-error`` for 422). A 304 with
no body to a GET is GitHub's answer to a conditional request (If-None-Match), which no operation
lists: it is accepted as such.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema.protocols import Validator
from openapi_core import Config, OpenAPI
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.request.exceptions import RequestValidationError
from openapi_core.validation.response.exceptions import ResponseValidationError
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from service_infra.machine_cache import cache_root
from tests.fakes.github_api.server import REST_PREFIX, ApiRequest

SPEC_PACKAGE = "@octokit/openapi"
SPEC_VERSION = "23.0.2"
SPEC_INTEGRITY = "sha512-pV8M7L9GY23AybNvTmo2nyjmpmnt6+2sRE/tqr0ZLQcPS4lnw7u5eZGNmwRNkBC3D7gZXbFx5AHzLUVRBXGDhg=="
SPEC_MEMBER = "package/generated/api.github.com.json"
SPEC_HOST = "https://api.github.com"  # the description's server; exchanges are replayed under it
_DOCUMENT = "urn:github-rest-description"  # the base URI the description's $refs resolve against

# Where GitHub serves something under a path its description no longer lists, the documented
# operation with the same request and response schemas. go-github still addresses environment
# secrets and their public key by repository id (GET/PUT/DELETE
# /repositories/{id}/environments/{env}/secrets...); the description documents them under
# /repos/{owner}/{repo}/environments/{env}/secrets..., and /repositories/{id} is repos/get.
_BY_REPOSITORY_ID = re.compile(r"^/repositories/\d+(?=/|$)")

# Request fields that GitHub accepts but the description leaves out. Each is sent by the real
# provider and honoured by GitHub; they are removed before the body is checked, and nothing else.
UNDESCRIBED_REQUEST_FIELDS: Mapping[tuple[str, str], frozenset[str]] = {
    # go-github's CreateUpdateEnvironment always sends can_admins_bypass (its MarshalJSON
    # defaults it to true); the description's request schema omits it (additionalProperties:
    # false) though the environment it returns carries can_admins_bypass.
    ("PUT", "/repos/{owner}/{repo}/environments/{environment_name}"): frozenset({"can_admins_bypass"}),
}


@dataclass(frozen=True)
class Unrequired:
    """A request field the description requires and GitHub does without, in the object at `at`.

    Where the real provider leaves it out, the check puts `stand_in` (a value the description
    accepts) in its place, so that the rest of the body is still checked; nothing else changes.
    """

    at: tuple[str, ...]  # keys from the body's root to the object that lacks the field
    field: str
    stand_in: Any


UNREQUIRED_REQUEST_FIELDS: Mapping[tuple[str, str], tuple[Unrequired, ...]] = {
    # The description requires `contexts` in required_status_checks (with `strict`). GitHub takes
    # `checks` alone, and refuses `contexts` and `checks` together ("More than one subschema in
    # "oneOf" matched", ossf/allstar#155; google/go-github#2976, #2276).
    # terraform-provider-github v6.13.0 sends `checks` only (contexts are turned into checks with
    # app_id -1), always as a list: its comment quotes GitHub refusing a missing one.
    ("PUT", "/repos/{owner}/{repo}/branches/{branch}/protection"): (
        Unrequired(at=("required_status_checks",), field="contexts", stand_in=[]),
    ),
}


def _supply(body: Any, missing: tuple[Unrequired, ...]) -> Any:
    """`body` with each unrequired field that it lacks put in (a copy; `body` itself is left alone)."""
    if not missing or not isinstance(body, dict):
        return body
    body = copy.deepcopy(body)
    for field in missing:
        holder: Any = body
        for key in field.at:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and field.field not in holder:
            holder[field.field] = copy.deepcopy(field.stand_in)
    return body


class SpecUnavailableError(RuntimeError):
    """The pinned description could not be fetched or did not match its pin."""


def cache_dir() -> Path:
    return cache_root() / "github-openapi" / SPEC_VERSION


def install_spec(directory: Path | None = None) -> Path:
    """The path of the pinned description, fetched with `npm pack` and checked against its integrity once."""
    directory = directory or cache_dir()
    target = directory / Path(SPEC_MEMBER).name
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise SpecUnavailableError(f"npm is not on PATH; it is needed once to fetch {SPEC_PACKAGE}@{SPEC_VERSION}")
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        packed = subprocess.run(
            [npm, "pack", "--silent", f"{SPEC_PACKAGE}@{SPEC_VERSION}", "--pack-destination", tmp],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if packed.returncode != 0 or len(tarballs) != 1:
            raise SpecUnavailableError(
                f"`npm pack {SPEC_PACKAGE}@{SPEC_VERSION}` failed (exit {packed.returncode}): "
                f"{(packed.stderr or packed.stdout).strip()[-2000:]}"
            )
        digest = "sha512-" + base64.b64encode(hashlib.sha512(tarballs[0].read_bytes()).digest()).decode()
        if digest != SPEC_INTEGRITY:
            raise SpecUnavailableError(f"{tarballs[0].name} has integrity {digest}, the pin says {SPEC_INTEGRITY}")
        with tarfile.open(tarballs[0]) as archive:
            member = archive.extractfile(SPEC_MEMBER)
            if member is None:
                raise SpecUnavailableError(f"{tarballs[0].name} holds no {SPEC_MEMBER}")
            staged = Path(tmp) / target.name
            staged.write_bytes(member.read())
        staged.replace(target)  # atomic: a concurrent run sees the whole file or none
    return target


@dataclass(frozen=True)
class Disagreement:
    """One exchange that the description does not allow."""

    route: str
    status: int
    problem: str

    def __str__(self) -> str:
        return f"{self.route} -> {self.status}: {self.problem}"


class SpecChecker:
    """Checks recorded exchanges against the description (load once: the file is 13 MB)."""

    def __init__(self, spec_path: Path) -> None:
        document: dict[str, Any] = json.loads(spec_path.read_text())
        self.version = str(document["info"]["version"])
        # The description itself is not re-validated (a minute for 13 MB); openapi-core takes None
        # for that, though its annotation does not say so.
        self._openapi = OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))  # pyright: ignore[reportArgumentType]
        self._paths: dict[str, Any] = document["paths"]
        self._registry: Registry[Any] = Registry().with_resource(
            _DOCUMENT, Resource.from_contents(document, default_specification=DRAFT4)
        )
        self._generic_error = self._validator("basic-error")
        self._validation_error = self._validator("validation-error")

    def _validator(self, schema_name: str) -> Validator:
        return OAS30Validator({"$ref": f"{_DOCUMENT}#/components/schemas/{schema_name}"}, registry=self._registry)

    def schema_errors(self, schema_name: str, instance: Any) -> list[str]:
        """Where `instance` breaks the description's component schema `schema_name` (e.g. `team`).

        For documents the operation's own schema leaves loose: an environment's protection rules
        are an anyOf whose first branch admits any rule, so the reviewers inside are checked here.
        """
        return [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in self._validator(schema_name).iter_errors(instance)
        ]

    def operation_path(self, method: str, rest_path: str) -> str | None:
        """The description's path template that `METHOD rest_path` falls under, or None.

        Where several fit (``.../secrets/public-key`` and ``.../secrets/{secret_name}``), the one
        with the most literal segments, as a router picks.
        """
        segments = rest_path.strip("/").split("/")
        fitting = [
            template
            for template, item in self._paths.items()
            if method.lower() in item and _fits(template.strip("/").split("/"), segments)
        ]
        return max(fitting, key=lambda template: template.count("/") - template.count("{"), default=None)

    @staticmethod
    def rest_path(exchange: ApiRequest, owner: str, repo: str) -> str:
        """The exchange's path as the description has it: no /api/v3, by-id paths by owner/repo."""
        return _BY_REPOSITORY_ID.sub(f"/repos/{owner}/{repo}", exchange.path.removeprefix(REST_PREFIX))

    def check(self, exchange: ApiRequest, owner: str, repo: str, *, check_request: bool = True) -> list[Disagreement]:
        """What the description says is wrong with one exchange (an empty list when nothing is)."""
        rest_path = self.rest_path(exchange, owner, repo)
        template = self.operation_path(exchange.method, rest_path)
        route = f"{exchange.method} {template or rest_path}"
        if template is None:
            return [Disagreement(route, exchange.status, "the description has no such operation")]
        body = exchange.body
        dropped = UNDESCRIBED_REQUEST_FIELDS.get((exchange.method, template), frozenset())
        if isinstance(body, dict) and dropped:
            body = {key: value for key, value in body.items() if key not in dropped}
        body = _supply(body, UNREQUIRED_REQUEST_FIELDS.get((exchange.method, template), ()))
        request = MockRequest(
            SPEC_HOST,
            exchange.method.lower(),
            rest_path,
            args={key: values[-1] for key, values in exchange.query.items()},
            data=json.dumps(body).encode() if body is not None else None,
        )
        problems: list[Disagreement] = []
        if check_request:
            try:
                self._openapi.validate_request(request)
            except RequestValidationError as error:
                problems.append(Disagreement(route, exchange.status, f"request: {_explain(error)}"))
        if exchange.method == "GET" and exchange.status == 304:
            if exchange.response is not None:
                problems.append(Disagreement(route, 304, "a 304 Not Modified carries no body"))
            return problems
        data = b"" if exchange.response is None else json.dumps(exchange.response).encode()
        response = MockResponse(data, status_code=exchange.status)
        try:
            self._openapi.validate_response(request, response)
        except ResponseNotFound:
            if exchange.status < 400:
                problems.append(Disagreement(route, exchange.status, "the operation lists no such status"))
            else:
                checker = self._validation_error if exchange.status == 422 else self._generic_error
                problems.extend(
                    Disagreement(route, exchange.status, f"error body: {error.message}")
                    for error in checker.iter_errors(exchange.response)
                )
        except ResponseValidationError as error:
            problems.append(Disagreement(route, exchange.status, f"response: {_explain(error)}"))
        return problems

    def check_all(
        self, exchanges: Iterable[ApiRequest], owner: str, repo: str, *, requests_too: bool = True
    ) -> list[Disagreement]:
        """Every disagreement in `exchanges`; a request the stand-in refused is not itself checked."""
        found: list[Disagreement] = []
        for exchange in exchanges:
            found += self.check(exchange, owner, repo, check_request=requests_too and exchange.status < 400)
        return found


def _fits(parts: list[str], segments: list[str]) -> bool:
    return len(parts) == len(segments) and all(
        part == segment or (part.startswith("{") and part.endswith("}"))
        for part, segment in zip(parts, segments, strict=True)
    )


def _explain(error: Exception) -> str:
    """openapi-core's error with the schema errors it wraps (they hold the useful part)."""
    cause = error.__cause__
    details = [str(error)]
    for inner in getattr(cause, "schema_errors", None) or ([cause] if cause else []):
        details.append(str(getattr(inner, "message", inner))[:600])
    return " | ".join(details)
