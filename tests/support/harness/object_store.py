"""ObjectStore: moto's S3 server (`moto_server`, from moto[server] in pyproject.toml's dev group)
on 127.0.0.1, checking credentials: every request must be SigV4-signed with a key the store
issued, and may do only what that key's IAM policy allows."""

from __future__ import annotations

import json
import secrets
import sys
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._util import LOOPBACK, Daemon, HarnessError, free_port, http_get, stop_process, tail, wait_for

MOTO_SERVER = Path(sys.executable).parent / "moto_server"
REGION = "us-east-1"
# Everything on every bucket: what the harness itself (an ops person with admin rights) uses.
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str

    def env(self) -> dict[str, str]:
        """What the Pulumi CLI (the AWS SDK) reads: never argv, never the backend URL."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": REGION,
        }


class S3Store(Daemon):
    """What the harness's S3 stores share: a bucket, its users' keys, a loopback endpoint."""

    bucket: str
    port: int
    users: dict[str, Credentials]

    def user(self, name: str) -> Credentials:
        if name not in self.users:
            raise HarnessError(f"the object store has no user {name!r} (started? users: {sorted(self.users)})")
        return self.users[name]

    @property
    def endpoint(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def client(self, credentials: Credentials | None = None) -> Any:
        raise NotImplementedError

    def keys(self, prefix: str = "") -> list[str]:
        listing = self.client().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(str(item["Key"]) for item in listing.get("Contents") or [])


class ObjectStore(S3Store):
    """``moto_server`` on 127.0.0.1:<free port> holding one bucket, versioning on, and IAM users:
    ``admin`` (everything) and one per entry of ``policies`` (user name -> IAM policy document,
    e.g. the least privileges docs/team.md gives each identity), in ``users``.

    Moto keeps its data in memory; its recorder logs each request to ``requests.jsonl`` in the
    store's temp dir, and :meth:`resume` replays that log into the new process: a restart keeps
    the data, as a real store's does. Both users' credentials are made while the store admits
    unsigned requests (before :meth:`start` returns, and during a replay); from then on it checks
    signatures and policies.
    """

    def __init__(
        self,
        policies: Mapping[str, Mapping[str, Any]],
        *,
        bucket: str | None = None,
        start_timeout: float = 30.0,
        base_dir: Path | str | None = None,
    ) -> None:
        self.policies = dict(policies)
        self.bucket = bucket or f"si-state-{secrets.token_hex(3)}"
        self.start_timeout = start_timeout
        self.base_dir = base_dir
        self.port = 0
        self.admin: Credentials | None = None
        self.users: dict[str, Credentials] = {}
        self._seed = secrets.randbelow(2**31)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> ObjectStore:
        if self._proc is None:
            if not MOTO_SERVER.is_file():
                raise HarnessError(f"{MOTO_SERVER} is missing: run `uv sync --group dev` (moto[server])")
            self._start_in_tempdir("si-s3-", 0o700)
        return self

    def halt(self) -> None:
        """Stop the server process (as a crash or a restart does); its request log stays."""
        stop_process(self._proc, timeout=self.stop_timeout)
        self._proc = None

    def resume(self) -> None:
        """Start the server again on the same port and replay its request log into it."""
        if self._proc is not None:
            raise HarnessError("the object store is running: halt() it first")
        self._serve()
        # The log starts with the seed, so the replay issues the same keys as the first time;
        # it also holds the switch to checked requests.
        self._moto_api("recorder/replay-recording")

    def restart(self) -> None:
        self.halt()
        self.resume()

    # -- use ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    @property
    def backend_url(self) -> str:
        """PULUMI_BACKEND_URL for this bucket (the query parameters docs/team.md gives)."""
        return f"s3://{self.bucket}?endpoint={self.endpoint}&disableSSL=true&s3ForcePathStyle=true"

    def client(self, credentials: Credentials | None = None) -> Any:
        """A boto3 S3 client of ``credentials`` (default: admin), as ops would use the AWS CLI."""
        import boto3

        creds = credentials or self.admin
        assert creds is not None, "ObjectStore not started"
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
        )

    def versions(self, key: str) -> list[str]:
        """The version ids of ``key``, newest first."""
        listing = self.client().list_object_versions(Bucket=self.bucket, Prefix=key)
        found = [v for v in listing.get("Versions") or [] if v["Key"] == key]
        return [str(v["VersionId"]) for v in sorted(found, key=lambda v: v["LastModified"], reverse=True)]

    # -- internals ---------------------------------------------------------------------------
    def _start(self) -> None:
        assert self.dir is not None
        self.port = free_port()
        self._serve()
        # Moto draws keys and ids from one seeded generator: a replay with the same seed issues
        # the same credentials, which running clients still hold.
        self._moto_api(f"seed?a={self._seed}")
        iam = self._unsigned_client("iam")
        self.admin = self._user(iam, "admin", ADMIN_POLICY)
        self.users = {name: self._user(iam, name, policy) for name, policy in self.policies.items()}
        s3 = self._unsigned_client("s3")
        s3.create_bucket(Bucket=self.bucket)
        s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        # From here on, every request is checked: signature, key and policy.
        self._moto_api("reset-auth", b"0")

    def _serve(self) -> None:
        assert self.dir is not None
        env = {
            "MOTO_ENABLE_RECORDING": "True",
            "MOTO_RECORDER_FILEPATH": str(self.dir / "requests.jsonl"),
        }
        proc = self._spawn([str(MOTO_SERVER), "-H", LOOPBACK, "-p", str(self.port)], self.dir / "moto.log", env)

        def answers() -> bool:
            try:
                return http_get(f"{self.url}/moto-api/data.json", timeout=2)[0] == 200
            except OSError:
                return False

        wait_for(
            answers,
            self.start_timeout,
            f"moto_server did not answer on {self.url} (log: {self.log_path})",
            alive=lambda: proc.poll() is None,
            details=lambda: tail(self.log_path or "", 30),
        )

    def _unsigned_client(self, service: str) -> Any:
        """A client for the set-up requests, made while the store admits any key."""
        import boto3

        return boto3.client(
            service, endpoint_url=self.url, region_name=REGION, aws_access_key_id="setup", aws_secret_access_key="setup"
        )

    @staticmethod
    def _user(iam: Any, name: str, policy: Mapping[str, Any]) -> Credentials:
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-state", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return Credentials(str(key["AccessKeyId"]), str(key["SecretAccessKey"]))

    def _moto_api(self, path: str, body: bytes = b"") -> None:
        request = urllib.request.Request(
            f"{self.url}/moto-api/{path}", data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=120) as response:
            if response.status != 200:
                raise HarnessError(f"moto_server {path}: HTTP {response.status} (log: {self.log_path})")

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r}, bucket={self.bucket!r})"
