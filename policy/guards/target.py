"""Which stack the pack runs for, and so whether its policies are mandatory or advisory.

The pack learns the stack from the engine's ``ConfigureStack`` call (stack name and
configuration), which pulumi_policy 1.21 receives but drops, so ``install_stack_configuration``
keeps it; a host that instead sets ``PULUMI_STACK`` and ``PULUMI_CONFIG`` is read the same way.
The stack is prod when the engine names it ``prod`` or its ``service-infra:environment`` is
``prod``: either is enough, so no config edit makes the stack named prod advisory (the settings
refuse that edit too, but the pack does not rely on them). It is a pull request's preview when the
engine names it ``pr-<n>`` or its environment is ``preview``, unless the engine names it ``prod``:
a config edit cannot turn prod into a preview (whose rules refuse what prod's demand), while
``environment: prod`` in a ``pr-<n>`` stack leaves it held to both (so no deploy passes). A preview
runs a branch's code, so its guards are mandatory as prod's are; every other stack is advisory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi_policy.policy as _policy_runtime
from pulumi_policy import EnforcementLevel

from service_infra.contract import PROJECT, pull_request_of

ENVIRONMENT_KEY = f"{PROJECT}:environment"
PROD = "prod"
PREVIEW = "preview"


@dataclass(frozen=True)
class Target:
    """The stack the engine runs the pack for, and whether it counts as prod or as a preview."""

    stack: str | None
    environment: str | None

    @property
    def is_prod(self) -> bool:
        # The engine's stack name comes first: config is what an attacker can edit.
        return self.stack == PROD or self.environment == PROD

    @property
    def is_preview(self) -> bool:
        # The engine's name first here too: `pr-<n>` is a preview whatever its config says, and
        # no config makes the stack named prod one.
        if pull_request_of(self.stack) is not None:
            return True
        return self.environment == PREVIEW and self.stack != PROD

    @property
    def enforcement_level(self) -> EnforcementLevel:
        mandatory = self.is_prod or self.is_preview
        return EnforcementLevel.MANDATORY if mandatory else EnforcementLevel.ADVISORY

    def describe(self) -> str:
        return f"stack {self.stack or '(unknown)'}, environment {self.environment or '(unset)'}"

    @classmethod
    def from_config(cls, stack: str | None, config: Mapping[str, Any]) -> Target:
        """The stack's name and configuration (secure values decrypted: only the environment
        key is read, and nothing from the configuration is ever kept or printed)."""
        value = config.get(ENVIRONMENT_KEY)
        environment = value if isinstance(value, str) and value else None
        return cls(stack=stack or None, environment=environment)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Target:
        """Reads PULUMI_STACK and PULUMI_CONFIG (the configuration as JSON), where a language
        host passes the stack to a policy pack process that way."""
        config: Any = {}
        raw = environ.get("PULUMI_CONFIG")
        if raw:
            try:
                config = json.loads(raw)
            except ValueError:
                config = {}
        return cls.from_config(environ.get("PULUMI_STACK"), config if isinstance(config, dict) else {})


class LiveTarget:
    """The stack the pack is checking right now: where the engine's ConfigureStack call puts it.

    The pack object is built before the engine says which stack it analyzes, so the policies
    hold this and ask it at check time instead of holding a fixed Target.
    """

    def __init__(self, initial: Target) -> None:
        self.current = initial

    @property
    def is_prod(self) -> bool:
        return self.current.is_prod

    @property
    def is_preview(self) -> bool:
        return self.current.is_preview

    @property
    def stack(self) -> str | None:
        return self.current.stack


# pulumi_policy keeps the pack's level in a name-mangled attribute of its servicer.
_PACK_LEVEL_ATTRIBUTE = "_PolicyAnalyzerServicer__policy_pack_enforcement_level"


def install_stack_configuration(live: LiveTarget) -> None:
    """Make the engine's ConfigureStack call decide which stack (and so which level) applies.

    The Pulumi CLI tells a policy pack its stack through the ``ConfigureStack`` RPC (stack name,
    configuration), after ``GetAnalyzerInfo`` and before any ``Analyze``. pulumi_policy 1.21
    keeps only the stack's tags from it. This wraps the SDK's handler so that it also sets
    ``live.current`` and the pack's enforcement level (mandatory in prod and in a preview,
    advisory elsewhere), which every violation then reports. Fails loudly if the SDK's servicer
    changed shape, rather than letting prod checks silently become advisory.
    """
    servicer = getattr(_policy_runtime, "_PolicyAnalyzerServicer", None)
    original = getattr(servicer, "ConfigureStack", None)
    original = getattr(original, "_service_infra_original", original)  # installing again replaces
    if servicer is None or original is None:
        raise RuntimeError(
            "pulumi_policy.policy._PolicyAnalyzerServicer.ConfigureStack is gone: the stack hook "
            "needs updating for this pulumi-policy version"
        )

    def configure_stack(self: Any, request: Any, context: Any) -> Any:
        if not hasattr(self, _PACK_LEVEL_ATTRIBUTE):
            raise RuntimeError(
                f"pulumi_policy's servicer has no {_PACK_LEVEL_ATTRIBUTE}: the stack hook needs "
                "updating for this pulumi-policy version"
            )
        live.current = Target.from_config(request.stack, dict(request.config))
        setattr(self, _PACK_LEVEL_ATTRIBUTE, live.current.enforcement_level)
        return original(self, request, context)

    configure_stack._service_infra_original = original  # type: ignore[attr-defined]
    servicer.ConfigureStack = configure_stack
