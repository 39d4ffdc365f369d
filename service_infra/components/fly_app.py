"""One service as a Fly.io app, driven through flyctl by command resources."""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_command import local

from service_infra.commands import fly as flyctl
from service_infra.contract import FLY_APP_SUFFIX, FLY_APP_TYPE, FLY_RELEASE_SUFFIX, FLY_VOLUME_SUFFIX
from service_infra.settings import RegistrySettings, Service


@dataclass(frozen=True)
class FlyAppArgs:
    service: Service
    # The service's key in the stack: before resources were named after the Fly app they were
    # named after it, and aliases keep those stacks' resources (and their live app).
    service_key: str
    # Every stack secret by name; the app's own (fly.secrets, secret_env) are picked from it.
    secret_values: Mapping[str, pulumi.Output[str]]
    api_token: pulumi.Output[str]
    # The registry a private image (fly.private_image) is pulled from, and its password.
    registry: RegistrySettings | None = None
    registry_password: pulumi.Output[str] | None = None


def _digest(values: list[str]) -> str:
    return hashlib.sha256("\0".join(values).encode()).hexdigest()


class FlyApp(pulumi.ComponentResource):
    """The app (adopted if it is already ours), its volumes, staged secrets and pinned release.

    Named after the Fly app, which is what it is: renaming the service's key in the stack keeps
    every resource, where new resources would adopt the app and the old ones' delete destroy it.

    The release re-runs only when the image, the fly.toml or a secret value changes. Secret
    values travel on stdin only; the token reaches flyctl through its environment.
    """

    def __init__(
        self,
        name: str,
        args: FlyAppArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        # Stacks deployed before: the component and each child had the service key for a name.
        legacy = args.service_key if args.service_key != name else None
        before = [pulumi.Alias(name=legacy)] if legacy else []
        super().__init__(
            FLY_APP_TYPE, name, None, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=before))
        )
        legacy_parent = (
            pulumi.create_urn(legacy, FLY_APP_TYPE, parent=(opts.parent if opts else None)) if legacy else None
        )

        def was(suffix: str) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(
                aliases=[pulumi.Alias(name=f"{legacy}{suffix}", parent=legacy_parent)] if legacy else None
            )

        service, secrets, api_token = args.service, args.secret_values, args.api_token
        fly = service.fly
        assert fly is not None, "a FlyApp needs service.fly"
        secret_names = sorted({*fly.secrets, *service.secret_env})
        values = pulumi.Output.all(*[secrets[n] for n in secret_names])
        # Encoding every value first refuses one flyctl would alter (UnsafeSecret names it) before any
        # Fly command runs: they all wait for token_env, which waits for this.
        stdin = pulumi.Output.secret(
            values.apply(lambda vs: flyctl.secrets_stdin(dict(zip(secret_names, vs, strict=True))))
        )
        # The stack's token, over any the caller has (token_environment says why).
        token_env = pulumi.Output.secret(
            pulumi.Output.all(api_token, stdin).apply(lambda args: flyctl.token_environment(args[0]))
        )
        # Deleting an app deletes its volumes, so a protected app is protected as a whole.
        keep = pulumi.ResourceOptions(parent=self, protect=bool(fly.protect))

        self.app = local.Command(
            f"{name}{FLY_APP_SUFFIX}",
            create=shlex.join(flyctl.ensure_app_operation(fly.app, fly.org)),
            delete=shlex.join(flyctl.delete_app_operation(fly.app)),
            environment=token_env,
            opts=pulumi.ResourceOptions.merge(keep, was(FLY_APP_SUFFIX)),
        )
        after_app = pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(depends_on=[self.app]))
        volumes = [
            local.Command(
                f"{name}{FLY_VOLUME_SUFFIX}{volume.name}",
                create=shlex.join(
                    flyctl.ensure_volume_operation(
                        fly.app, volume.name, fly.region, volume.size_gb, fly.vm_size, fly.memory_mb
                    )
                ),
                # A changed size grows the volume; a shrink or a region change is refused, naming why.
                update=shlex.join(flyctl.resize_volume_operation(fly.app, volume.name, fly.region, volume.size_gb)),
                delete=shlex.join(flyctl.delete_volume_operation(fly.app)),
                environment=token_env,
                opts=pulumi.ResourceOptions.merge(after_app, was(f"{FLY_VOLUME_SUFFIX}{volume.name}")),
            )
            for volume in fly.volumes
        ]

        # A changed set of names replaces this resource, delete first: the old names are unset
        # (staged), then the new set is imported (staged), and the release below applies both.
        # Declared for no names too, as nothing but that unset: removing the last secret then
        # unsets it before the release, not after it (as the delete of a dropped resource would).
        # Never protected: it holds no data, and a protected resource could never be replaced.
        self.secrets = local.Command(
            f"{name}-secrets",
            create=shlex.join(flyctl.secrets_import(fly.app)) if secret_names else None,
            delete=shlex.join(flyctl.secrets_unset(fly.app, secret_names)) if secret_names else None,
            stdin=stdin if secret_names else None,
            environment=token_env if secret_names else None,
            triggers=[",".join(secret_names)],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.app],
                additional_secret_outputs=["stdout", "stderr"],
                delete_before_replace=True,
            ).merge(was("-secrets")),
        )

        toml = flyctl.fly_toml(
            app=fly.app,
            region=fly.region,
            vm_size=fly.vm_size,
            memory_mb=fly.memory_mb,
            internal_port=fly.internal_port,
            health_path=service.health_path,
            env=service.plain_env,
            mount=next((flyctl.FlyMount(v.name, v.mount) for v in fly.volumes), None),
        )
        # A changed secret value changes this digest, which re-runs the release.
        release_env = pulumi.Output.all(token_env, values).apply(
            lambda args: {**args[0], "SECRETS_DIGEST": _digest([*secret_names, *args[1]])}
        )
        pull_from = None
        if fly.private_image:  # pulled where this runs, pushed to Fly's registry by flyctl
            assert args.registry is not None and args.registry_password is not None, "settings require registry"
            pull_from = (args.registry.server, args.registry.username)
            release_env = pulumi.Output.all(release_env, args.registry_password).apply(
                lambda env_password: {**env_password[0], flyctl.REGISTRY_PASSWORD_ENV: env_password[1]}
            )
        self.release = local.Command(
            f"{name}{FLY_RELEASE_SUFFIX}",
            create=shlex.join(flyctl.release_operation(fly.app, service.image_ref, pull_from)),
            stdin=toml,
            environment=pulumi.Output.secret(release_env),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.app, *volumes, self.secrets]).merge(
                was(FLY_RELEASE_SUFFIX)
            ),
        )
        self.hostname = f"{fly.app}.fly.dev"
        self.url = f"https://{self.hostname}"
        self.health_url = service.health_url(self.url)
        self.register_outputs({"app": fly.app, "hostname": self.hostname, "release": self.release.stdout})
