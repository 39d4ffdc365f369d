"""The Fly app's secrets step, under Pulumi mocks: a removed secret is unset before the release that
applies it, the last one too, and stacks deployed with secrets keep the step they have."""

from __future__ import annotations

from typing import Any

import pulumi

from service_infra.components.fly_app import FlyApp, FlyAppArgs
from service_infra.contract import PROJECT
from service_infra.settings import load_settings
from tests.support.mocks import Recorder, is_secret, load_stack_config, reveal, run_stack, secret_value_for

APP = "acme-image-descriptor-staging"  # the staging stack's Fly app (its service: image-descriptor)
STAGING_SECRETS = ["API_KEY", "GOOGLE_AI_API_KEY", "SUPABASE_SERVICE_KEY", "SUPABASE_URL"]


def staging_with_fly_secrets(names: list[str]) -> dict[str, Any]:
    config = load_stack_config("staging")
    config[f"{PROJECT}:services"]["image-descriptor"]["fly"]["secrets"] = names
    return config


def fly_command(recorder: Recorder, suffix: str) -> dict[str, Any]:
    return recorder.named(f"{APP}{suffix}").inputs


def test_a_stack_with_secrets_keeps_its_secrets_step_as_deployed() -> None:
    """Nothing of what a deployed stack recorded changes, so its preview replaces nothing."""
    secrets = fly_command(run_stack(load_stack_config("staging"), "staging"), "-secrets")
    assert secrets["create"] == f"fly secrets import --app {APP} --stage"
    assert secrets["delete"] == f"fly secrets unset {' '.join(STAGING_SECRETS)} --app {APP} --stage"
    assert secrets["triggers"] == [",".join(STAGING_SECRETS)]
    assert is_secret(secrets["stdin"]) and is_secret(secrets["environment"])


def test_without_secrets_the_step_stays_and_only_unsets_what_was_there() -> None:
    recorder = run_stack(staging_with_fly_secrets([]), "staging")
    secrets = fly_command(recorder, "-secrets")
    # A new set of names (none) replaces the step, delete first: the old step's recorded delete
    # unsets the old names; this one imports nothing and has nothing to unset later.
    assert secrets["triggers"] == [""]
    assert not {"create", "update", "delete", "stdin", "environment"} & set(secrets), secrets
    # The release sees the change (its digest of names and values), so it runs and applies the unset.
    with_secrets = run_stack(load_stack_config("staging"), "staging")
    digest = reveal(fly_command(recorder, "-release")["environment"])["SECRETS_DIGEST"]
    assert digest != reveal(fly_command(with_secrets, "-release")["environment"])["SECRETS_DIGEST"]


def build_fly_app(secret_names: list[str]) -> tuple[FlyApp, dict[str, pulumi.ResourceOptions]]:
    """The component for the staging service with these Fly secrets, and each child's options."""
    config = staging_with_fly_secrets(secret_names)
    service = load_settings(config, set(), "staging").services["image-descriptor"]
    options: dict[str, pulumi.ResourceOptions] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        options[args.name] = args.opts

    built: list[FlyApp] = []
    pulumi.runtime.set_mocks(Recorder(), project=PROJECT, stack="staging", preview=False)

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        values = {name: pulumi.Output.secret(secret_value_for(name)) for name in secret_names}
        token = pulumi.Output.secret(secret_value_for("FLY_API_TOKEN"))
        app = FlyApp(
            APP,
            FlyAppArgs(service, "image-descriptor", values, token),
            opts=pulumi.ResourceOptions(transformations=[record]),
        )
        built.append(app)
        return app.release.stdout

    program()
    return built[0], options


def test_the_release_waits_for_the_secrets_step_with_or_without_secrets() -> None:
    for names in (STAGING_SECRETS, []):
        app, options = build_fly_app(names)
        secrets, release = options[f"{APP}-secrets"], options[f"{APP}-release"]
        depends_on = release.depends_on
        assert isinstance(depends_on, list) and app.secrets in depends_on, names
        # Replaced delete first, so the old names are unset before the new step and the release.
        assert secrets.delete_before_replace is True
        # Holds no data: never protected, or a change of names could not replace it.
        assert not secrets.protect
