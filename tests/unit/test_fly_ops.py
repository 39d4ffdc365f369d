"""The Fly operations: deletes of what is already gone succeed and say so."""

from __future__ import annotations

import json

import pytest

from service_infra.ops import fly as flyctl


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
