"""Releases by digest and secret rotations, on a Docker host over real SSH pulling from a real registry."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pulumi import automation as auto

from service_infra.contract import LABEL_IMAGE_DIGEST, LABEL_IMAGE_TAG
from tests.support.harness import DockerEngine, ExampleImage, Registry, SshHost, free_port, wait_http
from tests.support.harness.load import Load
from tests.support.pulumi_project import Project
from tests.support.stacks import API_KEY, app_containers, ssh_stack_config


def health(port: int) -> dict[str, Any]:
    _, body = wait_http(f"http://127.0.0.1:{port}/health", timeout=30)
    return json.loads(body)


def inspect(engine: DockerEngine, name: str) -> dict[str, Any]:
    return json.loads(engine.run("inspect", name).stdout)[0]


def image_id(engine: DockerEngine, ref: str) -> str:
    return engine.run("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


def test_a_release_is_its_digest_and_rollback_returns_to_it_after_the_tag_moved(
    project: Project, engine: DockerEngine, ssh_host: SshHost, registry: Registry, example_image: ExampleImage
) -> None:
    v1, v2 = example_image.v1, example_image.v2
    port = free_port()
    stack = project.stack(
        "staging",
        ssh_stack_config(ssh_host, registry, example_image, v1.tag, port),
        secrets={"GHCR_TOKEN": registry.password, "API_KEY": API_KEY},
    )
    run = stack.up()
    assert run.outputs["image_digests"] == {"llm-server": v1.digest}
    (live,) = app_containers(engine)
    container = inspect(engine, live)
    assert container["Config"]["Labels"][LABEL_IMAGE_DIGEST] == v1.digest
    assert container["Image"] == image_id(engine, v1.digest_ref)  # the bits the digest names

    stack.set("services.llm-server.tag", v2.tag)
    run = stack.up()
    assert run.outputs["image_digests"] == {"llm-server": v2.digest}
    assert [(r["tag"], r["digest"]) for r in run.outputs["releases"]["llm-server"]] == [
        (v2.tag, v2.digest),
        (v1.tag, v1.digest),
    ]
    listing = project.operator_command("rollback", "--stack", "staging", "--service", "llm-server", "--list")
    assert f"{v1.tag:<20}  {v1.digest}" in listing.stdout, listing.stdout + listing.stderr

    # Someone pushes other bits under v1's tag: the registry's v1 tag now names v2's image.
    registry.push(v2.local_ref, example_image.repo, v1.tag)
    try:
        # v1's image stays on the host, kept from its release: nothing to fetch for a rollback.
        assert image_id(engine, v1.digest_ref)
        with Load(f"http://127.0.0.1:{port}/health") as load:
            rollback = project.rollback("staging", "llm-server")
        assert f"{v2.tag} -> {v1.tag} ({v1.digest})" in rollback.stdout, rollback.stdout + rollback.stderr
        assert load.result.failed == 0, load.result.summary()
        # The old bits serve, not what the tag names now.
        assert {health(port)["version"] for _ in range(10)} == {v1.app_version}
        (live,) = app_containers(engine, all=True)
        labels = inspect(engine, live)["Config"]["Labels"]
        assert (labels[LABEL_IMAGE_TAG], labels[LABEL_IMAGE_DIGEST]) == (v1.tag, v1.digest)
        assert stack.outputs()["image_digests"] == {"llm-server": v1.digest}
        stack.preview(expect_no_changes=True)
    finally:
        registry.push(v1.local_ref, example_image.repo, v1.tag)  # the session's other tests use v1


def test_a_secret_rotation_rolls_out_beside_the_old_container_and_fails_no_request(
    project: Project, engine: DockerEngine, ssh_host: SshHost, registry: Registry, example_image: ExampleImage
) -> None:
    port = free_port()
    config = ssh_stack_config(ssh_host, registry, example_image, example_image.v1.tag, port)
    # The service reports APP_ENV on /health: as a secret, it shows which value is served.
    service = config["services"]["llm-server"]
    del service["env"]["APP_ENV"]
    service["secret_env"] = ["API_KEY", "APP_ENV"]
    old_value, new_value = "rotation-value-one-5e1f", "rotation-value-two-9a2c"
    stack = project.stack(
        "staging", config, secrets={"GHCR_TOKEN": registry.password, "API_KEY": API_KEY, "APP_ENV": old_value}
    )
    stack.up()
    assert health(port)["env"] == old_value
    (old,) = app_containers(engine)

    stack.stack.set_config("service-infra:secrets.APP_ENV", auto.ConfigValue(new_value, secret=True), path=True)
    with Load(f"http://127.0.0.1:{port}/health") as load:
        stack.up()
    assert load.result.failed == 0, load.result.summary()
    assert {health(port)["env"] for _ in range(10)} == {new_value}
    (new,) = app_containers(engine, all=True)  # the old container is gone
    assert new != old
    # Neither value, nor a plain hash of either, is anywhere in the state.
    state = project.state_text()
    for value in (old_value, new_value):
        assert value not in state
        assert hashlib.sha256(value.encode()).hexdigest()[:8] not in state
    stack.preview(expect_no_changes=True)


def test_prune_images_frees_the_host_of_what_no_kept_release_needs_and_nothing_else(
    project: Project, engine: DockerEngine, ssh_host: SshHost, registry: Registry, example_image: ExampleImage
) -> None:
    """`prune-images` over real SSH: the program's digest pulls of a repository of its own (so
    the suite's tagged builds are out of the picture), two releases and a stray pull."""
    repo, tags = "acme/prune-check", {"v1": example_image.v1, "v2": example_image.v2}
    repository = f"{registry.address}/{repo}"
    # A third image that nothing runs: the proxy's bits with a label of their own (so not in use).
    stray = "si-prune-stray:latest"
    engine.run(
        "build", "--label", "service-infra.test=stray", "-t", stray, "-", input=f"FROM {example_image.proxy_ref}\n"
    )
    digests = {}
    for name, local_ref in [*((n, v.local_ref) for n, v in tags.items()), ("stray", stray)]:
        ref = registry.push(local_ref, repo, name)
        found = engine.run("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout
        digests[name] = next(d.split("@")[1] for d in json.loads(found) if d.startswith(f"{repository}@"))
        engine.run("rmi", ref)  # no tag of the repository on the host: only what is pulled by digest
    engine.run("rmi", stray)
    port = free_port()
    config = ssh_stack_config(ssh_host, registry, example_image, "v1", port)
    config["services"]["llm-server"]["image"] = repository
    stack = project.stack("staging", config, secrets={"GHCR_TOKEN": registry.password, "API_KEY": API_KEY})
    stack.up()
    stack.set("services.llm-server.tag", "v2")
    stack.up()
    env = {"DOCKER_CONFIG": str(registry.docker_config_dir)}
    engine.run("pull", f"{repository}@{digests['stray']}", env=env)  # someone's pull: no release

    def on_host(name: str) -> bool:
        return engine.run("image", "inspect", f"{repository}@{digests[name]}", check=False).returncode == 0

    def prune(*args: str) -> str:
        done = project.operator_command("prune-images", "--stack", "staging", *args)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    listing = prune()
    assert f"would remove {repository}@{digests['stray']}" in listing, listing
    assert digests["v1"] not in listing and digests["v2"] not in listing, listing
    assert all(on_host(name) for name in digests)  # a listing removes nothing

    prune("--yes")
    assert not on_host("stray") and on_host("v1") and on_host("v2")

    prune("--keep", "1", "--yes")
    assert not on_host("v1") and on_host("v2")  # v2 is live: its container uses it
    assert health(port)["version"] == example_image.v2.app_version
    stack.preview(expect_no_changes=True)
