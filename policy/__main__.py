"""Serves the service-infra-guards policy pack to the Pulumi engine.

The Python language host runs this file (`python -m pulumi.policy <engine> <this folder>`) with
this folder on sys.path. The engine names the stack in its ConfigureStack call, before any check;
from then on the pack is mandatory when the stack is prod or a pull request's preview, advisory
elsewhere (guards.Target). Until then (and for `pulumi policy publish`, which has no stack) it
reads PULUMI_STACK and PULUMI_CONFIG where a host sets them.
"""

import os

import guards
from pulumi_policy import PolicyPack

guards.install_secret_markers()
target = guards.LiveTarget(guards.Target.from_environ(os.environ))
guards.install_stack_configuration(target)

PolicyPack(
    name=guards.PACK_NAME,
    policies=guards.policies(target),
    enforcement_level=target.current.enforcement_level,
    description="service-infra guards: mandatory in prod and in previews, advisory elsewhere",
)
