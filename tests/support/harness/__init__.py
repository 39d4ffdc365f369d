"""Real local infrastructure for the integration tests: Docker engine, SSH "Mac Mini", registry,
and the example service image. Everything listens on 127.0.0.1, lives in temp dirs, is started
when absent and stopped/removed afterwards. Nothing is skipped: a part that cannot start raises
:class:`HarnessError` whose message says what failed and where its log is.

Typical session fixtures (``conftest.py``)::

    import pytest
    from tests.support.harness import DockerEngine, ExampleImage, Registry, SshHost

    @pytest.fixture(scope="session")
    def engine():
        with DockerEngine() as e:          # the user's engine if it answers, else a private dockerd
            yield e

    @pytest.fixture(scope="session")
    def ssh_host(engine):
        with SshHost(engine) as h:         # private sshd whose sessions reach `engine`
            yield h

    @pytest.fixture(scope="session")
    def registry(engine):
        with Registry(engine) as r:        # docker-registry with htpasswd auth
            yield r

    @pytest.fixture(scope="session")
    def example_image(engine, registry):
        with ExampleImage(engine, registry, owner="acme") as img:   # two pushed versions
            yield img

API
---
``HarnessError(RuntimeError)``
    Raised when a part cannot start or a command fails; the text includes logs/output.

``free_port(host="127.0.0.1") -> int``, ``free_ports(count) -> range`` (consecutive ones)
    A free TCP port below the ephemeral range, reserved for this process (no other worker gets it).

``wait_http(url, timeout=60.0, *, status=200, interval=0.5, headers=None) -> tuple[int, bytes]``
    Poll until ``url`` answers with ``status`` (any status if None); HarnessError on timeout.
    Never uses proxies from the environment. ``http_get(url, *, headers=None, timeout=10.0)`` does
    one GET and returns ``(status, body)`` also for 4xx/5xx.
    ``wait_for(predicate, timeout, what, *, interval=0.5, alive=None, details=None)`` polls any
    condition the same way.

``exclusive(lock_path)`` (context manager)
    An exclusive lock across processes (flock on ``lock_path``): the suite's parallel workers
    take turns at what only one may do at a time.

``DockerEngine(*, use_existing=None, start_timeout=60.0, base_dir=None)`` (context manager)
    ``use_existing`` (default True; env ``SERVICE_INFRA_TEST_PRIVATE_DOCKERD=1`` makes it False):
    use the engine the docker CLI reaches (DOCKER_HOST, current context, /var/run/docker.sock) if
    ``docker info`` answers. Otherwise (root; installs docker.io/iproute2 if missing) start a
    private dockerd: socket, data root, exec root, pid file and log in ``/tmp/si-dockerd-*``;
    vfs; ``--iptables=false --ip6tables=false``; its own bridge ``sidk<hex>`` = 10.N.0.1/24 and
    ``--default-address-pool base=10.N.128.0/17,size=24`` with N in 200..254 unused by any local
    address/route, so it never clashes with the persistent engine of
    scripts/ensure-docker-engine.sh (docker0 172.17.0.1/16) or another private one. Containers
    can publish ``-p 127.0.0.1:HOST:CTR`` (userland proxy) and use
    ``--add-host host.docker.internal:host-gateway`` (= the bridge gateway).

    - ``.host: str``  e.g. ``"unix:///tmp/si-dockerd-ab12/docker.sock"`` (or the user's)
    - ``.private: bool``, ``.dir``, ``.log_path``, ``.bridge``, ``.socket_path: Path | None``
    - ``.gateway_ip: str``  what host-gateway resolves to
    - ``.env(extra=None) -> dict``  os.environ + ``DOCKER_HOST`` (DOCKER_CONTEXT dropped)
    - ``.run(*docker_args, check=True, timeout=600, input=None, env=None) -> CompletedProcess[str]``
    - ``.start()`` / ``.stop()``

``SshHost(engine, *, user=None, start_timeout=30.0, base_dir=None)`` (context manager)
    A private ``/usr/sbin/sshd -D -f <config>`` (installs openssh-server if missing) on
    127.0.0.1:<free port>, own ed25519 host key, generated client key, public-key login only,
    and ``SetEnv DOCKER_HOST=<engine.host>`` so that ``docker system dial-stdio`` on the "remote"
    side (what ``docker -H ssh://`` and the Pulumi Docker provider run) reaches ``engine``.
    Login user: as root, system user ``mini`` (created if missing; password field ``*``; member of
    ``docker`` and of the group owning the engine socket), or ``root`` if that socket's group is
    root; when not root, the current user.

    - ``.user``, ``.host`` ("127.0.0.1"), ``.port: int``, ``.docker_url`` ("ssh://mini@127.0.0.1:PORT")
    - ``.host_key_line``  "ssh-ed25519 AAAA..." (no host part, no comment)
    - ``.known_hosts_line``  "[127.0.0.1]:PORT ssh-ed25519 AAAA..."
    - ``.client_key_path: Path``  private key (``.pub`` next to it)
    - ``.write_known_hosts(path, key_line=None) -> Path``  pin this host (or a wrong ``key_line``)
    - ``.ssh_opts_for(known_hosts_path) -> list[str]``  ``["-o","StrictHostKeyChecking=yes",
      "-o","UserKnownHostsFile=<path>","-o","GlobalKnownHostsFile=/dev/null","-o","IdentitiesOnly=yes",
      "-o","BatchMode=yes","-i",<key>,"-p",<port>]`` (for ``ssh`` and the provider's ``ssh_opts``)
    - ``.ssh(*remote_cmd, known_hosts_path, check=True, timeout=120) -> CompletedProcess[str]``
    - ``.docker_cli_env(known_hosts_path, extra=None) -> dict``  env for the local docker CLI:
      DOCKER_HOST=docker_url and PATH starting with an ``ssh`` wrapper that adds the options
      above (the docker CLI has no ssh-options flag)
    - ``.docker(*docker_args, known_hosts_path, env=None, check=True, timeout=600, input=None)``
    - ``.go_down()`` / ``.come_back()``  stop sshd (connections refused) and start it again on the
      same port with the same host key, as a host switched off and on
    - ``generate_ed25519_key(path, comment="") -> str`` (module function) makes another key, e.g.
      a wrong host key for pinning tests.

``MacLikeSshHost(engine, ...)``
    An SshHost that fails as a Mac Mini does over SSH: ``docker`` only in ``~/.docker/bin`` (not
    on the session PATH), and ``credsStore: lockedkeychain`` whose helper answers "User
    interaction is not allowed.". ``.home``, ``.docker_dir``, ``.apply_path_fix()`` (the
    runbook's sshd ``SetEnv PATH=...``, reloaded in place). ``DockerEngine.restart()`` restarts a
    private dockerd with the same data root, as after a reboot.

``HoldingSshHost(engine, ...)``
    An SshHost whose ``docker`` can be held at one command: ``.hold("network connect --alias")``,
    then ``.held()`` (the command line, once a session reached it) and ``.release()`` (it exits 1
    without running). For killing an update between two docker calls.

``Registry(engine, *, username=None, password=None, start_timeout=30.0, base_dir=None)``
    Debian's ``docker-registry`` (installed if missing) on 127.0.0.1:<free port>, plain HTTP,
    htpasswd bcrypt auth with a generated user/password.

    - ``.address`` ("127.0.0.1:PORT"), ``.url``, ``.username``, ``.password``, ``.log_path``
    - ``.login(engine=None) -> Path``  docker login into a private DOCKER_CONFIG dir
      (``.docker_config_dir``); ``.env_for(extra=None) -> {"DOCKER_CONFIG": ...}``
    - ``.docker_config_json() -> str``  a config.json granting access (for other clients)
    - ``.push(local_ref, repo, tag) -> str``  tag + push; returns ``"<address>/<repo>:<tag>"``
    - ``.tags(repo) -> list[str]``, ``.api_get(path, *, auth=True) -> (status, body)``

``ExampleImage(engine, registry, *, owner="acme", name="local-llm-server",
app_versions=("1.0.0", "1.1.0"), build_timeout=1800.0)`` (context manager)
    Runs scripts/build-example-image.sh once per app version against ``engine`` and pushes
    ``<address>/<owner>/<name>:sha-<12 hex>``. ``.versions: list[ImageVersion]``, ``.v1``,
    ``.v2``, ``.repo`` ("owner/name"), ``.repository`` ("<address>/owner/name"),
    ``.build_seconds``. The built images are kept in the machine's cache (``cache_root()``),
    keyed by what the build reads: the first engine builds and ``docker save``s them there, the
    others, and later runs, ``docker load`` them instead of building.
    ``ImageVersion(app_version, tag, ref, local_ref, digest)`` with
    ``.digest_ref``. The image runs ``python3 -m uvicorn app.main:app --host 0.0.0.0 --port 8000``
    as uid 10001, ``/data`` owned by 10001; GET /health -> {"status":"ok","env":...,"version":
    app_version}.

``ObjectStore(policies, *, bucket=None, start_timeout=30.0, base_dir=None)`` (context manager)
    moto's S3 server (``moto_server``, moto[server] pinned in pyproject.toml's dev group) on
    127.0.0.1:<free port>, one bucket with versioning on, and IAM enforced: every request must be
    SigV4-signed by a key it issued, within that key's policy. Users ``admin`` (everything) and
    one per entry of ``policies`` (name -> IAM policy document). Moto's recorder logs every request, so ``.halt()`` (the process
    stops) and ``.resume()`` (it starts on the same port and replays the log) keep the data, as a
    real store's restart does; ``.restart()`` does both.

    - ``.bucket``, ``.endpoint`` ("127.0.0.1:PORT"), ``.url``, ``.backend_url`` (PULUMI_BACKEND_URL)
    - ``.admin`` / ``.user(name) -> Credentials`` with ``.env()`` -> AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_REGION
    - ``.client(credentials=None)``  a boto3 S3 client (admin by default)
    - ``.keys(prefix="") -> list[str]``, ``.versions(key) -> list[str]`` (version ids, newest first)

``MinioStore(policies, bucket_policy, *, bucket=None, start_timeout=60.0, base_dir=None)`` (context manager)
    The MinIO server (``scripts/ensure-minio.sh`` builds it from the Go module proxy into the
    cache on first use) on 127.0.0.1:<free port>, over TLS with a CA made at start
    (``.ca_file``), one bucket with versioning on and ``bucket_policy`` set, SSE-S3 with a static
    KMS key. Users: the root (``.admin``, unrestricted) and one per entry of ``policies``, each
    also holding the bucket policy's statements (MinIO applies a bucket policy to anonymous
    requests only). MinIO evaluates the conditions (``aws:SecureTransport``,
    ``s3:x-amz-server-side-encryption``, ``s3:prefix``). ``.serve_plain_http()`` /
    ``.serve_tls()`` restart it on the same port and data without / with TLS.

    - ``.bucket``, ``.endpoint``, ``.url``, ``.backend_url(tls=True)`` (with ``ssetype=AES256``)
    - ``.user(name) -> Credentials``; ``.env(credentials)`` adds ``SSL_CERT_FILE``
    - ``.client(credentials=None)`` (boto3, root by default), ``.keys(prefix="")``

Order: stop in reverse (ExampleImage, Registry, SshHost, DockerEngine); context managers do.
"""

from ._util import HarnessError, exclusive, free_port, free_ports, http_get, wait_for, wait_http
from .docker_engine import DockerEngine, existing_engine_host
from .example_image import ExampleImage, ImageVersion
from .minio import MinioStore
from .object_store import Credentials, ObjectStore
from .registry import Registry
from .ssh_host import HoldingSshHost, MacLikeSshHost, SshHost, ensure_login_user, generate_ed25519_key

__all__ = [
    "Credentials",
    "DockerEngine",
    "ExampleImage",
    "HarnessError",
    "HoldingSshHost",
    "ImageVersion",
    "MacLikeSshHost",
    "MinioStore",
    "ObjectStore",
    "Registry",
    "SshHost",
    "ensure_login_user",
    "exclusive",
    "existing_engine_host",
    "free_port",
    "free_ports",
    "generate_ed25519_key",
    "http_get",
    "wait_for",
    "wait_http",
]
