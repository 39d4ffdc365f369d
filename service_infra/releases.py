"""What makes a Docker service's release, found before any resource: its image digest and a
keyed hash of its secret values.

A release runs `image@sha256:…`: the tag is resolved on the registry at every `up` (with the
stack's registry credentials), unless `rollback` pinned a digest for it. A secret's value is
part of the version too, so a rotation rolls out beside the running container instead of
replacing it in place; what goes into the version's name is an HMAC keyed by the stack secret
VERSION_KEY, which says nothing about the value to whoever reads the state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from service_infra.contract import IMAGE_DIGEST, PROJECT, VERSION_KEY_SECRET
from service_infra.settings import Settings, SettingsError, Tier

# What a tag may name; the digest Docker records for a pull is the one of what the tag names.
# Registry lookups in flight at once (each is a HEAD, or a HEAD, a token and a HEAD).
PARALLEL_REQUESTS = 8
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class RegistryError(Exception):
    pass


def registry_base(server: str) -> str:
    """The registry's API root. Docker talks plain HTTP to loopback registries only."""
    host = server.rsplit(":", 1)[0] if server.count(":") == 1 else server
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host == "localhost"
    return f"{'http' if loopback else 'https'}://{server}"


def manifest_url(server: str, repository: str, tag: str) -> str:
    return f"{registry_base(server)}/v2/{repository}/manifests/{urllib.parse.quote(tag, safe='')}"


def bearer_token_url(challenge: str, repository: str) -> str | None:
    """Where a `Bearer realm=…,service=…` challenge says to get a pull token (None if not Bearer)."""
    scheme, _, params = challenge.partition(" ")
    if scheme.lower() != "bearer":
        return None
    found = dict(_CHALLENGE_PARAM.findall(params))
    if "realm" not in found:
        return None
    query = {"scope": found.get("scope") or f"repository:{repository}:pull"}
    if "service" in found:
        query["service"] = found["service"]
    return f"{found['realm']}?{urllib.parse.urlencode(query)}"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def own_token_service(server: str, token_url: str) -> bool:
    """Whether a challenge's realm is the registry's own host, over the registry's scheme: the
    registry's credentials go nowhere else (GHCR's realm is https://ghcr.io/token)."""
    scheme, host, _ = _origin(token_url)
    own_scheme, own_host, _ = _origin(registry_base(server))
    return host == own_host and (scheme == "https" or scheme == own_scheme)


class _NoCredentialsElsewhere(urllib.request.HTTPRedirectHandler):
    """urllib carries every header, Authorization too, into a redirect wherever it points: a
    redirect to another origin (a CDN, or anyone the registry names) goes without it."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            new.remove_header("Authorization")
        return new


_OPENER = urllib.request.build_opener(_NoCredentialsElsewhere)


def _request(url: str, headers: Mapping[str, str], method: str) -> urllib.request.Request:
    return urllib.request.Request(url, headers=dict(headers), method=method)


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def resolve_digest(server: str, repository: str, tag: str, username: str, password: str, timeout: float = 20) -> str:
    """The digest `repository:tag` names on the registry now (a HEAD of its manifest)."""
    url = manifest_url(server, repository, tag)
    accept = {"Accept": ", ".join(MANIFEST_TYPES)}
    auth: dict[str, str] = {}
    for _ in range(2):
        try:
            with _OPENER.open(_request(url, {**accept, **auth}, "HEAD"), timeout=timeout) as answer:
                digest = answer.headers.get("Docker-Content-Digest", "")
                if not IMAGE_DIGEST.match(digest):
                    raise RegistryError(f"{server} answered {repository}:{tag} without a sha256 digest")
                return digest
        except urllib.error.HTTPError as error:
            if error.code == 401 and not auth:
                challenge = error.headers.get("WWW-Authenticate", "")
                token_url = bearer_token_url(challenge, repository)
                if token_url is None:
                    auth = {"Authorization": _basic(username, password)}
                elif not own_token_service(server, token_url):
                    realm = urllib.parse.urlsplit(token_url)._replace(query="").geturl()
                    raise RegistryError(
                        f"{server} sent its credentials' token request to {realm}, not to itself: the registry "
                        f"settings' password goes to {server} alone; check {PROJECT}:registry.server"
                    ) from None
                else:
                    auth = {"Authorization": f"Bearer {_token(token_url, username, password, timeout)}"}
                continue
            if error.code == 404:
                raise RegistryError(f"{repository}:{tag} is not on {server}: push it, or set another tag") from None
            raise RegistryError(f"{server} answered {repository}:{tag} with HTTP {error.code}") from None
        except (OSError, ValueError) as error:
            raise RegistryError(f"{server} could not be asked for {repository}:{tag}: {error}") from None
    raise RegistryError(f"{server} refused the credentials of the registry settings for {repository}:{tag}")


def _token(url: str, username: str, password: str, timeout: float) -> str:
    request = _request(url, {"Authorization": _basic(username, password)}, "GET")
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        raise RegistryError(f"the registry's token service refused the credentials (HTTP {error.code})") from None
    token = body.get("token") or body.get("access_token")
    if not isinstance(token, str) or not token:
        raise RegistryError("the registry's token service answered without a token")
    return token


def image_digests(settings: Settings, secrets: Mapping[str, str]) -> dict[str, str | None]:
    """Each Docker service's image digest: pinned for its tag (by `rollback` or `promote`), else
    resolved on the stack's registry. None for images not on that registry (the local stack's own
    builds). The registry is asked for every service at once (a few round trips each, on every
    preview and up).

    Prod runs exactly the bits it pinned: its pinned tags are asked too, and a tag that now names
    another digest than its pin (pushed again since) is refused, so a re-pushed tag never rolls
    into prod on an unrelated `up`. Elsewhere the pin is run whatever the tag names now."""
    registry = settings.registry
    found: dict[str, str | None] = {}
    to_ask: dict[str, tuple[str, str]] = {}
    on_registry = {
        name: registry is not None and service.image.startswith(f"{registry.server}/")
        for name, service in settings.docker_services().items()
    }
    for name, service in settings.docker_services().items():
        if service.pinned_digest is not None:
            found[name] = service.pinned_digest
        elif not on_registry[name]:
            found[name] = None
        if on_registry[name] and (service.pinned_digest is None or settings.environment is Tier.PROD):
            assert registry is not None
            to_ask[name] = (service.image.removeprefix(f"{registry.server}/"), service.tag)
    if not to_ask or registry is None:
        return found

    def ask(repository_and_tag: tuple[str, str]) -> str | RegistryError:
        repository, tag = repository_and_tag
        try:
            return resolve_digest(
                registry.server, repository, tag, registry.username, secrets[registry.password_secret]
            )
        except RegistryError as error:
            return error

    with ThreadPoolExecutor(max_workers=min(PARALLEL_REQUESTS, len(to_ask))) as pool:
        answers = dict(zip(to_ask, pool.map(ask, to_ask.values()), strict=True))
    problems = [
        f"{PROJECT}:services.{name}.tag: {answer}"
        for name, answer in answers.items()
        if isinstance(answer, RegistryError)
    ]
    services = settings.docker_services()
    problems += [
        f"{PROJECT}:services.{name}.release_digests: {services[name].tag} is pinned to {found[name]}, but "
        f"{registry.server} now names {answer} by that tag: it was pushed again since it was pinned. Prod "
        "runs only the pinned bits: push them under the tag again, or promote a new tag from staging"
        for name, answer in answers.items()
        if isinstance(answer, str) and found.get(name) not in (None, answer)
    ]
    if problems:
        raise SettingsError(problems)
    found.update({name: answer for name, answer in answers.items() if isinstance(answer, str)})
    return found


def secret_version(values: Mapping[str, str], key: str) -> str:
    """A keyed hash of secret values: equal values, equal hash; reveals nothing without the key."""
    message = json.dumps(dict(sorted(values.items())), sort_keys=True).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:16]


def secret_versions(settings: Settings, secrets: Mapping[str, str]) -> dict[str, str | None]:
    """Each Docker service's secret_env values as one keyed hash (None without secret_env)."""
    return {
        name: secret_version({n: secrets[n] for n in service.secret_env}, secrets[VERSION_KEY_SECRET])
        if service.secret_env
        else None
        for name, service in settings.docker_services().items()
    }
