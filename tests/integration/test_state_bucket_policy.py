"""The state bucket's policies as docs/team.md gives them, enforced: MinIO (a real S3 server,
built from the Go module proxy) evaluates their conditions, which moto ignores: TLS only
(`aws:SecureTransport`), every write asking for SSE-S3 (`s3:x-amz-server-side-encryption`), and
each CI key listing only its own stack's prefixes (`s3:prefix`). The real Pulumi CLI runs a
one-output program of this project, with docs/team.md's backend URL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from service_infra.cli.preview import SLOT_TAG
from service_infra.contract import PROJECT
from tests.support import ROOT
from tests.support.harness import Credentials, MinioStore
from tests.support.pulumi_project import PASSPHRASE, Engine

STATE_KEY = f".pulumi/stacks/{PROJECT}/staging.json"
PROD_STATE_KEY = f".pulumi/stacks/{PROJECT}/prod.json"


class Cli:
    """The Pulumi CLI on a one-output program named like this project, its state in the store."""

    def __init__(self, engine: Engine, store: MinioStore, directory: Path) -> None:
        self.store = store
        self.dir = directory
        directory.mkdir()
        # The project's toolchain and virtualenv: uv, which reads the packages from uv.lock.
        (directory / "Pulumi.yaml").write_text(
            f"name: {PROJECT}\nruntime:\n  name: python\n  options:\n    toolchain: uv\n"
            f"    virtualenv: {ROOT / '.venv'}\n"
        )
        shutil.copy(ROOT / "uv.lock", directory / "uv.lock")
        (directory / "__main__.py").write_text('import pulumi\n\npulumi.export("greeting", "hello")\n')
        # No AWS_* of this machine's: each run names its key.
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        self.env |= engine.env() | {
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        }

    def __call__(self, key: Credentials, *args: str, url: str | None = None) -> tuple[bool, str]:
        """`pulumi ARGS` with KEY, at URL (default: docs/team.md's URL over TLS): (ok, output)."""
        env = self.env | self.store.env(key) | {"PULUMI_BACKEND_URL": url or self.store.backend_url()}
        done = subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=self.dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return done.returncode == 0, f"$ pulumi {' '.join(args)}\n{done.stdout}{done.stderr}"[-3000:]

    def staging_up(self) -> None:
        """The bucket as the people who run it leave it (`meta.yaml`, and prod's stack), and
        staging made and updated with its deploy key."""
        admin, deploy = self.store.admin, self.store.user("deploy")
        for key, args in [
            (admin, ["login"]),
            (admin, ["stack", "init", "prod"]),
            (deploy, ["stack", "init", "staging"]),
            (deploy, ["up", "--yes", "--stack", "staging"]),
        ]:
            ok, output = self(key, *args)
            assert ok, output


def refused(output: str) -> bool:
    """The store said no: AccessDenied (a GET, PUT or list), or a bare 403 (a HEAD has no body)."""
    return "AccessDenied" in output or "StatusCode: 403" in output


def objects(store: MinioStore) -> dict[str, str]:
    """Every object of the bucket and its ETag, as the root sees them."""
    listing = store.client().list_objects_v2(Bucket=store.bucket)
    return {str(item["Key"]): str(item["ETag"]) for item in listing.get("Contents") or []}


@pytest.fixture
def cli(pulumi_engine: Engine, minio_store: MinioStore, tmp_path: Path) -> Cli:
    return Cli(pulumi_engine, minio_store, tmp_path / "project")


def test_each_ci_key_runs_its_stacks_workflow_over_tls_and_lists_no_other_stack(
    cli: Cli, minio_store: MinioStore
) -> None:
    store, deploy, preview = minio_store, minio_store.user("deploy"), minio_store.user("preview")
    cli.staging_up()

    # The deploy workflow's commands, and what rollback, status and recover run, with the deploy key.
    for args in (
        ["preview", "--stack", "staging"],
        ["up", "--yes", "--stack", "staging"],
        ["refresh", "--yes", "--stack", "staging"],
        ["stack", "history", "--stack", "staging"],
        ["stack", "export", "--stack", "staging", "--file", str(cli.dir / "staging.json")],
        ["stack", "import", "--stack", "staging", "--file", str(cli.dir / "staging.json")],
        ["cancel", "--yes", "--stack", "staging"],
    ):
        ok, output = cli(deploy, *args)
        assert ok, output
    # Every write asked for SSE-S3, and the store encrypted it.
    written = objects(store)
    assert STATE_KEY in written and any(k.startswith(f".pulumi/history/{PROJECT}/staging/") for k in written)
    for key in written:
        assert store.client().head_object(Bucket=store.bucket, Key=key).get("ServerSideEncryption") == "AES256", key

    # The pull-request preview and the drift check with the preview key: they work, write nothing;
    # an update cannot even look for its lock.
    for args in (["preview", "--stack", "staging"], ["preview", "--refresh", "--stack", "staging"]):
        ok, output = cli(preview, *args)
        assert ok, output
    ok, output = cli(preview, "up", "--yes", "--stack", "staging")
    assert not ok and refused(output), output
    assert objects(store) == written

    # Neither key lists beyond its stack: not prod's state, not the project's folder, not the stacks.
    for key in (deploy, preview):
        for prefix in (f".pulumi/stacks/{PROJECT}/prod.json", f".pulumi/stacks/{PROJECT}/", ".pulumi/", ""):
            with pytest.raises(ClientError, match="AccessDenied"):
                store.client(key).list_objects_v2(Bucket=store.bucket, Prefix=prefix)
        assert [o["Key"] for o in store.client(key).list_objects_v2(Bucket=store.bucket, Prefix=STATE_KEY)["Contents"]]
        ok, output = cli(key, "stack", "ls")
        assert not ok and refused(output) and "prod" not in output, output
        ok, output = cli(key, "stack", "export", "--stack", "prod")
        assert not ok and refused(output), output
    assert PROD_STATE_KEY in objects(store)

    ok, output = cli(deploy, "destroy", "--yes", "--stack", "staging")
    assert ok, output


def test_the_bucket_refuses_plain_http_and_writes_that_do_not_ask_for_encryption(
    cli: Cli, minio_store: MinioStore
) -> None:
    store, deploy = minio_store, minio_store.user("deploy")
    cli.staging_up()
    before = objects(store)

    # A backend URL without docs/team.md's ssetype=AES256: the first write (the lock) is refused.
    without_sse = store.backend_url().replace("&ssetype=AES256", "")
    ok, output = cli(deploy, "up", "--yes", "--stack", "staging", url=without_sse)
    assert not ok and refused(output) and "PutObject" in output, output
    # The same write to the same key, once without and once with the encryption header.
    s3 = store.client(deploy)
    backup = f".pulumi/backups/{PROJECT}/staging/staging.1.json"
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.put_object(Bucket=store.bucket, Key=backup, Body=b"{}")
    assert objects(store) == before
    s3.put_object(Bucket=store.bucket, Key=backup, Body=b"{}", ServerSideEncryption="AES256")

    # The same store, data and keys over plain HTTP: every request of the key is refused, reads too;
    # the store itself answers (its root, whom no policy binds, reads).
    store.serve_plain_http()
    ok, output = cli(deploy, "preview", "--stack", "staging", url=store.backend_url(tls=False))
    assert not ok and refused(output), output
    with pytest.raises(ClientError, match="AccessDenied"):
        store.client(deploy).get_object(Bucket=store.bucket, Key=STATE_KEY)
    assert STATE_KEY in store.keys(".pulumi/stacks/")

    # Back on TLS, the same key with docs/team.md's URL updates its stack.
    store.serve_tls()
    ok, output = cli(deploy, "up", "--yes", "--stack", "staging")
    assert ok, output


def test_the_previews_key_runs_the_pr_stacks_whole_life_and_reaches_no_other_stack(
    cli: Cli, minio_store: MinioStore
) -> None:
    """docs/team.md's previews identity, as `preview open`, `close` and `reap` use it."""
    store, previews = minio_store, minio_store.user("previews")
    cli.staging_up()
    for args in (
        ["stack", "init", "pr-5"],
        ["stack", "tag", "set", SLOT_TAG, "0", "--stack", "pr-5"],
        ["up", "--yes", "--stack", "pr-5"],
        ["up", "--yes", "--stack", "pr-5"],
        ["stack", "tag", "ls", "--json", "--stack", "pr-5"],
        ["stack", "export", "--stack", "pr-5"],
    ):
        ok, output = cli(previews, *args)
        assert ok, output
    # How the preview commands find the previews: by their tag, skipping what the key may not read.
    ok, output = cli(previews, "stack", "ls", "--json", "--tag", SLOT_TAG)
    assert ok, output
    listed, _ = json.JSONDecoder().raw_decode(output.split("\n", 1)[1])  # stdout's JSON, then stderr
    assert [entry["name"].rsplit("/", 1)[-1] for entry in listed] == ["pr-5"], output

    # Nothing of staging's, prod's or the template's: no state read, no stack made beside them.
    before = objects(store)
    for args in (
        ["preview", "--stack", "staging"],
        ["stack", "export", "--stack", "prod"],
        ["up", "--yes", "--stack", "staging"],
        ["stack", "init", "preview"],
        ["stack", "tag", "set", SLOT_TAG, "1", "--stack", "staging"],
    ):
        ok, output = cli(previews, *args)
        assert not ok and refused(output), output
    assert objects(store) == before

    # `preview close`: destroy, then the stack and its backups removed (old versions stay in the bucket).
    for args in (
        ["destroy", "--yes", "--stack", "pr-5"],
        ["stack", "rm", "--yes", "--remove-backups", "--stack", "pr-5"],
    ):
        ok, output = cli(previews, *args)
        assert ok, output
    left = [
        k for k in objects(store) if k.startswith((f".pulumi/stacks/{PROJECT}/pr-5", f".pulumi/backups/{PROJECT}/pr-5"))
    ]
    assert not left, left
    assert STATE_KEY in objects(store) and PROD_STATE_KEY in objects(store)
