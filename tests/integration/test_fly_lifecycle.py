"""A Fly app through its life, through the real engine and the `fly` stand-in: a service key
renamed, a stack deployed before the app named its resources, secrets rotated, a volume changed,
a private image."""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from tests.fakes.fly.volumes import DESTROYED_STATES
from tests.support.harness import DockerEngine, Registry
from tests.support.programs import program_at, use_program
from tests.support.pulumi_project import Project, Stack
from tests.support.stacks import FLY_SECRETS, fly_config

# The last commit whose Fly resources were named after the service key (`<service>-app`, ...).
NAMED_BY_SERVICE_KEY = "0f4f175"


def fly_state_of(fly_state: dict[str, Path]) -> dict[str, Any]:
    return json.loads(fly_state["state"].read_text())


def fly_calls(fly_state: dict[str, Path]) -> list[list[str]]:
    """Every flyctl argv the stack ran, in order (the stand-in's audit log)."""
    return [json.loads(line)["argv"] for line in fly_state["log"].read_text().splitlines()]


def destroys(fly_state: dict[str, Path]) -> list[list[str]]:
    return [argv for argv in fly_calls(fly_state) if "destroy" in argv]


def live_volumes(fly_state: dict[str, Path], app: str) -> dict[str, str]:
    """name -> id of the app's volumes that are not being destroyed."""
    volumes = fly_state_of(fly_state)["volumes"].values()
    return {v["name"]: v["id"] for v in volumes if v["app"] == app and v["state"] not in DESTROYED_STATES}


def preview_ops(stack: Stack) -> list[tuple[str, str]]:
    """(op, resource name) of each step of `pulumi preview --json` that changes something."""
    result = stack.project.command.run(
        ["preview", "--json", "--non-interactive", "--stack", stack.stack.name],
        cwd=str(stack.project.dir),
        additional_env=stack.project.env,
    )
    steps = json.loads(result.stdout).get("steps") or []
    return [(s["op"], s["urn"].rsplit("::", 1)[-1]) for s in steps if s.get("op") not in {"same", "read"}]


def test_renaming_the_service_key_keeps_the_live_app(
    project: Project, fly_state: dict[str, Path], public_health_url: str
) -> None:
    config = fly_config("it-rename-app", public_health_url)
    project.stack("staging", config, FLY_SECRETS).up()
    volumes = live_volumes(fly_state, "it-rename-app")

    config["services"] = {"describer": config["services"]["image-descriptor"]}
    stack = project.stack("staging", config, FLY_SECRETS)
    ops = preview_ops(stack)
    assert not [(op, name) for op, name in ops if name.startswith("it-rename-app")], ops
    stack.up()

    state = fly_state_of(fly_state)
    assert "it-rename-app" in state["apps"] and state["apps"]["it-rename-app"]["deployed"]
    assert live_volumes(fly_state, "it-rename-app") == volumes
    assert destroys(fly_state) == []
    assert stack.outputs()["fly_hostnames"] == {"describer": "it-rename-app.fly.dev"}
    stack.preview(expect_no_changes=True)


def test_a_stack_whose_fly_resources_were_named_by_service_key_keeps_them(
    project: Project, fly_state: dict[str, Path], public_health_url: str
) -> None:
    """Aliases carry the old names: nothing is created or deleted, the app and volume stay."""
    use_program(project, program_at(NAMED_BY_SERVICE_KEY, "__main__.py", "service_infra", "components"))
    config = fly_config("it-legacy-app", public_health_url)
    stack = project.stack("staging", config, FLY_SECRETS)
    stack.up()
    volumes = live_volumes(fly_state, "it-legacy-app")

    use_program(project, None)
    ops = preview_ops(stack)
    # The fly.toml is now written by a TOML library, so the release may re-run in place.
    assert [(op, name) for op, name in ops if op != "update" and not name.endswith("-probe")] == [], ops
    stack.up()
    assert destroys(fly_state) == []
    assert live_volumes(fly_state, "it-legacy-app") == volumes
    stack.preview(expect_no_changes=True)


def test_a_volume_grows_and_what_flyctl_refuses_is_refused_before_any_change(
    project: Project, fly_state: dict[str, Path], public_health_url: str
) -> None:
    config = fly_config("it-volume-app", public_health_url)
    fly = config["services"]["image-descriptor"]["fly"]
    project.stack("staging", config, FLY_SECRETS).up()
    volumes = live_volumes(fly_state, "it-volume-app")
    (volume_id,) = volumes.values()

    fly["volumes"][0]["size_gb"] = 3
    project.stack("staging", config, FLY_SECRETS).up()
    assert fly_state_of(fly_state)["volumes"][volume_id]["size_gb"] == 3
    assert ["volumes", "extend", volume_id, "--app", "it-volume-app", "--size", "3", "--yes", "--json"] in fly_calls(
        fly_state
    )

    def refused(change: dict[str, Any], *expected: str) -> None:
        calls = len(fly_calls(fly_state))
        releases = len(fly_state_of(fly_state)["releases"]["it-volume-app"])
        stack = project.stack("staging", {**config, "services": {"image-descriptor": {
            **config["services"]["image-descriptor"], "fly": {**fly, **change}}}}, FLY_SECRETS)  # fmt: skip
        with pytest.raises(auto.CommandError) as failed:
            stack.up()
        for text in expected:
            assert text in str(failed.value), str(failed.value)[-3000:]
        assert "docs/operations.md#changing-a-fly-volume" in str(failed.value) or "only grow" in str(failed.value)
        changing = [argv for argv in fly_calls(fly_state)[calls:] if argv[:2] in (["volumes", "create"], ["deploy"])]
        assert changing == [] and destroys(fly_state) == []
        assert len(fly_state_of(fly_state)["releases"]["it-volume-app"]) == releases
        assert live_volumes(fly_state, "it-volume-app") == volumes
        assert fly_state_of(fly_state)["volumes"][volume_id]["size_gb"] == 3

    refused({"volumes": [{**fly["volumes"][0], "size_gb": 2}]}, "is 3 GB and Fly volumes only grow")
    refused(
        {"volumes": [{**fly["volumes"][0], "name": "cache_new"}]},
        "mounts volume cache_data", "can't update the attached volume",
    )  # fmt: skip
    refused({"volumes": []}, "which the config has removed", "--yes does not answer")

    # Back to what is deployed: nothing left to do.
    project.stack("staging", config, FLY_SECRETS).up()
    assert fly_state_of(fly_state)["apps"]["it-volume-app"]["deployed"]


def test_rotated_secrets_arrive_and_removed_ones_are_gone(
    project: Project, fly_state: dict[str, Path], public_health_url: str
) -> None:
    config = fly_config("it-rotate-app", public_health_url)
    project.stack("staging", config, FLY_SECRETS).up()
    before = fly_state_of(fly_state)["secrets"]["it-rotate-app"]
    assert set(before) == {"GOOGLE_AI_API_KEY", "SUPABASE_URL"}

    rotated = 'it-google-key-rotated "quoted" # and hashed'
    config["services"]["image-descriptor"]["fly"]["secrets"] = ["GOOGLE_AI_API_KEY"]
    project.stack("staging", config, {**FLY_SECRETS, "GOOGLE_AI_API_KEY": rotated}).up()
    after = fly_state_of(fly_state)["secrets"]["it-rotate-app"]
    assert set(after) == {"GOOGLE_AI_API_KEY"}
    assert after["GOOGLE_AI_API_KEY"]["digest"] == hashlib.sha256(rotated.encode()).hexdigest()[:16]
    assert after["GOOGLE_AI_API_KEY"]["deployed"] is True  # the release ran with it
    assert len(fly_state_of(fly_state)["releases"]["it-rotate-app"]) == 2
    assert rotated not in project.state_text() and rotated not in fly_state["log"].read_text()

    # The last secret removed: unset (staged) before the release that applies it, in the same update.
    config["services"]["image-descriptor"]["fly"]["secrets"] = []
    calls = len(fly_calls(fly_state))
    stack = project.stack("staging", config, FLY_SECRETS)
    stack.up()
    assert fly_state_of(fly_state)["secrets"].get("it-rotate-app", {}) == {}
    assert len(fly_state_of(fly_state)["releases"]["it-rotate-app"]) == 3
    this_update = fly_calls(fly_state)[calls:]
    unset = this_update.index(["secrets", "unset", "GOOGLE_AI_API_KEY", "--app", "it-rotate-app", "--stage"])
    assert unset < max(i for i, argv in enumerate(this_update) if argv[:1] == ["deploy"])
    assert not [argv for argv in this_update if argv[:2] == ["secrets", "import"]]
    stack.preview(expect_no_changes=True)


def test_a_private_image_is_pulled_here_and_pushed_to_fly(
    project: Project,
    engine: DockerEngine,
    registry: Registry,
    fly_state: dict[str, Path],
    public_health_url: str,
    tmp_path: Path,
) -> None:
    """Fly cannot pull from the private registry; the release pulls it with the registry's
    credentials and `fly deploy --local-only` pushes it to Fly's registry."""
    tag = f"sha-{secrets.token_hex(4)}"
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "hello").write_text("hello\n")
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM scratch\nCOPY hello /hello\n")
    local = f"it-private-src:{tag}"
    engine.run("build", "-q", "-t", local, str(tmp_path / "ctx"), timeout=300)
    source = registry.push(local, "acme/private-svc", tag)
    engine.run("rmi", local, source)  # only the registry has it now
    fly_state["state"].write_text(json.dumps({"private_registries": [registry.address]}))

    config = fly_config("it-private-app", public_health_url)
    service = config["services"]["image-descriptor"]
    service.update(image=source.rsplit(":", 1)[0], tag=tag)
    config["registry"] = {"server": registry.address, "username": registry.username, "password_secret": "GHCR_TOKEN"}
    stack_secrets = {**FLY_SECRETS, "GHCR_TOKEN": registry.password}
    stack = project.stack("staging", config, stack_secrets)
    with pytest.raises(auto.CommandError) as failed:  # as Fly would: its builders cannot see it
        stack.up()
    message = str(failed.value)
    assert "could not find image" in message and source in message, message[-3000:]

    service["fly"]["private_image"] = True
    stack = project.stack("staging", config, stack_secrets)
    stack.up()
    (release,) = [r for r in fly_state_of(fly_state)["releases"]["it-private-app"] if r["status"] == "complete"]
    assert release["image"] == f"registry.fly.io/it-private-app:{tag}"
    assert fly_state_of(fly_state)["registry"][release["image"]]["source"] == source
    assert engine.run("image", "inspect", source).returncode == 0  # pulled where the program runs
    deploy = [argv for argv in fly_calls(fly_state) if argv[:1] == ["deploy"]][-1]
    assert deploy[deploy.index("--image") + 1] == source and "--local-only" in deploy
    assert registry.password not in project.state_text()
    assert registry.password not in fly_state["log"].read_text()
    stack.preview(expect_no_changes=True)
