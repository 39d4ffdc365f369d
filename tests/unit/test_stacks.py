"""The resource graph each committed stack produces, under Pulumi mocks."""

from __future__ import annotations

import json
import re
import shlex
import subprocess

import pytest

from service_infra import preflight
from service_infra.settings import SettingsError
from tests.support import mocks
from tests.support.mocks import (
    Recorder,
    image_digest_for,
    is_secret,
    load_stack_config,
    numeric_id,
    reveal,
    run_stack,
    secret_value_for,
)

CONTAINER = "docker:index/container:Container"
COMMAND = "command:local:Command"
ENVIRONMENT = "github:index/repositoryEnvironment:RepositoryEnvironment"


def containers(recorder: Recorder) -> dict[str, dict]:
    """The stack's containers by role: the app version and the proxy in front of it."""
    found = {}
    for resource in recorder.of_type(CONTAINER):
        labels = {label["label"]: label["value"] for label in resource.inputs["labels"]}
        found[labels.get("service-infra.role", "app")] = resource.inputs
    assert set(found) == {"app", "proxy"}, found
    return found


def container(recorder: Recorder) -> dict:
    return containers(recorder)["app"]


def proxy(recorder: Recorder) -> dict:
    return containers(recorder)["proxy"]


def test_prod_llm_server_container(stacks: dict[str, Recorder]) -> None:
    inputs = container(stacks["prod"])
    assert re.fullmatch(r"llm-server-prod-sha-3f9c2a1-[0-9a-f]{8}", inputs["name"])
    assert inputs["restart"] == "unless-stopped"
    assert inputs["logDriver"] == "json-file"
    assert inputs["logOpts"] == {"max-size": "10m", "max-file": "3"}
    assert inputs["user"] == "10001:10001"
    assert "ports" not in inputs  # only the proxy publishes a port
    assert inputs["networksAdvanced"] == [{"name": "llm-server-prod"}]  # no alias until healthy
    assert inputs["hosts"] == [{"host": "host.docker.internal", "ip": "host-gateway"}]
    # Nothing of the image is needed to judge its health: the activation probes it from the proxy.
    assert "healthcheck" not in inputs
    assert inputs["wait"] is False
    labels = {label["label"]: label["value"] for label in inputs["labels"]}
    assert labels == {
        "service-infra.environment": "prod",
        "service-infra.image-tag": "sha-3f9c2a1",
        "service-infra.service": "llm-server",
        "service-infra.version": inputs["name"].removeprefix("llm-server-prod-"),
        # What the tag named on the registry at `up` (the mocked registry's answer).
        "service-infra.image-digest": image_digest_for("ghcr.io/acme/local-llm-server:sha-3f9c2a1"),
    }
    assert inputs["volumes"] == [{"volumeName": "llm-server-prod-llm-cache", "containerPath": "/data"}]
    # Pulled by the digest the tag resolved to, kept on the host for rollbacks.
    image = stacks["prod"].named("llm-server-image").inputs
    assert image["name"] == "ghcr.io/acme/local-llm-server@" + labels["service-infra.image-digest"]
    assert image["keepLocally"] is True


def test_prod_proxy_owns_the_port(stacks: dict[str, Recorder]) -> None:
    inputs = proxy(stacks["prod"])
    assert inputs["name"] == "llm-server-prod-proxy"
    assert inputs["ports"] == [{"internal": 8080, "external": 8000, "ip": "100.101.102.103"}]
    assert inputs["restart"] == "unless-stopped"
    assert inputs["user"] == "10001:10001"
    assert inputs["logOpts"] == {"max-size": "10m", "max-file": "3"}
    assert inputs["healthcheck"]["tests"][:2] == ["CMD", "curl"]
    assert inputs["networksAdvanced"] == [{"name": "llm-server-prod"}]
    (upload,) = inputs["uploads"]
    assert upload["file"] == "/etc/nginx/service-infra.conf"
    assert "set $live http://live:8000;" in upload["content"]
    assert "resolver 127.0.0.11 valid=1s" in upload["content"]
    assert inputs["command"] == ["nginx", "-e", "stderr", "-c", "/etc/nginx/service-infra.conf", "-g", "daemon off;"]
    images = {r.inputs["name"] for r in stacks["prod"].of_type("docker:index/remoteImage:RemoteImage")}
    assert "ghcr.io/acme/edge-proxy:nginx-1.22.1-1" in images
    (network,) = stacks["prod"].of_type("docker:index/network:Network")
    assert network.inputs["name"] == "llm-server-prod"


def test_prod_activation_waits_then_goes_live_over_ssh(stacks: dict[str, Recorder]) -> None:
    app = container(stacks["prod"])
    (activation,) = [
        r for r in stacks["prod"].of_type(COMMAND) if "service_infra.ops.rollout activate" in r.inputs["create"]
    ]
    create = shlex.split(activation.inputs["create"])
    assert create[:4] == ["python3", "-m", "service_infra.ops.rollout", "activate"]
    assert create[create.index("--container") + 1] == app["name"]
    assert create[create.index("--tag") + 1] == "sha-3f9c2a1"
    assert create[create.index("--network") + 1] == "llm-server-prod"
    assert create[create.index("--proxy") + 1] == "llm-server-prod-proxy"
    assert create[create.index("--port") + 1] == "8000"
    assert create[create.index("--health-path") + 1] == "/health"
    assert create[create.index("--start-period") + 1] == "10"
    # Names only: the values of the service's secrets are masked in what a failure prints.
    assert create[create.index("--secret-env") + 1] == "API_KEY"
    assert shlex.split(activation.inputs["delete"])[3:] == [
        "retire",
        "--container",
        app["name"],
        "--drain-seconds",
        "30",
    ]
    cli = json.loads(activation.inputs["environment"]["SERVICE_INFRA_DOCKER_CLI"])
    assert cli[0] == "ssh" and cli[-2:] == ["mac-mini.tailnet.example", "docker"]
    assert "StrictHostKeyChecking=yes" in cli


def test_the_proxy_configuration_reaches_the_running_proxy_in_place(stacks: dict[str, Recorder]) -> None:
    (configure,) = [r for r in stacks["prod"].of_type(COMMAND) if r.name == "llm-server-proxy-config"]
    assert shlex.split(configure.inputs["create"])[3:] == [
        "configure-proxy",
        "--proxy",
        "llm-server-prod-proxy",
        "--path",
        "/etc/nginx/service-infra.conf",
    ]
    # The text nginx runs from, on standard input; the same as the proxy container starts with.
    (upload,) = proxy(stacks["prod"])["uploads"]
    assert configure.inputs["stdin"] == upload["content"]
    assert "proxy_connect_timeout 250ms;" in upload["content"]
    cli = json.loads(configure.inputs["environment"]["SERVICE_INFRA_DOCKER_CLI"])
    assert cli[0] == "ssh" and "StrictHostKeyChecking=yes" in cli


def test_a_new_tag_is_a_new_container_beside_the_old(stacks: dict[str, Recorder]) -> None:
    config = load_stack_config("prod")
    config["service-infra:services"]["llm-server"]["tag"] = "sha-4a0d3b2"
    recorder = run_stack(config, "prod", Recorder())
    new, old = container(recorder), container(stacks["prod"])
    assert new["name"] != old["name"] and new["name"].startswith("llm-server-prod-sha-4a0d3b2-")
    assert proxy(recorder) == proxy(stacks["prod"])  # the proxy and its port stay as they are
    # Another resource name, so Pulumi creates it beside the old one instead of replacing that.
    before = {r.name for r in stacks["prod"].of_type(CONTAINER)}
    after = {r.name for r in recorder.of_type(CONTAINER)}
    assert before ^ after == {f"llm-server-{old['name'].removeprefix('llm-server-prod-')}",
                              f"llm-server-{new['name'].removeprefix('llm-server-prod-')}"}  # fmt: skip


def test_container_secret_env_is_secret(stacks: dict[str, Recorder]) -> None:
    envs = container(stacks["prod"])["envs"]
    assert is_secret(envs)
    assert f"API_KEY={secret_value_for('API_KEY')}" in reveal(envs)
    assert "ALLOWED_ORIGINS=https://app.acme.example,https://www.acme.example" in reveal(envs)


def test_staging_proxy_listens_on_8001(stacks: dict[str, Recorder]) -> None:
    assert re.fullmatch(r"llm-server-staging-sha-[0-9a-f]+-[0-9a-f]{8}", container(stacks["staging"])["name"])
    inputs = proxy(stacks["staging"])
    assert inputs["name"] == "llm-server-staging-proxy"
    assert inputs["ports"] == [{"internal": 8080, "external": 8001, "ip": "0.0.0.0"}]
    assert "set $live http://live:8000;" in inputs["uploads"][0]["content"]


def test_local_stack_hot_reloads_the_example_service(stacks: dict[str, Recorder]) -> None:
    recorder = stacks["local"]
    inputs = container(recorder)
    source = {v["containerPath"]: v for v in inputs["volumes"]}["/app"]
    assert source["hostPath"].endswith("examples/service")
    assert "--reload" in inputs["command"]
    assert "APP_ENV=local" in inputs["envs"]
    assert proxy(recorder)["ports"] == [{"internal": 8080, "external": 8000, "ip": "127.0.0.1"}]
    (activation,) = [r for r in recorder.of_type(COMMAND) if "service_infra.ops.rollout activate" in r.inputs["create"]]
    assert json.loads(activation.inputs["environment"]["SERVICE_INFRA_DOCKER_CLI"]) == [
        "docker", "-H", "unix:///var/run/docker.sock"
    ]  # fmt: skip
    assert not recorder.of_type(ENVIRONMENT)
    assert not [r for r in recorder.of_type(COMMAND) if "flyctl" in r.inputs.get("create", "")]


def test_prod_github_environment(stacks: dict[str, Recorder]) -> None:
    recorder = stacks["prod"]
    environments = {r.inputs["environment"]: r for r in recorder.of_type(ENVIRONMENT)}
    # production gates deploys; production-preview holds prod's credentials for main's read-only
    # jobs; staging's protection is set here too, by the one token that administers the repository.
    assert set(environments) == {"production", "production-preview", "staging"}
    environment = environments["production"]
    assert environment.inputs["environment"] == "production"
    assert environment.inputs["preventSelfReview"] is True
    assert environment.inputs["waitTimer"] == 5
    assert environment.inputs["reviewers"] == [
        {"users": sorted([numeric_id("alice-acme"), numeric_id("bob-acme")]), "teams": [numeric_id("platform")]}
    ]
    assert environment.inputs["deploymentBranchPolicy"] == {"protectedBranches": False, "customBranchPolicies": True}
    policies = recorder.of_type(
        "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
    )
    assert sorted(policy.inputs["branchPattern"] for policy in policies) == ["main", "main", "staging"]
    assert environments["staging"].inputs["preventSelfReview"] is False
    assert not environments["production-preview"].inputs.get("reviewers")
    variables = {
        r.inputs["variableName"]: r.inputs["value"]
        for r in recorder.of_type("github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable")
    }
    assert variables == {
        "ALLOWED_ORIGINS": "https://app.acme.example,https://www.acme.example",
        "MODEL_NAME": "llama3.1:8b",
        "RATE_LIMIT_RPM": "60",
    }


def test_github_secrets_are_secret(stacks: dict[str, Recorder]) -> None:
    recorder = stacks["prod"]
    secrets = recorder.of_type("github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret")
    assert sorted(s.inputs["secretName"] for s in secrets) == ["FLY_API_TOKEN", "SSH_PRIVATE_KEY", "SSH_PRIVATE_KEY"]
    for secret in secrets:
        assert is_secret(secret.inputs["value"])
        assert reveal(secret.inputs["value"]) == secret_value_for(secret.inputs["secretName"])
    (repo_secret,) = recorder.of_type("github:index/actionsSecret:ActionsSecret")
    assert repo_secret.inputs["secretName"] == "CODECOV_TOKEN"
    assert is_secret(repo_secret.inputs["value"])
    (provider,) = recorder.of_type("pulumi:providers:github")
    assert is_secret(provider.inputs["token"])


def test_staging_sets_its_environments_secrets_and_variables_and_nothing_else(stacks: dict[str, Recorder]) -> None:
    """Staging's token cannot administer the repository: no environment, branch policy or
    repository secret of staging's own; its secrets and variables go into the environment prod made."""
    recorder = stacks["staging"]
    assert recorder.of_type(ENVIRONMENT) == []
    assert (
        recorder.of_type("github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy")
        == []
    )
    assert recorder.of_type("github:index/actionsSecret:ActionsSecret") == []
    secrets = recorder.of_type("github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret")
    variables = recorder.of_type("github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable")
    assert sorted(r.inputs["secretName"] for r in secrets) == ["FLY_API_TOKEN", "SSH_PRIVATE_KEY"]
    assert len(variables) == 3
    assert {r.inputs["environment"] for r in [*secrets, *variables]} == {"staging"}


FLY_APPS = {"staging": "acme-image-descriptor-staging", "prod": "acme-image-descriptor"}


def fly_commands(recorder: Recorder, stack: str) -> dict[str, dict]:
    """The Fly service's commands, named after its Fly app (its health probe after the service)."""
    app = FLY_APPS[stack]
    return {r.name: r.inputs for r in recorder.of_type(COMMAND) if r.name.startswith((f"{app}-", "image-descriptor-"))}


def test_fly_commands_carry_no_secret_values(stacks: dict[str, Recorder]) -> None:
    for stack in ("staging", "prod"):
        commands = fly_commands(stacks[stack], stack)
        app = FLY_APPS[stack]
        assert set(commands) == {
            f"{app}-app",
            f"{app}-volume-cache_data",
            f"{app}-secrets",
            f"{app}-release",
            "image-descriptor-health-probe",
        }
        for name, inputs in commands.items():
            for field in ("create", "delete", "update"):
                text = reveal(inputs.get(field)) or ""
                assert "test-secret-value-of" not in text, f"{name}.{field} holds a secret value"
            if "environment" in inputs:
                assert is_secret(inputs["environment"]), f"{name}.environment must be secret"
        secrets = commands[f"{app}-secrets"]
        assert is_secret(secrets["stdin"])
        lines = reveal(secrets["stdin"]).splitlines()
        assert lines == [f"{n}=\"{secret_value_for(n)}\"" for n in sorted(
            ["API_KEY", "GOOGLE_AI_API_KEY", "SUPABASE_SERVICE_KEY", "SUPABASE_URL"])]  # fmt: skip
        assert (
            secrets["create"]
            == "fly secrets import --app "
            + ("acme-image-descriptor" if stack == "prod" else "acme-image-descriptor-staging")
            + " --stage"
        )


def test_fly_release_pins_image_and_mounts_volume(stacks: dict[str, Recorder]) -> None:
    import tomllib

    release = fly_commands(stacks["prod"], "prod")["acme-image-descriptor-release"]
    assert "--image ghcr.io/acme/image-descriptor:sha-8b1d4e7" in release["create"]
    toml = tomllib.loads(release["stdin"])
    assert toml["app"] == "acme-image-descriptor"
    assert toml["mounts"] == [{"source": "cache_data", "destination": "/data"}]
    assert toml["http_service"]["checks"][0]["path"] == "/api/health"
    assert toml["env"]["CORS_ORIGINS"] == "https://app.acme.example"
    volume = fly_commands(stacks["prod"], "prod")["acme-image-descriptor-volume-cache_data"]
    assert "--name cache_data --region iad --size 1" in volume["create"]


def test_health_gates_follow_every_rollout(stacks: dict[str, Recorder]) -> None:
    probes = {r.name: r.inputs["create"] for r in stacks["prod"].of_type(COMMAND) if r.name.endswith("-health-probe")}
    assert "--url http://mac-mini.tailnet.example:8000/health" in probes["llm-server-health-probe"]
    assert "--url https://acme-image-descriptor.fly.dev/api/health" in probes["image-descriptor-health-probe"]
    assert all("--tries 5" in command for command in probes.values())


def test_every_component_has_a_type_token_of_this_project(stacks: dict[str, Recorder]) -> None:
    # (The stack's reference to itself, which carries its releases over, is the engine's.)
    components = {r.type for r in stacks["prod"].resources if not r.custom and not r.type.startswith("pulumi:")}
    assert components == {
        "service-infra:environment:ServiceEnvironment",
        "service-infra:docker_host:DockerHost",
        "service-infra:docker_service:DockerService",
        "service-infra:health_gate:HealthGate",
        "service-infra:fly_app:FlyApp",
        "service-infra:github_repository:GithubRepository",
        "service-infra:github_environment:GithubEnvironment",
    }


def test_nothing_is_registered_when_settings_are_invalid() -> None:
    config = load_stack_config("prod")
    config["service-infra:services"]["llm-server"]["tag"] = "latest"
    config["service-infra:services"]["llm-server"]["docker"]["prot"] = 8000
    recorder = Recorder()
    with pytest.raises(SettingsError) as raised:
        run_stack(config, "prod", recorder)
    assert not recorder.resources
    assert raised.value.problems == [
        "service-infra:services.llm-server.tag: an immutable tag is required in prod (e.g. sha-1a2b3c4), got 'latest'",
        "service-infra:services.llm-server.docker.prot: unknown key; did you mean `port`?",
    ]


def test_a_secret_with_a_nul_byte_is_refused_by_name_for_each_service_before_anything_is_registered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Neither a container's nor a Fly machine's environment can hold NUL: the value would be cut short."""
    real = mocks.secret_value_for
    monkeypatch.setattr(mocks, "secret_value_for", lambda name: "key\0tail" if name == "API_KEY" else real(name))
    recorder = Recorder()
    with pytest.raises(SettingsError) as raised:
        run_stack(load_stack_config("prod"), "prod", recorder)
    assert not recorder.resources
    assert raised.value.problems == [
        "service-infra:secrets.API_KEY: holds a NUL byte, which no process environment can carry (it is in "
        "service-infra:services.llm-server.secret_env); remove it, or store the value encoded (e.g. base64) and "
        "decode it in the service",
        "service-infra:secrets.API_KEY: holds a NUL byte, which no process environment can carry (the app gets "
        "each secret as an environment variable); remove it, or store the value encoded (e.g. base64) and decode "
        "it in the service; nothing was sent to Fly (it is a secret of the Fly app of "
        "service-infra:services.image-descriptor)",
    ]


def test_ssh_hosts_are_checked_before_anything_is_registered(stacks: dict[str, Recorder]) -> None:
    (check,) = stacks["prod"].host_checks
    assert check[-5:] == ["mac-mini.tailnet.example", "docker", "version", "--format", "'{{.Server.Version}}'"]
    assert not stacks["local"].host_checks  # the local engine needs no SSH


def test_a_failed_host_check_registers_nothing() -> None:
    recorder = Recorder()
    recorder.check_host = lambda argv: subprocess.CompletedProcess(argv, 255, "", "Host key verification failed.\n")  # type: ignore[method-assign]
    with pytest.raises(preflight.HostCheckError, match=r"docker_hosts\.mac-mini\.host_key: mac-mini"):
        run_stack(load_stack_config("prod"), "prod", recorder)
    assert not recorder.resources


def test_an_unknown_reviewer_names_its_config_key_and_registers_nothing_in_github() -> None:
    config = load_stack_config("prod")
    config["service-infra:github"]["environments"]["production"]["reviewers"]["users"][1] = "nobody-acme"
    recorder = Recorder()
    with pytest.raises(Exception, match=r"service-infra:github\.environments\.production\.reviewers\.users: "
                       r"GitHub has no user 'nobody-acme' visible to the token"):  # fmt: skip
        run_stack(config, "prod", recorder)
    assert not recorder.of_type(ENVIRONMENT)


@pytest.mark.parametrize(("role", "has"), [("read", "read access"), ("triage", "triage access"), (None, "no access")])
def test_a_reviewer_team_that_cannot_approve_fails_naming_its_key(role: str | None, has: str) -> None:
    # GitHub accepts such a team as a required reviewer and then silently ignores it.
    recorder = Recorder(team_roles={"platform": role})
    with pytest.raises(Exception, match=r"service-infra:github\.environments\.production\.reviewers\.teams: "
                       rf"team 'platform' cannot approve deployments: it has {has} to local-llm-server"):  # fmt: skip
        run_stack(load_stack_config("prod"), "prod", recorder)
    assert not recorder.of_type(ENVIRONMENT)


@pytest.mark.parametrize("role", ["write", "maintain", "admin"])
def test_a_reviewer_team_with_write_access_is_kept(role: str) -> None:
    recorder = run_stack(load_stack_config("prod"), "prod", Recorder(team_roles={"platform": role}))
    (production,) = [r for r in recorder.of_type(ENVIRONMENT) if r.inputs["environment"] == "production"]
    assert production.inputs["reviewers"][0]["teams"] == [numeric_id("platform")]


def test_prod_protects_main_and_no_other_stack_can(stacks: dict[str, Recorder]) -> None:
    """Code on main runs with prod's secrets (production-preview) before a deploy reviewer acts:
    main takes another person's approval, a code owner's, admins included."""
    protection_type = "github:index/branchProtectionV3:BranchProtectionV3"
    (protection,) = stacks["prod"].of_type(protection_type)
    assert protection.inputs["branch"] == "main" and protection.inputs["enforceAdmins"] is True
    assert protection.inputs["requiredPullRequestReviews"] == {
        "requiredApprovingReviewCount": 1,
        "dismissStaleReviews": True,
        "requireCodeOwnerReviews": True,
        "requireLastPushApproval": True,
    }
    assert protection.inputs["requiredStatusChecks"] == {
        "strict": True,
        "checks": ["lint, types, unit tests, offline check", "pulumi preview (staging)"],
    }
    assert stacks["staging"].of_type(protection_type) == []
