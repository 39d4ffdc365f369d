"""docker-host-own-identity: in prod, no Docker provider logs in as a user another stack file of
the project (the repository's own Pulumi.*.yaml) names."""

from __future__ import annotations

from tests.policy.support import PROD, STAGING, stack_resource, stack_violations

PROVIDER = "pulumi:providers:docker"
POLICY = "docker-host-own-identity"


def provider(host: str) -> list:
    return [stack_resource(PROVIDER, "mac-mini-docker", {"host": host})]


def test_prod_reaching_the_host_as_staging_does_is_a_violation_at_the_provider() -> None:
    (found,) = stack_violations(POLICY, provider("ssh://deploy-staging@Mac-Mini.tailnet.example:22"))
    message, urn = found
    assert message.startswith(
        "the Docker host identity deploy-staging@mac-mini.tailnet.example:22 is also the staging stack's "
        "(service-infra:docker_hosts.mac-mini.url): its key would open prod's engine."
    )
    assert "its own SSH user and Docker engine on the host (docs/mac-mini.md)" in message
    assert urn is not None and urn.endswith("::mac-mini-docker")


def test_prod_as_its_own_user_and_any_stack_outside_prod_pass() -> None:
    assert stack_violations(POLICY, provider("ssh://deploy-prod@mac-mini.tailnet.example:22")) == []
    assert stack_violations(POLICY, provider("unix:///var/run/docker.sock")) == []
    assert stack_violations(POLICY, provider("ssh://deploy-staging@mac-mini.tailnet.example:22"), STAGING) == []
    assert PROD.is_prod
