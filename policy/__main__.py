"""Serves the service-infra-guards policy pack to the Pulumi engine.

The Python language host runs this file (`python -m pulumi.policy <engine> <this folder>`) with
this folder on sys.path, after putting the stack's name and configuration in PULUMI_STACK and
PULUMI_CONFIG. The pack is mandatory when the stack is prod, advisory elsewhere (guards.Target).
"""

import os

import guards
from pulumi_policy import PolicyPack

guards.install_secret_markers()
target = guards.Target.from_environ(os.environ)

PolicyPack(
    name=guards.PACK_NAME,
    policies=guards.policies(target),
    enforcement_level=target.enforcement_level,
    description=f"service-infra guards ({target.describe()}: {target.enforcement_level.value})",
)
