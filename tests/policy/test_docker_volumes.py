"""docker-volumes-protected: in prod, every Docker volume carries `protect`.

The engine tells a policy pack `protect` (AnalyzerResourceOptions) but not `retainOnDelete`, so
`protect` is what the pack can hold prod's volumes to.
"""

from __future__ import annotations

import pytest

from policy.guards import Target
from policy.guards.resources import DOCKER_VOLUME
from tests.policy.support import PROD, STAGING, docker_service_args, resource_args, violations

POLICY = "docker-volumes-protected"
# The prod llm-server's `models` volume, as DockerService declares it.
VOLUME = {"name": "llm-server-prod-models", "driver": "local"}


def check(protect: bool, target: Target = PROD) -> list[str]:
    args = docker_service_args(DOCKER_VOLUME, "llm-server-models", VOLUME, "llm-server", protect=protect)
    return violations(POLICY, args, target)


def test_a_protected_volume_in_prod_passes() -> None:
    assert check(protect=True) == []


@pytest.mark.parametrize("target", [PROD, Target(stack="prod", environment="staging"), Target("prod-eu", "prod")])
def test_an_unprotected_volume_in_prod_is_refused(target: Target) -> None:
    (message,) = check(protect=False, target=target)
    assert message.startswith("Volume 'llm-server-models': the Docker volume is not protected")
    assert "service-infra:services.llm-server.docker.volumes" in message


@pytest.mark.parametrize("target", [STAGING, Target(stack="local", environment="local")])
def test_volumes_elsewhere_need_no_protect(target: Target) -> None:
    assert check(protect=False, target=target) == []


def test_a_volume_outside_any_dockerservice_is_refused_too() -> None:
    (message,) = violations(POLICY, resource_args(DOCKER_VOLUME, "scratch", {"name": "scratch"}))
    assert "service-infra:services.<service>.docker.volumes" in message


def test_other_resource_types_are_ignored() -> None:
    assert violations(POLICY, resource_args("docker:index/network:Network", "llm-server-network", {})) == []
