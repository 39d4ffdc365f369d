"""A Fly app through its life, through the real engine and the `fly` stand-in: a service key
renamed, a stack deployed before the app named its resources, secrets rotated, a volume changed,
a private image."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT
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
    return {v["name"]: v["id"] for v in volumes if v["app"] == app and v["state"] != "pending_destroy"}


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


def program_at(commit: str) -> bytes:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "__main__.py", "service_infra", "components"],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"this test deploys the program as of {commit} from git history: {done.stderr.decode().strip()}")
    return done.stdout


def use_program(project: Project, tar: bytes | None) -> None:
    for name in ("components", "service_infra"):
        shutil.rmtree(project.dir / name, ignore_errors=True)
    if tar is None:
        shutil.copy(ROOT / "__main__.py", project.dir / "__main__.py")
        for package in ("service_infra", "components"):
            shutil.copytree(ROOT / package, project.dir / package, ignore=shutil.ignore_patterns("__pycache__"))
        return
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(project.dir, filter="data")


def test_a_stack_whose_fly_resources_were_named_by_service_key_keeps_them(
    project: Project, fly_state: dict[str, Path], public_health_url: str
) -> None:
    """Aliases carry the old names: nothing is created or deleted, the app and volume stay."""
    use_program(project, program_at(NAMED_BY_SERVICE_KEY))
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
