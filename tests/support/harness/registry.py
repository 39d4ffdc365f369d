"""Registry: Debian's docker-registry (distribution v2) on 127.0.0.1 with htpasswd auth."""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path

from ._util import (
    LOOPBACK,
    Daemon,
    HarnessError,
    ensure_commands,
    free_port,
    http_get,
    run,
    tail,
    wait_for,
)
from .docker_engine import DockerEngine

REGISTRY_BIN = "/usr/bin/docker-registry"


# bcrypt's lowest cost: the registry checks the hash at every request (each blob and manifest of
# every push and pull). At crypt's default cost of 12 that was a quarter of a CPU-second each, and
# the suite's registries used 2.6 CPU-minutes of a run. The password is random and lives a run.
BCRYPT_COST = 4


def bcrypt_htpasswd_line(username: str, password: str) -> str:
    """``user:$2y$...`` (cost BCRYPT_COST) using ``htpasswd -B`` (apache2-utils), else libcrypt
    through Python's ``crypt`` module, else (root) installs apache2-utils."""
    if shutil.which("htpasswd") is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                import crypt  # Python < 3.13

            hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2**BCRYPT_COST))
            if hashed and hashed.startswith("$2"):
                return f"{username}:{hashed}"
        except (ImportError, AttributeError, OSError):
            pass
        ensure_commands({"htpasswd": "apache2-utils"}, "hashing the registry password (bcrypt)")
    out = run(["htpasswd", "-B", "-C", str(BCRYPT_COST), "-b", "-n", username, password], timeout=60).stdout
    return out.strip().splitlines()[0]


class Registry(Daemon):
    """Debian's ``docker-registry`` on 127.0.0.1:<free port>, HTTP (loopback registries need no
    TLS: Docker treats 127.0.0.0/8 as insecure-allowed), htpasswd (bcrypt) basic auth with a
    generated user and password, storage in a temp dir.

    :meth:`push` tags and pushes a local image of ``engine`` after logging in with a private
    DOCKER_CONFIG (``docker_config_dir``), so the user's ~/.docker is never touched.
    """

    def __init__(
        self,
        engine: DockerEngine,
        *,
        username: str | None = None,
        password: str | None = None,
        start_timeout: float = 30.0,
        base_dir: Path | str | None = None,
    ) -> None:
        self.engine = engine
        self.username = username or f"ci-{secrets.token_hex(3)}"
        self.password = password or secrets.token_urlsafe(18)
        self.start_timeout = start_timeout
        self.base_dir = base_dir
        self.port = 0
        self._logged_in = False

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Registry:
        if self._proc is None:
            ensure_commands({REGISTRY_BIN: "docker-registry"}, "starting a local registry")
            self._start_in_tempdir("si-registry-", 0o700)
        return self

    def stop(self) -> None:
        super().stop()
        self._logged_in = False

    # -- use ---------------------------------------------------------------------------------
    @property
    def address(self) -> str:
        """``127.0.0.1:PORT`` (the registry part of image references)."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def docker_config_dir(self) -> Path:
        """A DOCKER_CONFIG directory holding a login to this registry (after :meth:`login`)."""
        assert self.dir is not None, "Registry not started"
        return self.dir / "docker-config"

    def docker_config_json(self) -> str:
        """A docker config.json granting access to this registry (for tests/other clients)."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return json.dumps({"auths": {self.address: {"auth": token}}}, indent=2)

    def login(self, engine: DockerEngine | None = None) -> Path:
        """``docker login`` (checked by the engine's daemon) into :attr:`docker_config_dir`."""
        engine = engine or self.engine
        self.docker_config_dir.mkdir(mode=0o700, exist_ok=True)
        engine.run(
            "login",
            self.address,
            "--username",
            self.username,
            "--password-stdin",
            input=self.password,
            env={"DOCKER_CONFIG": str(self.docker_config_dir)},
            timeout=120,
        )
        self._logged_in = True
        return self.docker_config_dir

    def push(self, local_ref: str, repo: str, tag: str) -> str:
        """Tag ``local_ref`` as ``<address>/<repo>:<tag>``, push it with credentials and return
        that reference."""
        ref = f"{self.address}/{repo}:{tag}"
        if not self._logged_in:
            self.login()
        self.engine.run("tag", local_ref, ref)
        self.engine.run("push", ref, env={"DOCKER_CONFIG": str(self.docker_config_dir)}, timeout=900)
        return ref

    def api_get(self, path: str, *, auth: bool = True) -> tuple[int, bytes]:
        """GET ``/v2/...`` on the registry (basic auth unless ``auth=False``)."""
        headers = {}
        if auth:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return http_get(f"{self.url}{path}", headers=headers)

    def tags(self, repo: str) -> list[str]:
        status, body = self.api_get(f"/v2/{repo}/tags/list")
        if status == 404:
            return []
        if status != 200:
            raise HarnessError(f"registry {self.address}: tags of {repo}: HTTP {status} {body[:200]!r}")
        return list(json.loads(body).get("tags") or [])

    def env_for(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """{"DOCKER_CONFIG": <logged-in config dir>} (+ extra), for DockerEngine.run/SshHost.docker."""
        if not self._logged_in:
            self.login()
        return {"DOCKER_CONFIG": str(self.docker_config_dir), **(extra or {})}

    # -- internals ---------------------------------------------------------------------------
    def _start(self) -> None:
        assert self.dir is not None
        d = self.dir
        (d / "data").mkdir()
        (d / "htpasswd").write_text(bcrypt_htpasswd_line(self.username, self.password) + "\n")
        self.port = free_port()
        config = d / "config.yml"
        config.write_text(
            json.dumps(  # JSON is valid YAML
                {
                    "version": 0.1,
                    "log": {"level": "info", "accesslog": {"disabled": False}},
                    "storage": {
                        "filesystem": {"rootdirectory": str(d / "data")},
                        "delete": {"enabled": True},
                        "maintenance": {"uploadpurging": {"enabled": False}},
                    },
                    "http": {"addr": self.address, "secret": secrets.token_hex(16)},
                    "auth": {"htpasswd": {"realm": "service-infra-tests", "path": str(d / "htpasswd")}},
                },
                indent=2,
            )
        )
        proc = self._spawn([REGISTRY_BIN, "serve", str(config)], d / "registry.log")

        def answers() -> bool:
            try:
                return self.api_get("/v2/", auth=False)[0] == 401
            except OSError:
                return False

        wait_for(
            answers,
            self.start_timeout,
            f"docker-registry did not answer on {self.url}/v2/ (log: {self.log_path})",
            alive=lambda: proc.poll() is None,
            details=lambda: tail(self.log_path or "", 30),
        )
        status, body = self.api_get("/v2/")
        if status != 200:
            raise HarnessError(
                f"registry {self.address} refused the generated credentials (HTTP {status} {body[:200]!r}); "
                f"log: {self.log_path}\n{tail(self.log_path or '', 20)}"
            )

    def __repr__(self) -> str:
        return f"Registry({self.address!r}, user={self.username!r})"
