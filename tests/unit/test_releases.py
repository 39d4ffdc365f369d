"""A release's digest and its secrets' keyed hash, found before any resource (service_infra.releases)."""

from __future__ import annotations

import copy
import hashlib
import http.server
import json
import re
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from service_infra import releases
from service_infra.components.docker_service import container_version
from service_infra.components.environment import release_log
from service_infra.releases import (
    RegistryError,
    bearer_token_url,
    image_digests,
    manifest_url,
    registry_base,
    secret_version,
    secret_versions,
)
from service_infra.settings import SettingsError, load_settings
from tests.support.mocks import image_digest_for, load_stack_config, secret_value_for

DIGEST = "sha256:" + "a" * 64


def staging(mutate: Any = None) -> dict[str, Any]:
    config = copy.deepcopy(load_stack_config("staging"))
    if mutate:
        mutate(config)
    return config


def settings_of(config: dict[str, Any]) -> Any:
    return load_settings(config, secret_keys=set(), stack="staging")


def test_loopback_registries_are_asked_over_http_and_the_others_over_https() -> None:
    assert registry_base("127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert registry_base("localhost:5000") == "http://localhost:5000"
    assert registry_base("ghcr.io") == "https://ghcr.io"
    assert manifest_url("ghcr.io", "acme/app", "sha-1a2b3c4") == "https://ghcr.io/v2/acme/app/manifests/sha-1a2b3c4"


def test_a_bearer_challenge_gives_the_token_url_with_a_pull_scope() -> None:
    challenge = 'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:acme/app:pull"'
    assert bearer_token_url(challenge, "acme/app") == (
        "https://ghcr.io/token?scope=repository%3Aacme%2Fapp%3Apull&service=ghcr.io"
    )
    assert bearer_token_url('Bearer realm="https://r.example/t"', "acme/app") == (
        "https://r.example/t?scope=repository%3Aacme%2Fapp%3Apull"
    )
    assert bearer_token_url('Basic realm="registry"', "acme/app") is None


def test_the_registrys_image_is_resolved_with_the_stacks_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []

    def resolve(server: str, repository: str, tag: str, username: str, password: str) -> str:
        asked.append((server, repository, tag, username, password))
        return image_digest_for(f"{server}/{repository}:{tag}")

    monkeypatch.setattr(releases, "resolve_digest", resolve)
    config = settings_of(staging())
    secrets = {name: secret_value_for(name) for name in config.secrets}
    service = config.docker_services()["llm-server"]
    assert image_digests(config, secrets) == {"llm-server": image_digest_for(service.image_ref)}
    registry = config.registry
    assert asked == [
        (
            registry.server,
            service.image.removeprefix(f"{registry.server}/"),
            service.tag,
            registry.username,
            secret_value_for(registry.password_secret),
        )
    ]


def test_a_digest_pinned_for_the_tag_is_run_without_asking_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(releases, "resolve_digest", lambda *args: pytest.fail("the registry was asked"))

    def pin(config: dict[str, Any]) -> None:
        service = config["service-infra:services"]["llm-server"]
        service["release_digests"] = {service["tag"]: DIGEST, "sha-0000000": "sha256:" + "b" * 64}

    assert image_digests(settings_of(staging(pin)), {}) == {"llm-server": DIGEST}


def test_a_tag_missing_on_the_registry_names_its_config_key(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(server: str, repository: str, tag: str, username: str, password: str) -> str:
        raise RegistryError(f"{repository}:{tag} is not on {server}: push it, or set another tag")

    monkeypatch.setattr(releases, "resolve_digest", missing)
    config = settings_of(staging())
    with pytest.raises(SettingsError, match=r"service-infra:services\.llm-server\.tag: .* is not on ghcr\.io"):
        image_digests(config, {name: secret_value_for(name) for name in config.secrets})


def test_an_image_not_on_the_stacks_registry_runs_by_its_tag() -> None:
    config = settings_of(staging(lambda c: c["service-infra:services"]["llm-server"].update(image="docker.io/x/y")))
    assert image_digests(config, {name: secret_value_for(name) for name in config.secrets}) == {"llm-server": None}


def test_a_pinned_digest_must_be_a_sha256_digest_of_a_valid_tag() -> None:
    def bad(config: dict[str, Any]) -> None:
        config["service-infra:services"]["llm-server"]["release_digests"] = {"sha-1": "sha256:abc", "a b": DIGEST}

    with pytest.raises(SettingsError) as error:
        settings_of(staging(bad))
    assert "services.llm-server.release_digests" in str(error.value)
    assert "sha-1: 'sha256:abc' is not an image digest" in str(error.value)


def test_the_secret_hash_is_keyed_and_follows_every_value() -> None:
    values = {"API_KEY": "value-1", "OTHER": "x"}
    mac = secret_version(values, "key-1")
    assert re.fullmatch(r"[0-9a-f]{16}", mac)
    assert secret_version(dict(reversed(values.items())), "key-1") == mac
    assert secret_version({**values, "API_KEY": "value-2"}, "key-1") != mac
    assert secret_version(values, "key-2") != mac  # without the key, nothing to test guesses against
    assert mac not in hashlib.sha256(b"value-1").hexdigest()


def test_services_with_secret_env_get_a_secret_version_and_the_others_none() -> None:
    config = settings_of(staging())
    secrets = {name: secret_value_for(name) for name in config.secrets}
    assert secret_versions(config, secrets) == {
        "llm-server": secret_version({"API_KEY": secrets["API_KEY"]}, secrets["VERSION_KEY"])
    }


def test_secret_env_on_docker_requires_the_version_key() -> None:
    def drop(config: dict[str, Any]) -> None:
        del config["service-infra:secrets"]["VERSION_KEY"]

    with pytest.raises(SettingsError, match=r"service-infra:secrets\.VERSION_KEY: is required .* \(llm-server\)"):
        settings_of(staging(drop))


def test_a_new_secret_value_or_digest_is_a_new_version_and_nothing_else_renames_one() -> None:
    service = settings_of(staging()).docker_services()["llm-server"]
    plain = container_version(service, None, [])
    assert plain == container_version(service, None, [], None, None, None)  # stacks without either keep their names
    with_secret = container_version(service, None, [], secret_version="0" * 16)
    assert len({plain, with_secret, container_version(service, None, [], secret_version="1" * 16)}) == 3
    assert container_version(service, None, [], digest=DIGEST) != container_version(
        service, None, [], digest="sha256:" + "b" * 64
    )
    assert all(key.startswith(f"{service.tag}-") for key in (plain, with_secret))


def test_the_release_log_puts_the_live_release_first_and_keeps_ten() -> None:
    def release(n: int) -> dict[str, str]:
        return {"tag": f"t{n}", "digest": f"d{n}", "container": f"c{n}"}

    this = release(99)
    previous = {"llm-server": [release(n) for n in range(12)]}
    log = release_log("c99", this, previous, "llm-server")
    assert log[0] == this and log[1:] == [release(n) for n in range(9)]
    # After a failed rollout the release that kept serving is the live one, not this update's.
    assert release_log("c3", this, previous, "llm-server")[:2] == [release(3), release(0)]
    assert release_log("c99", this, None, "llm-server") == [this]


class Registry(http.server.BaseHTTPRequestHandler):
    """A registry on 127.0.0.1 answering from `script`, keyed by (host, path, whether the request
    carries Authorization); every request's host, path and Authorization scheme are kept.
    `localhost` reaches the same server under another origin: "somewhere else"."""

    script: ClassVar[dict[tuple[str, str, bool], tuple[int, dict[str, str]]]] = {}
    seen: ClassVar[list[tuple[str, str, str]]] = []

    def do_HEAD(self) -> None:
        self.answer()

    def do_GET(self) -> None:
        self.answer()

    def answer(self) -> None:
        host, path = self.headers.get("Host", "").split(":")[0], self.path.split("?")[0]
        auth = self.headers.get("Authorization", "")
        self.seen.append((host, path, auth.split(" ")[0]))
        status, headers = self.script.get((host, path, bool(auth)), (404, {}))
        body = json.dumps({"token": "pull-token"}).encode() if path == "/token" else b""
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[int]:
    Registry.script.clear()
    Registry.seen.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


DIGEST = "sha256:" + "ab" * 32
MANIFEST = "/v2/acme/app/manifests/sha-1"


def resolve(port: int) -> str:
    return releases.resolve_digest(f"127.0.0.1:{port}", "acme/app", "sha-1", "bot", "s3cret-password")


def test_a_token_service_elsewhere_never_gets_the_password(registry: int) -> None:
    realm = f"http://localhost:{registry}/token"
    Registry.script["127.0.0.1", MANIFEST, False] = (401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="r"'})
    with pytest.raises(RegistryError, match=rf"token request to {re.escape(realm)}, not to itself"):
        resolve(registry)
    assert Registry.seen == [("127.0.0.1", MANIFEST, "")]


def test_the_registrys_own_token_service_is_asked(registry: int) -> None:
    realm = f"http://127.0.0.1:{registry}/token"
    Registry.script["127.0.0.1", MANIFEST, False] = (401, {"WWW-Authenticate": f'Bearer realm="{realm}"'})
    Registry.script["127.0.0.1", "/token", True] = (200, {"Content-Type": "application/json"})
    Registry.script["127.0.0.1", MANIFEST, True] = (200, {"Docker-Content-Digest": DIGEST})
    assert resolve(registry) == DIGEST
    assert Registry.seen == [
        ("127.0.0.1", MANIFEST, ""),
        ("127.0.0.1", "/token", "Basic"),
        ("127.0.0.1", MANIFEST, "Bearer"),
    ]


def test_a_redirect_elsewhere_carries_no_credentials(registry: int) -> None:
    """The authenticated manifest request redirected to another origin (a CDN, say): asked there
    without Authorization, where urllib alone would carry it along."""
    Registry.script["127.0.0.1", MANIFEST, False] = (401, {"WWW-Authenticate": 'Basic realm="r"'})
    Registry.script["127.0.0.1", MANIFEST, True] = (307, {"Location": f"http://localhost:{registry}{MANIFEST}"})
    Registry.script["localhost", MANIFEST, False] = (200, {"Docker-Content-Digest": DIGEST})
    assert resolve(registry) == DIGEST
    assert Registry.seen == [("127.0.0.1", MANIFEST, ""), ("127.0.0.1", MANIFEST, "Basic"), ("localhost", MANIFEST, "")]


def prod_with_pin(digest: str) -> Any:
    config = copy.deepcopy(load_stack_config("prod"))
    service = config["service-infra:services"]["llm-server"]
    service["release_digests"] = {service["tag"]: digest}
    return load_settings(config, secret_keys=set(), stack="prod")


def test_prod_runs_its_pin_when_the_registry_still_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(releases, "resolve_digest", lambda *args: DIGEST)
    settings = prod_with_pin(DIGEST)
    assert image_digests(settings, {name: secret_value_for(name) for name in settings.secrets}) == {
        "llm-server": DIGEST
    }


def test_prod_refuses_a_pinned_tag_that_was_pushed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    pushed_again = "sha256:" + "c" * 64
    monkeypatch.setattr(releases, "resolve_digest", lambda *args: pushed_again)
    settings = prod_with_pin(DIGEST)
    with pytest.raises(SettingsError) as error:
        image_digests(settings, {name: secret_value_for(name) for name in settings.secrets})
    (problem,) = error.value.problems
    assert problem.startswith("service-infra:services.llm-server.release_digests: ")
    assert DIGEST in problem and pushed_again in problem and "pushed again" in problem
