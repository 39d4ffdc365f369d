"""Which images `prune-images` may remove: the program's digest-only pulls that no kept release
and no container needs, and nothing else."""

from __future__ import annotations

import pytest

from service_infra.cli import prune_images
from service_infra.cli.prune_images import ImageRef, kept_digests, parse_images, removable

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
