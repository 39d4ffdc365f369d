"""The Fly operations: deletes of what is already gone succeed and say so; volume changes Fly cannot
make are refused first; the caller's environment cannot retarget them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from service_infra.commands import fly as commands
from service_infra.ops import fly as flyctl
from tests.fakes.fly.volumes import DESTROYED_STATES
from tests.support import ROOT
from tests.support.stacks import FLY_STANDIN


class Recorded:
    def __init__(self, fail: dict[str, str] | None = None, show: str = "{}") -> None:
        self.calls: list[list[str]] = []
        self.fail, self.show = fail or {}, show

    def __call__(self, argv: list[str], stdin: str | None = None) -> str:
        self.calls.append(argv)
        verb = " ".join(argv[1:3])
        if verb in self.fail:
            raise flyctl.FlyError(self.fail[verb])
        return self.show if verb == "volumes show" else ""


def test_an_app_already_gone_is_a_successful_delete(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flyctl, "_run", Recorded({"apps destroy": 'Error: Could not find App "web"'}))
    assert flyctl.destroy_app("web") == "Fly app web was already gone"
    monkeypatch.setattr(flyctl, "_run", Recorded({"apps destroy": "Error: unauthorized"}))
    with pytest.raises(flyctl.FlyError, match="unauthorized"):
        flyctl.destroy_app("web")


def test_a_volume_already_gone_is_a_successful_delete(monkeypatch: pytest.MonkeyPatch) -> None:
    gone = "failed retrieving volume: failed to get volume vol_1: not_found: volume not found"
    monkeypatch.setattr(flyctl, "_run", Recorded({"volumes show": gone}))
    assert flyctl.destroy_volume("web", "vol_1") == "volume vol_1 of web was already gone"
    fake = Recorded(show='{"id": "vol_1", "state": "pending_destroy"}')
    monkeypatch.setattr(flyctl, "_run", fake)
    assert "already gone (pending_destroy)" in flyctl.destroy_volume("web", "vol_1")
    fake = Recorded(show='{"id": "vol_1", "state": "created"}')
    monkeypatch.setattr(flyctl, "_run", fake)
    assert flyctl.destroy_volume("web", "vol_1") == "volume vol_1 destroyed"
    assert fake.calls[-1] == ["fly", "volumes", "destroy", "vol_1", "--app", "web", "--yes"]


def test_a_volume_in_any_of_fly_gos_soft_deleted_states_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    # Both read from fly-go v0.9.5's destroyedVolumeStates: the program and the stand-in agree with it.
    assert flyctl.GONE_STATES == DESTROYED_STATES
    for state in DESTROYED_STATES:
        fake = Recorded(show=json.dumps({"id": "vol_1", "state": state}))
        monkeypatch.setattr(flyctl, "_run", fake)
        assert flyctl.destroy_volume("web", "vol_1") == f"volume vol_1 of web was already gone ({state})"
        assert [c[1:3] for c in fake.calls] == [["volumes", "show"]]  # no second destroy


class Volumes:
    """Answers `volumes list/show/extend` from a list of volumes, recording each argv."""

    def __init__(self, *volumes: dict[str, object]) -> None:
        self.volumes, self.calls = list(volumes), []

    def __call__(self, argv: list[str], stdin: str | None = None) -> str:
        self.calls.append(argv)
        verb = "deploy" if argv[1] == "deploy" else " ".join(argv[1:3])
        if verb == "volumes list":
            return json.dumps(self.volumes)
        if verb == "volumes show":
            return json.dumps(next(v for v in self.volumes if v["id"] == argv[3]))
        if verb in ("volumes extend", "volumes create", "deploy"):
            return json.dumps({"id": "vol_new"})
        raise AssertionError(argv)


DATA = {"id": "vol_data", "name": "data", "region": "iad", "size_gb": 2, "state": "created"}
ATTACHED = {**DATA, "attached_machine_id": "m_1"}
TOML_DATA = '[[mounts]]\nsource = "data"\ndestination = "/data"\n'


def test_a_volume_grows_and_never_shrinks(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = Volumes(ATTACHED)
    monkeypatch.setattr(flyctl, "_run", fake)
    assert flyctl.resize_volume("web", "vol_data", "data", "iad", 2)["id"] == "vol_data"
    assert [c[1:3] for c in fake.calls] == [["volumes", "show"]]  # same size: nothing to do
    flyctl.resize_volume("web", "vol_data", "data", "iad", 5)
    assert fake.calls[-1] == ["fly", "volumes", "extend", "vol_data", "--app", "web", "--size", "5", "--yes", "--json"]
    with pytest.raises(flyctl.FlyError, match=r"is 2 GB and Fly volumes only grow: set size_gb to 2 or more"):
        flyctl.resize_volume("web", "vol_data", "data", "iad", 1)
    with pytest.raises(flyctl.FlyError, match=r"is in iad, not fra: a Fly volume cannot move between regions"):
        flyctl.resize_volume("web", "vol_data", "data", "fra", 2)
    assert not any(c[1:3] == ["volumes", "extend"] for c in fake.calls[-2:])


def test_a_second_volume_is_refused_while_a_machine_mounts_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = Volumes(ATTACHED)
    monkeypatch.setattr(flyctl, "_run", fake)
    with pytest.raises(
        flyctl.FlyError, match=r"machine m_1 mounts volume data \(vol_data\).*can't update the attached"
    ):
        flyctl.ensure_volume("web", "cache", "iad", 1, "shared-cpu-1x", 512)
    assert [c[1:3] for c in fake.calls] == [["volumes", "list"]]  # nothing created
    monkeypatch.setattr(flyctl, "_run", Volumes(DATA))  # not attached: a new one may be made
    assert flyctl.ensure_volume("web", "cache", "iad", 1, "shared-cpu-1x", 512)["adopted"] is False


@pytest.mark.parametrize(
    ("toml", "change"),
    [("", "removed"), ('[[mounts]]\nsource = "cache"\ndestination = "/data"\n', "swapped for cache")],
)
def test_a_mounted_volume_removed_or_swapped_is_refused_before_the_deploy(
    monkeypatch: pytest.MonkeyPatch, toml: str, change: str
) -> None:
    fake = Volumes(ATTACHED)
    monkeypatch.setattr(flyctl, "_run", fake)
    with pytest.raises(flyctl.FlyError, match=rf"mounts volume data \(vol_data\), which the config has {change};"):
        flyctl.release("web", "img:1", toml)
    assert all(call[1] != "deploy" for call in fake.calls)
    flyctl.release("web", "img:1", TOML_DATA)  # the same volume deploys
    assert fake.calls[-1][1] == "deploy"


def test_the_callers_token_app_and_fly_toml_cannot_retarget_any_fly_command(tmp_path: Path) -> None:
    """Every Fly command resource, run as the command provider runs it (the caller's environment
    with the resource's over it, in the caller's directory) against the `fly` stand-in, acts with the
    stack's token on the stack's app, whatever FLY_ACCESS_TOKEN, FLY_APP and ./fly.toml say."""
    state, log = tmp_path / "fly-state.json", tmp_path / "fly-argv.jsonl"
    state.write_text(
        json.dumps(
            {
                "orgs": {"acme": {"name": "Acme", "type": "SHARED"}, "rival": {"name": "Rival", "type": "SHARED"}},
                "tokens": {"tok-stack": ["acme"], "tok-caller": ["rival"]},
                "apps": {"other-app": {"org": "rival"}},
            }
        )
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "fly.toml").write_text('app = "other-app"\nprimary_region = "iad"\n')
    caller = {
        **os.environ,
        "PATH": f"{FLY_STANDIN}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),  # python3 -m service_infra.ops.fly, from the caller's directory
        "FLY_STANDIN_STATE": str(state),
        "FLY_STANDIN_LOG": str(log),
        "FLY_ACCESS_TOKEN": "tok-caller",
        "FLY_API_TOKEN": "tok-caller",
        "FLY_APP": "other-app",
    }
    resource_env = commands.token_environment("tok-stack")

    def run(argv: list[str], stdin: str = "", **provider_env: str) -> str:
        done = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            cwd=project,
            env={**caller, **resource_env, **provider_env},
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    toml = commands.fly_toml(
        app="web", region="iad", vm_size="shared-cpu-1x", memory_mb=512, internal_port=8080,
        health_path="/health", env={}, mount=commands.FlyMount("data", "/data"),
    )  # fmt: skip
    run(commands.ensure_app_operation("web", "acme"))
    volume = run(commands.ensure_volume_operation("web", "data", "iad", 1, "shared-cpu-1x", 512))
    run(commands.secrets_import("web"), stdin=commands.secrets_stdin({"DB_URL": "s3cr3t"}))
    run(commands.release_operation("web", "registry.example/web:sha-1a2b3c4"), stdin=toml)
    run(commands.resize_volume_operation("web", "data", "iad", 2), PULUMI_COMMAND_STDOUT=volume)
    run(commands.secrets_unset("web", ["DB_URL"]))
    fly = json.loads(state.read_text())
    assert fly["apps"]["web"]["org"] == "acme" and fly["apps"]["web"]["deployed"]
    assert [v["size_gb"] for v in fly["volumes"].values() if v["app"] == "web"] == [2]
    run(commands.delete_volume_operation("web"), PULUMI_COMMAND_STDOUT=volume)
    run(commands.delete_app_operation("web"))

    fly = json.loads(state.read_text())
    assert "web" not in fly["apps"] and fly["apps"]["other-app"]["deployed"] is False
    assert not [v for v in fly["volumes"].values() if v["app"] == "other-app"]
    assert not fly["secrets"].get("other-app") and not fly["releases"].get("other-app")
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert {" ".join(c["argv"][: 1 if c["argv"][0] == "deploy" else 2]) for c in calls} >= {
        "apps list", "apps create", "volumes list", "volumes create", "secrets import", "deploy",
        "volumes show", "volumes extend", "secrets unset", "apps destroy",
    }  # fmt: skip
    for call in calls:
        assert call["exit_code"] == 0 and call["token_orgs"] == ["acme"], call
        assert call["app"] in ("web", None) and "other-app" not in call["argv"], call
    assert [c["argv"][2] for c in calls if c["argv"][:2] == ["apps", "destroy"]] == ["web"]


@pytest.mark.parametrize(
    ("stderr", "refused"),
    [
        ("Error: unauthorized (Request ID: 01JF8Z4Q9W2V3X5Y6Z7A8B9C0D-iad)\n", True),  # apps create, deploy
        ("Error: failed to list app secrets: unauthorized (Request ID: 01JF8Z4Q9W2V3X5Y6Z7A8B9C0D-iad)\n", True),
        ("Error: Validation failed: Name has already been taken\n", False),
        ("Error: the app is unauthorized to use this volume size\n", False),
    ],
)
def test_a_token_the_api_refuses_is_told_apart(stderr: str, refused: bool) -> None:
    """flyctl v0.4.87's words for a 401 of the Machines API (fly-go v0.9.5 flaps), and nothing else."""
    assert flyctl.unauthorized(stderr) is refused
