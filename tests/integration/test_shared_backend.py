"""The stacks on a shared state backend: an S3 store (moto_server) that checks every request's
signature and the CI keys' policies, which are exactly the least-privilege ones docs/team.md gives.
A staging stack on the harness's SSH host, through PULUMI_BACKEND_URL=s3://…?endpoint=…"""

from __future__ import annotations

import getpass
import json
import socket

import pytest
from botocore.exceptions import ClientError
from pulumi import automation as auto

from service_infra.contract import PROJECT
from tests.support.harness import Credentials, DockerEngine, ExampleImage, ObjectStore, Registry, SshHost
from tests.support.harness.load import Load
from tests.support.pulumi_project import Project, kill_update
from tests.support.stacks import (
    API_KEY,
    assert_converged,
    deployed,
    health,
    two_updates_at_once,
    wait_for_new_container,
)

STATE_KEY = f".pulumi/stacks/{PROJECT}/staging.json"
LOCKS = f".pulumi/locks/organization/{PROJECT}/staging/"


def test_up_preview_and_rollback_keep_the_stack_in_the_bucket(
    shared_project: Project,
    object_store: ObjectStore,
    engine: DockerEngine,
    ssh_host: SshHost,
    registry: Registry,
    example_image: ExampleImage,
) -> None:
    stack, port = deployed(shared_project, ssh_host, registry, example_image)
    stack.up()
    assert_converged(stack, engine, port, example_image.v2.app_version)

    # The state, its history and its backups are in the bucket, and nothing on this disk.
    keys = object_store.keys()
    assert STATE_KEY in keys, keys
    assert any(k.startswith(f".pulumi/history/{PROJECT}/staging/") for k in keys), keys
    assert not [p for p in shared_project.state_dir.rglob("*") if p.is_file()]
    assert not object_store.keys(LOCKS), "an update that ended left its lock"
    everything = "\n".join(
        object_store.client().get_object(Bucket=object_store.bucket, Key=k)["Body"].read().decode() for k in keys
    )
    for secret in (API_KEY, registry.password):
        assert secret not in everything

    # rollback reads the stack's history from the bucket.
    listing = shared_project.operator_command("rollback", "--stack", "staging", "--service", "llm-server", "--list")
    assert listing.returncode == 0, listing.stderr
    rows = [line.split() for line in listing.stdout.splitlines()[1:]]
    assert [(row[2], row[3]) for row in rows] == [
        ("succeeded", example_image.v2.tag),
        ("succeeded", example_image.v1.tag),
    ], listing.stdout
    rollback = shared_project.rollback("staging", "llm-server")
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert_converged(stack, engine, port, example_image.v1.app_version)

    # The store checks credentials: a wrong secret, or the CI key beyond its policy, is refused.
    deploy_key = object_store.user("deploy")
    forged = Credentials(deploy_key.access_key_id, "not-the-secret")
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        object_store.client(forged).list_objects_v2(Bucket=object_store.bucket)
    with pytest.raises(ClientError, match="AccessDenied"):
        object_store.client(deploy_key).list_object_versions(Bucket=object_store.bucket)


def test_a_second_update_is_refused_by_the_buckets_lock_naming_the_first(
    shared_project: Project,
    object_store: ObjectStore,
    engine: DockerEngine,
    ssh_host: SshHost,
    registry: Registry,
    example_image: ExampleImage,
) -> None:
    stack, port = deployed(shared_project, ssh_host, registry, example_image)
    race = two_updates_at_once(stack, lambda: bool(object_store.keys(LOCKS)))
    first, output, second = race.first, race.first_output, race.second
    assert second.returncode != 0
    assert "the stack is currently locked by 1 lock(s)" in second.stderr, second.stderr
    # Who, where, since when, and the lock's place in the bucket.
    holder = f": created by {getpass.getuser()}@{socket.gethostname()} (pid {first.pid}) at "
    assert f"s3://{object_store.bucket}/{LOCKS}" in second.stderr, second.stderr
    assert holder in second.stderr, second.stderr
    print(f"the second up was refused after {race.seconds:.1f}s")
    assert first.returncode == 0, output
    assert not object_store.keys(LOCKS)
    assert_converged(stack, engine, port, example_image.v2.app_version)


def test_the_store_going_away_mid_update_fails_it_and_recover_brings_the_stack_back(
    shared_project: Project,
    object_store: ObjectStore,
    engine: DockerEngine,
    ssh_host: SshHost,
    registry: Registry,
    example_image: ExampleImage,
) -> None:
    stack, port = deployed(shared_project, ssh_host, registry, example_image)

    with Load(f"http://127.0.0.1:{port}/health") as load:
        update = stack.start_up()
        try:
            wait_for_new_container(engine, update, example_image.v2.tag)
            object_store.halt()
            output, _ = update.communicate(timeout=600)
        finally:
            if update.poll() is None:
                kill_update(update)
    assert update.returncode != 0, output
    assert object_store.endpoint in output, output  # the failure names the store it could not reach
    assert load.result.failed == 0, load.result.summary()
    assert health(port)["version"] == example_image.v1.app_version

    object_store.resume()
    assert object_store.keys(LOCKS), "an update that could not reach the store leaves its lock"
    recovered = shared_project.recover("staging")
    print(recovered.stdout, recovered.stderr)  # shown when the test fails
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert f"(pid {update.pid})" in recovered.stdout and "the holder is gone" in recovered.stdout, recovered.stdout
    assert not object_store.keys(LOCKS)

    with Load(f"http://127.0.0.1:{port}/health") as load:
        stack.up()
    assert load.result.failed == 0, load.result.summary()
    assert_converged(stack, engine, port, example_image.v2.app_version)


def test_a_previous_state_version_is_restored_as_docs_team_says(
    shared_project: Project,
    object_store: ObjectStore,
    engine: DockerEngine,
    ssh_host: SshHost,
    registry: Registry,
    example_image: ExampleImage,
) -> None:
    stack, port = deployed(shared_project, ssh_host, registry, example_image)
    stack.set("services.llm-server.tag", example_image.v1.tag)  # as it runs
    stack.preview(expect_no_changes=True)
    s3 = object_store.client()  # the people who run the bucket, not CI
    good = object_store.versions(STATE_KEY)[0]
    good_state = s3.get_object(Bucket=object_store.bucket, Key=STATE_KEY, VersionId=good)["Body"].read()

    # A bad state: someone imports the wrong file (here, one that forgets every resource).
    exported = stack.stack.export_stack()
    exported.deployment = {**(exported.deployment or {}), "resources": []}
    stack.stack.import_stack(exported)
    assert object_store.versions(STATE_KEY)[0] != good
    assert stack.preview().summary.get("create"), "a state without resources makes everything again"

    # docs/team.md: list the versions, copy the good one over the current one.
    source = {"Bucket": object_store.bucket, "Key": STATE_KEY, "VersionId": good}
    s3.copy_object(Bucket=object_store.bucket, Key=STATE_KEY, CopySource=source)
    restored = s3.get_object(Bucket=object_store.bucket, Key=STATE_KEY)["Body"].read()
    assert json.loads(restored) == json.loads(good_state)
    stack.preview(expect_no_changes=True)
    assert_converged(stack, engine, port, example_image.v1.app_version)


def test_each_ci_key_reaches_one_stack_and_the_key_any_branch_reads_writes_nothing(
    shared_project: Project,
    object_store: ObjectStore,
    ssh_host: SshHost,
    registry: Registry,
    example_image: ExampleImage,
) -> None:
    """docs/team.md's two policies, as the workflows hold them: staging's deploy key (the
    `staging` environment) and the preview key (a repository secret, so any branch's)."""
    stack, port = deployed(shared_project, ssh_host, registry, example_image)  # with the deploy key
    admin, deploy, preview = object_store.admin, object_store.user("deploy"), object_store.user("preview")
    assert admin is not None

    def pulumi(credentials: Credentials, *args: str) -> tuple[bool, str]:
        env = {**shared_project.env, **credentials.env()}
        try:
            done = shared_project.command.run(
                [*args, "--non-interactive"], cwd=str(shared_project.dir), additional_env=env
            )
        except auto.CommandError as error:
            return False, str(error)
        return True, done.stdout + done.stderr

    def refused(output: str) -> bool:
        """The store said no: AccessDenied (a GET or PUT), or a bare 403 (a HEAD has no body)."""
        return "AccessDenied" in output or "StatusCode: 403" in output

    def bucket() -> dict[str, list[str]]:
        return {key: object_store.versions(key) for key in object_store.keys(".pulumi/")}

    # The pull-request preview and the staging drift check, with the preview key: they work, and
    # leave the bucket as it was (a preview takes no lock on this backend).
    before = bucket()
    ok, output = pulumi(preview, "preview", "--stack", "staging", "--diff")
    assert ok, output[-3000:]
    assert example_image.v2.tag in output, output[-3000:]
    ok, output = pulumi(preview, "preview", "--stack", "staging", "--refresh")
    assert ok, output[-3000:]
    assert bucket() == before

    # A branch's code cannot change staging with it: the update cannot even take its lock.
    ok, output = pulumi(preview, "up", "--stack", "staging", "--yes", "--skip-preview")
    assert not ok and refused(output), output[-3000:]
    assert bucket() == before
    assert health(port)["version"] == example_image.v1.app_version

    # Prod's state (made by the bucket's admin) is out of reach of both CI keys of staging.
    ok, output = pulumi(admin, "stack", "init", "prod", "--secrets-provider", "passphrase")
    assert ok, output[-3000:]
    for key in (deploy, preview):
        ok, output = pulumi(key, "stack", "export", "--stack", "prod")
        assert not ok and refused(output), output[-3000:]
    ok, output = pulumi(deploy, "stack", "rm", "prod", "--yes", "--force")
    assert not ok and refused(output), output[-3000:]
    assert object_store.keys(f".pulumi/stacks/{PROJECT}/prod.json")

    # The deploy key still does its job.
    stack.up()
    assert health(port)["version"] == example_image.v2.app_version
