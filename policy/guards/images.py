"""images-pinned: every image the program runs is pinned by an immutable tag or a digest."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs

from .fly import fly_role, release_image
from .resources import CONTAINER, REMOTE_IMAGE, label, props


def image_problem(ref: str) -> str | None:
    """Why an image reference is not pinned, or None when it is (a tag other than latest, or a digest)."""
    if ref.startswith("sha256:"):
        return None  # an image id: immutable
    name, _, digest = ref.partition("@")
    if digest:
        return None
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"'{ref}' has no tag, so Docker resolves it to :latest"
    tag = last.rsplit(":", 1)[1]
    if not tag:
        return f"'{ref}' has an empty tag"
    if tag == "latest":
        return f"'{ref}' uses the mutable tag :latest"
    return None


def images_pinned_findings(args: ResourceValidationArgs) -> Iterator[str]:
    inputs = props(args)
    name = label(args.resource_type, args.name)
    if args.resource_type == REMOTE_IMAGE:
        ref = inputs.get("name")
        if isinstance(ref, str):
            problem = image_problem(ref)
            if problem:
                yield (
                    f"{name}: image {problem}. Pin it: set service-infra:services.<service>.tag to an "
                    "immutable tag (prod: sha-<hash>)."
                )
    elif args.resource_type == CONTAINER:
        ref = inputs.get("image")
        if isinstance(ref, str):
            problem = image_problem(ref)
            if problem:
                yield (
                    f"{name}: image {problem}. Run the image id of a pinned RemoteImage "
                    "(image=remote_image.image_id), or a ref with an immutable tag or digest."
                )
    elif fly_role(args) == "release":
        create = inputs.get("create")
        if not isinstance(create, str):
            return  # not known yet
        image = release_image(create)
        if image is None:
            yield f"{name}: the Fly release has no --image; release a pinned image (--image <repo>:sha-<hash>)."
            return
        problem = image_problem(image)
        if problem:
            yield (
                f"{name}: the Fly release image {problem}. Set service-infra:services.<service>.tag to an "
                "immutable tag (prod: sha-<hash>)."
            )
