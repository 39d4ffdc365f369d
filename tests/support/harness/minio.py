"""MinioStore: the MinIO server (built from the Go module proxy by scripts/ensure-minio.sh) on
127.0.0.1, over TLS with a throwaway CA, holding the state bucket and IAM users whose policies it
evaluates with their conditions (`aws:SecureTransport`, `s3:x-amz-server-side-encryption`,
`s3:prefix`): what moto cannot check."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import secrets
import ssl
import subprocess
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support import ROOT

from ._util import LOOPBACK, HarnessError, free_port, machine_wide, stop_process, tail, wait_for
from .object_store import REGION, Credentials, S3Store

ENSURE_MINIO = ROOT / "scripts" / "ensure-minio.sh"
# The name under which each user also holds the bucket policy's statements (see MinioStore).
BUCKET_POLICY = "state-bucket-policy"


def minio_binary() -> Path:
    """The MinIO server, built into the cache on first use (minutes); one build per machine."""
    with machine_wide("minio-build"):
        done = subprocess.run([str(ENSURE_MINIO)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise HarnessError(f"the MinIO server is not available ({ENSURE_MINIO}):\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().partition("MINIO=")[2])


def make_tls_files(directory: Path) -> Path:
    """A throwaway CA (DIRECTORY/ca.pem) and its certificate for 127.0.0.1 in MinIO's certs layout
    (DIRECTORY/certs/public.crt, private.key); returns the CA's path (SSL_CERT_FILE for Go)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def certificate(subject: str, key: Any, issuer: str, signer: Any) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        certificate("si-test-ca", ca_key, "si-test-ca", ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )  # digital signature, cert sign, CRL sign
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        certificate("si-minio", key, "si-test-ca", ca_key)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK)), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    certs = directory / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    (certs / "public.crt").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (certs / "private.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return directory / "ca.pem"


class MinioStore(S3Store):
    """``minio server`` on 127.0.0.1:<free port>, over TLS (a CA made here: :attr:`ca_file`), one
    single-drive data dir with one bucket (versioning on), SSE-S3 with a static KMS key, and IAM
    users: the harness is MinIO's root (ops, unrestricted) and each entry of ``policies`` (user
    name -> IAM policy, e.g. docs/team.md's) is a user holding that policy, in ``users``.

    ``bucket_policy`` (docs/team.md's) is set as the bucket's policy. MinIO evaluates a bucket
    policy for anonymous requests only (cmd/auth-handler.go, ``authorizeRequest``), so each user
    also holds its statements (without ``Principal``) as an IAM policy: the same statements,
    evaluated by the same MinIO policy engine, with their conditions. On AWS an explicit Deny
    refuses a request whether a bucket policy or the caller's own policy holds it.

    :meth:`serve_plain_http` restarts the server on the same port and data without TLS (as a
    store reachable over both would be asked over plain HTTP); :meth:`serve_tls` switches back.
    """

    def __init__(
        self,
        policies: Mapping[str, Mapping[str, Any]],
        bucket_policy: Mapping[str, Any],
        *,
        bucket: str | None = None,
        start_timeout: float = 60.0,
        base_dir: Path | str | None = None,
    ) -> None:
        self.policies = dict(policies)
        self.bucket_policy = dict(bucket_policy)
        self.bucket = bucket or f"si-state-{secrets.token_hex(3)}"
        self.start_timeout = start_timeout
        self.base_dir = base_dir
        self.port = 0
        self.tls = True
        self.admin = Credentials(f"root{secrets.token_hex(4)}", secrets.token_hex(16))
        self.users: dict[str, Credentials] = {}
        self._binary: Path | None = None
        self._kms_key = base64.b64encode(secrets.token_bytes(32)).decode()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> MinioStore:
        if self._proc is None:
            self._binary = minio_binary()
            self._start_in_tempdir("si-minio-", 0o700)
        return self

    def serve_plain_http(self) -> None:
        """The same store (data, users, policies) on the same port, plain HTTP only."""
        self._restart(tls=False)

    def serve_tls(self) -> None:
        self._restart(tls=True)

    # -- use ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.endpoint}"

    @property
    def ca_file(self) -> Path:
        assert self.dir is not None, "MinioStore not started"
        return self.dir / "ca.pem"

    def backend_url(self, *, tls: bool = True) -> str:
        """PULUMI_BACKEND_URL for this bucket, with docs/team.md's query (``ssetype=AES256``);
        ``tls=False``: the same over plain HTTP (``disable_https=true``)."""
        plain = "" if tls else "&disable_https=true"
        return f"s3://{self.bucket}?endpoint={self.endpoint}&use_path_style=true&ssetype=AES256{plain}"

    def env(self, credentials: Credentials) -> dict[str, str]:
        """What the Pulumi CLI needs besides the URL: the key, and the CA its Go TLS trusts."""
        return {**credentials.env(), "SSL_CERT_FILE": str(self.ca_file)}

    def client(self, credentials: Credentials | None = None) -> Any:
        """A boto3 S3 client of ``credentials`` (default: the root user) over the current scheme."""
        import boto3
        from botocore.config import Config

        creds = credentials or self.admin
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            verify=str(self.ca_file) if self.tls else False,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    # -- internals ---------------------------------------------------------------------------
    def _start(self) -> None:
        assert self.dir is not None
        make_tls_files(self.dir)
        (self.dir / "no-certs").mkdir()
        self.port = free_port()
        self._serve()
        self._set_up()

    def _restart(self, *, tls: bool) -> None:
        if self._proc is None:
            raise HarnessError("the MinIO store is not running")
        stop_process(self._proc, timeout=self.stop_timeout)
        self._proc = None
        self.tls = tls
        self._serve()

    def _serve(self) -> None:
        assert self.dir is not None and self._binary is not None
        certs = self.dir / ("certs" if self.tls else "no-certs")
        env = {
            "MINIO_ROOT_USER": self.admin.access_key_id,
            "MINIO_ROOT_PASSWORD": self.admin.secret_access_key,
            # SSE-S3 (x-amz-server-side-encryption: AES256) needs a KMS: a static key will do.
            "MINIO_KMS_SECRET_KEY": f"si-test-key:{self._kms_key}",
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
            "MINIO_REGION": REGION,
        }
        args = [str(self._binary), "server", "--quiet", "--address", self.endpoint, "--certs-dir", str(certs)]
        proc = self._spawn([*args, str(self.dir / "data")], self.dir / "minio.log", env)

        context = ssl.create_default_context(cafile=str(self.ca_file)) if self.tls else None
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )

        def live() -> bool:
            try:
                with opener.open(f"{self.url}/minio/health/live", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(
            live,
            self.start_timeout,
            f"minio did not answer on {self.url} (log: {self.log_path})",
            alive=lambda: proc.poll() is None,
            details=lambda: tail(self.log_path or "", 30),
        )

    def _set_up(self) -> None:
        import urllib3
        from minio.credentials.providers import StaticProvider
        from minio.minioadmin import MinioAdmin

        admin = MinioAdmin(
            endpoint=self.endpoint,
            credentials=StaticProvider(self.admin.access_key_id, self.admin.secret_access_key),
            region=REGION,
            secure=True,
            http_client=urllib3.PoolManager(ca_certs=str(self.ca_file), cert_reqs="CERT_REQUIRED"),
        )
        statements = [{k: v for k, v in s.items() if k != "Principal"} for s in self.bucket_policy["Statement"]]
        admin.policy_add(BUCKET_POLICY, policy={**self.bucket_policy, "Statement": statements})
        for name, policy in self.policies.items():
            credentials = Credentials(f"{name}{secrets.token_hex(4)}", secrets.token_hex(16))
            admin.user_add(credentials.access_key_id, credentials.secret_access_key)
            admin.policy_add(name, policy=dict(policy))
            admin.attach_policy([name, BUCKET_POLICY], user=credentials.access_key_id)
            self.users[name] = credentials
        s3 = self.client()
        s3.create_bucket(Bucket=self.bucket)
        s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_policy(Bucket=self.bucket, Policy=json.dumps(self.bucket_policy))

    def __repr__(self) -> str:
        return f"MinioStore({self.url!r}, bucket={self.bucket!r})"
