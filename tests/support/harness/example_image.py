"""ExampleImage: the examples/service image, built without a registry and pushed to Registry."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from service_infra.machine_cache import cache_root
from tests.support import ROOT

from ._util import HarnessError, exclusive, run
from .docker_engine import DockerEngine
from .registry import Registry

BUILD_SCRIPT = ROOT / "scripts" / "build-example-image.sh"
# A version that exits at once, saying why on stderr (as an app missing its configuration does).
CRASH_MESSAGE = "fatal: MODEL_PATH is not set"
CRASHING_COMMAND = f'["python3", "-c", "import sys; sys.exit(\'{CRASH_MESSAGE}\')"]'
APP_DIR = ROOT / "examples" / "service" / "app"
# Everything a build of the example images reads: their key in the cache.
BUILD_INPUTS = (
    BUILD_SCRIPT,
    ROOT / "scripts" / "make-base-image.sh",
    ROOT / "examples" / "proxy" / "Dockerfile",
    ROOT / "examples" / "service" / "Dockerfile",
    ROOT / "examples" / "service" / ".dockerignore",
    ROOT / "examples" / "service" / "requirements.txt",
)
# A cached build older than this is made again: a base image that was pulled moves on.
CACHE_MAX_AGE_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class ImageVersion:
    """One pushed version of the example image."""

    app_version: str  # what GET /health reports as "version" (baked-in APP_VERSION)
    tag: str  # "sha-<12 hex>"
    ref: str  # "<registry address>/<owner>/<name>:<tag>"
    local_ref: str  # the engine-local name it was built as
    digest: str  # "sha256:..." manifest digest in the registry

    @property
    def digest_ref(self) -> str:
        """``<repository>@sha256:...``."""
        return f"{self.ref.rsplit(':', 1)[0]}@{self.digest}"


def _source_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(APP_DIR.rglob("*.py")):
        h.update(path.relative_to(APP_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _build_digest(*extra: str) -> str:
    """What the images are made from: the app's source, every build input, and EXTRA."""
    h = hashlib.sha256(_source_digest().encode())
    for path in BUILD_INPUTS:
        h.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for part in extra:
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:16]


def _fresh(archive: Path) -> bool:
    return archive.is_file() and time.time() - archive.stat().st_mtime < CACHE_MAX_AGE_SECONDS


class ExampleImage:
    """Builds examples/service with scripts/build-example-image.sh on ``engine`` once per
    version (APP_VERSION differs), and pushes each to ``registry`` as
    ``<address>/<owner>/<name>:sha-<12 hex>`` (the tag is derived from version + app source, like
    a commit sha). ``versions[0]`` / ``v1`` and ``versions[1]`` / ``v2`` are two distinct images
    for rollout tests. Local tags are removed on exit (the registry copies stay until the
    Registry stops).

    The built images are kept in this machine's cache (:func:`cache_root` ``/images``) as a
    `docker save` file, keyed by everything the build reads (:data:`BUILD_INPUTS` and the app's
    source) and made again after :data:`CACHE_MAX_AGE_SECONDS`: the suite's parallel workers each
    run an engine of their own, and the first to come builds while the others, and later runs,
    load. Every engine still pushes them to its own registry and pulls them from it.
    """

    def __init__(
        self,
        engine: DockerEngine,
        registry: Registry,
        *,
        owner: str = "acme",
        name: str = "local-llm-server",
        app_versions: Sequence[str] = ("1.0.0", "1.1.0"),
        build_timeout: float = 1800.0,
    ) -> None:
        if not re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)*", owner) or not re.fullmatch(
            r"[a-z0-9]+(?:[._-][a-z0-9]+)*", name
        ):
            raise HarnessError(f"owner/name must be lower-case docker path components: {owner!r}/{name!r}")
        if len(set(app_versions)) != len(app_versions) or not app_versions:
            raise HarnessError(f"app_versions must be distinct and non-empty: {app_versions!r}")
        self.engine = engine
        self.registry = registry
        self.owner = owner
        self.name = name
        self.app_versions = tuple(app_versions)
        self.build_timeout = build_timeout
        self.cache_dir = cache_root() / "images"
        self.loaded: set[str] = set()  # local refs the cache gave this engine
        self.versions: list[ImageVersion] = []
        self.build_seconds: list[float] = []
        self.proxy_local_ref = ""
        self.proxy_ref = ""

    def __enter__(self) -> ExampleImage:
        return self.build()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()

    @property
    def repo(self) -> str:
        """``<owner>/<name>`` (the repository path inside the registry)."""
        return f"{self.owner}/{self.name}"

    @property
    def repository(self) -> str:
        """``<address>/<owner>/<name>`` (image reference without tag)."""
        return f"{self.registry.address}/{self.repo}"

    @property
    def v1(self) -> ImageVersion:
        return self.versions[0]

    @property
    def v2(self) -> ImageVersion:
        return self.versions[1]

    @property
    def broken(self) -> ImageVersion:
        found = [v for v in self.versions if v.app_version == "never-healthy"]
        return found[0] if found else self.build_broken()

    def build(self) -> ExampleImage:
        if self.versions:
            return self
        if not BUILD_SCRIPT.is_file():
            raise HarnessError(f"build script missing: {BUILD_SCRIPT}")
        with self._cached(f"example-{_build_digest(*self.app_versions)}") as save:
            self._build_and_push()
            save(self.proxy_local_ref, *(v.local_ref for v in self.versions))
        return self

    @contextlib.contextmanager
    def _cached(self, name: str) -> Iterator[Callable[..., None]]:
        """Loads the cache's NAME archive into the engine, if it is there and fresh; the block
        builds what it did not give (:attr:`loaded`) and calls the function it gets with the local
        refs to keep, which saves them as NAME unless they came from there. Engines load a fresh
        archive side by side (it is replaced whole, never written in place) and take turns to
        build a missing one, so one builds and the others load what it saved."""
        archive = self.cache_dir / f"{name}.tar"
        with contextlib.ExitStack() as building:
            if not _fresh(archive):
                building.enter_context(exclusive(archive.with_name(archive.name + ".lock")))
            cached = _fresh(archive)
            if cached:
                loaded = self.engine.run("load", "-i", str(archive), timeout=self.build_timeout).stdout
                self.loaded |= set(re.findall(r"^Loaded image: (\S+)$", loaded, re.M))

            def save(*refs: str) -> None:
                if cached:
                    return
                partial = archive.with_name(f"{archive.name}.{os.getpid()}.partial")
                self.engine.run("save", "-o", str(partial), *refs, timeout=self.build_timeout)
                partial.replace(archive)
                prefix = name.rsplit("-", 1)[0] + "-"  # older builds of the same images go
                for older in self.cache_dir.glob(f"{prefix}*.tar"):
                    if older != archive and older.name.removeprefix(prefix).count("-") == 0:
                        older.unlink(missing_ok=True)

            yield save

    def _build_script(self, local_ref: str, *args: str, what: str) -> None:
        """scripts/build-example-image.sh ARGS as LOCAL_REF, unless the archive gave it already."""
        if local_ref in self.loaded:
            return
        started = time.monotonic()
        proc = run(["bash", str(BUILD_SCRIPT), *args], env=self.engine.env(), check=False, timeout=self.build_timeout)
        if proc.returncode != 0:
            raise HarnessError(f"building {what} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        self.build_seconds.append(time.monotonic() - started)

    def _build_and_push(self) -> None:
        source = _source_digest()
        self._build_proxy()
        for app_version in self.app_versions:
            tag = "sha-" + hashlib.sha1(f"{source}\0{app_version}".encode()).hexdigest()[:12]
            local_ref = f"service-infra-example:{tag}"
            what = f"the example image {local_ref} (APP_VERSION={app_version})"
            self._build_script(local_ref, local_ref, app_version, what=what)
            ref = self.registry.push(local_ref, self.repo, tag)
            digests = self.engine.run("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout
            match = re.search(re.escape(self.repository) + r"@(sha256:[0-9a-f]{64})", digests)
            if not match:
                raise HarnessError(f"pushed {ref} but the engine reports no registry digest: {digests.strip()}")
            self.versions.append(ImageVersion(app_version, tag, ref, local_ref, match.group(1)))

    def _build_proxy(self) -> None:
        """The proxy image (scripts/build-example-image.sh --proxy), pushed as acme/edge-proxy."""
        local_ref = "service-infra-proxy:test"
        self._build_script(local_ref, "--proxy", local_ref, what="the proxy image")
        self.proxy_local_ref = local_ref
        self.proxy_ref = self.registry.push(local_ref, f"{self.owner}/edge-proxy", "nginx-test")

    def proxy_config(self, *, local: bool = False) -> dict[str, str]:
        """The stack's `proxy` setting: the pushed image, or the engine-local one for `local`."""
        ref = self.proxy_local_ref if local else self.proxy_ref
        image, tag = ref.rsplit(":", 1)
        return {"image": image, "tag": tag}

    def build_broken(self) -> ImageVersion:
        """A version that starts but never answers its health check (the server never starts
        listening): v1 with its command replaced by a sleep."""
        return self._variant("never-healthy", '["python3", "-c", "import time; time.sleep(86400)"]')

    @property
    def crashing(self) -> ImageVersion:
        found = [v for v in self.versions if v.app_version == "crashing"]
        return found[0] if found else self._variant("crashing", CRASHING_COMMAND)

    def _variant(self, name: str, command: str) -> ImageVersion:
        """v1 with another command, built with the engine's legacy builder from the local v1
        image, so nothing is downloaded."""
        base = self.v1
        tag = "sha-" + hashlib.sha1(f"{base.tag}\0{name}".encode()).hexdigest()[:12]
        local_ref = f"service-infra-example:{tag}"
        run(
            ["docker", "build", "--quiet", "--force-rm", "-t", local_ref, "-"],
            env=self.engine.env({"DOCKER_BUILDKIT": "0"}),
            input=f"FROM {base.local_ref}\nCMD {command}\n",
            timeout=300,
        )
        ref = self.registry.push(local_ref, self.repo, tag)
        variant = ImageVersion(name, tag, ref, local_ref, "")
        self.versions.append(variant)
        return variant

    def with_curl(self, base: ImageVersion) -> ImageVersion:
        """``base`` plus curl, as images had to carry it while the program's health check ran
        curl inside the app container (stacks deployed by such a program need it). Built on the
        engine's network from Debian's packages."""
        tag = "sha-" + hashlib.sha1(f"{base.tag}\0with-curl".encode()).hexdigest()[:12]
        local_ref = f"service-infra-example:{tag}"
        dockerfile = (
            f"FROM {base.local_ref}\nUSER root\n"
            "RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends curl >/dev/null "
            "&& rm -rf /var/lib/apt/lists/*\nUSER 10001:10001\n"
        )
        with self._cached(f"with-curl-{_build_digest(base.tag)}") as save:
            if local_ref not in self.loaded:
                run(
                    ["docker", "build", "--quiet", "--force-rm", "--network", "host", "-t", local_ref, "-"],
                    env=self.engine.env({"DOCKER_BUILDKIT": "0"}),
                    input=dockerfile,
                    timeout=600,
                )
            save(local_ref)
        ref = self.registry.push(local_ref, self.repo, tag)
        with_curl = ImageVersion(base.app_version, tag, ref, local_ref, "")
        self.versions.append(with_curl)
        return with_curl

    def cleanup(self) -> None:
        if not self.engine.host:  # engine already stopped: nothing left to remove
            self.versions = []
            return
        for v in self.versions:
            self.engine.run("image", "rm", "--force", v.ref, v.local_ref, check=False, timeout=120)
        if self.proxy_ref:
            self.engine.run("image", "rm", "--force", self.proxy_ref, self.proxy_local_ref, check=False, timeout=120)
        self.versions = []

    def __repr__(self) -> str:
        return f"ExampleImage({self.repository!r}, {[v.tag for v in self.versions]})"
