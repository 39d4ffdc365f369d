"""Which images `prune-images` may remove: the program's digest-only pulls that no kept release
and no container needs, and nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from service_infra.cli import prune_images
from service_infra.cli.prune_images import ImageRef, kept_digests, parse_images, removable
from service_infra.cli.rollback import RollbackError
from tests.support import ROOT

REPO = "ghcr.io/acme/local-llm-server"


def digest(n: int) -> str:
    return "sha256:" + f"{n:x}" * 64


def ref(n: int, tag: str = "<none>", repository: str = REPO, image_id: str | None = None) -> ImageRef:
    return ImageRef(repository, tag, digest(n), image_id or f"sha256:{n:064x}")


def test_only_untagged_digest_pulls_that_no_release_or_container_needs() -> None:
    refs = [
        ref(1),  # the live release
        ref(2),  # an earlier release, kept
        ref(3),  # an older release, not kept: goes
        ref(4),  # not a release, but a stopped container uses it
        ref(5, tag="sha-5e0a7c9"),  # someone tagged it: theirs
        ref(6, repository="ghcr.io/acme/other"),  # another repository
        ref(7),  # not a release; the same image is also tagged in the repository: stays
        ref(7, tag="debug", image_id=ref(7).image_id),
        ImageRef(REPO, "<none>", "<none>", "sha256:" + "e" * 64),  # a dangling build: not ours
    ]
    going = removable(refs, REPO, keep=[digest(1), digest(2)], in_use={ref(4).image_id})
    assert [r.digest for r in going] == [digest(3)]
    assert going[0].ref == f"{REPO}@{digest(3)}"


def test_keep_counts_releases_newest_first_and_a_service_without_releases_is_left_alone() -> None:
    outputs = {
        "releases": {"llm-server": [{"tag": f"t{n}", "digest": digest(n), "container": f"c{n}"} for n in (3, 2, 1)]}
    }
    assert kept_digests(outputs, "llm-server", 10) == [digest(3), digest(2), digest(1)]
    assert kept_digests(outputs, "llm-server", 1) == [digest(3)]
    assert kept_digests(outputs, "other", 10) is None
    assert kept_digests({}, "llm-server", 10) is None


def test_docker_image_ls_lines_are_read_field_by_field() -> None:
    text = f"{REPO}\t<none>\t{digest(1)}\tsha256:{1:064x}\n\nnot a row\n"
    assert parse_images(text) == [ref(1)]


def test_keep_must_leave_the_live_release(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        prune_images.main(["--stack", "staging", "--keep", "0"])
    assert "--keep: at least 1" in capsys.readouterr().err


class HostImages(prune_images.Docker):
    """A host holding REFS, no container; records what is removed."""

    def __init__(self, refs: list[ImageRef]) -> None:
        super().__init__(["docker"])
        self.refs, self.removed = refs, []

    def __enter__(self) -> HostImages:
        return self

    def check(self, *args: str, timeout: float = 120) -> str:
        if args[:2] == ("image", "ls"):
            return "\n".join("\t".join((r.repository, r.tag, r.digest, r.image_id)) for r in self.refs)
        if args[:2] == ("image", "rm"):
            self.removed.append(args[2])
        return ""


def shared_host_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, share: bool) -> HostImages:
    """The seeds in TMP_PATH (the working directory); with SHARE, staging logs in as prod does."""
    for stack in ("staging", "prod"):
        shutil.copy(ROOT / f"Pulumi.{stack}.yaml", tmp_path / f"Pulumi.{stack}.yaml")
    if share:
        text = (tmp_path / "Pulumi.staging.yaml").read_text().replace("deploy-staging@", "deploy-prod@")
        (tmp_path / "Pulumi.staging.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    host = HostImages([ref(1), ref(2), ref(3)])
    monkeypatch.setattr(prune_images, "Docker", lambda _cli: host)
    return host


def releases(*numbers: int) -> dict:
    return {"releases": {"llm-server": [{"tag": f"t{n}", "digest": digest(n)} for n in numbers]}}


def test_on_a_host_another_stack_shares_its_releases_stay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Staging's prune on an engine prod also runs on (one login for both) leaves prod's
    rollback images: digest 3 is prod's, digest 1 staging's live one; only 2 goes."""
    host = shared_host_project(tmp_path, monkeypatch, share=True)
    said: list[str] = []
    count = prune_images.prune("staging", releases(1), 1, True, said.append, read_outputs=lambda _s: releases(3))
    assert count == 1 and host.removed == [f"{REPO}@{digest(2)}"]


def test_a_sharing_stack_whose_releases_cannot_be_read_keeps_the_host_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = shared_host_project(tmp_path, monkeypatch, share=True)

    def unreadable(stack: str) -> dict:
        raise RollbackError(f"`pulumi stack output --stack {stack}` failed: access denied")

    said: list[str] = []
    assert prune_images.prune("staging", releases(1), 1, True, said.append, read_outputs=unreadable) == 0
    assert host.removed == []
    assert "stack prod shares this host and its releases could not be read" in said[0] and "nothing removed" in said[0]


def test_a_host_of_its_own_is_pruned_without_asking_other_stacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = shared_host_project(tmp_path, monkeypatch, share=False)

    def never(stack: str) -> dict:
        raise AssertionError(f"read {stack}'s outputs")

    assert prune_images.prune("staging", releases(1), 1, True, lambda _m: None, read_outputs=never) == 2
    assert host.removed == [f"{REPO}@{digest(2)}", f"{REPO}@{digest(3)}"]
