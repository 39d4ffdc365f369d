"""The Fly operations: deletes of what is already gone succeed and say so."""

from __future__ import annotations

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
