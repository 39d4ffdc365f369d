"""A preview environment per pull request (issue 29), through the real engine.

The template Pulumi.preview.yaml: the example service on the Mac Mini's preview user and engine
(its own login, its own dockerd whose socket only that user's group opens), on a port of a pool
of two, and a Fly app in the previews' own org. `preview open` makes pr-<n> stacks from it;
`close` and `reap` take everything of one away. Two previews serve at once, a third is refused,
the preview's SSH key and Fly token reach nothing of staging's, and closing or reaping leaves no
container, network, volume, Fly app or stack behind.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from service_infra.contract import LABEL_PREVIEW
from tests.support.harness import DockerEngine, ExampleImage, Registry, SshHost, ensure_login_user, free_ports
from tests.support.pulumi_project import Project
from tests.support.stacks import API_KEY, FLY_SECRETS, FLY_STANDIN, fly_config, health, ssh_stack_config

PREVIEW_USER, STAGING_USER = "si-preview", "si-staging"
STAGING_CONTAINER = "llm-server-staging-it-probe"
# An empty tar archive: `docker import` makes an image of nothing, enough for a container to exist.
EMPTY_TAR = "\0" * 10240
PREVIEW_ORG, STAGING_ORG = "acme-previews", "acme"
PREVIEW_TOKEN, STAGING_TOKEN = "it-fly-preview-org-token-4d2", "it-fly-staging-org-token-9a7"
STAGING_APP = "it-descriptor-staging"


def template_config(
    host: SshHost, registry: Registry, image: ExampleImage, pool: range, health_url: str
) -> dict[str, Any]:
    """Pulumi.preview.yaml as a team would write it, aimed at the harness."""
    config = ssh_stack_config(host, registry, image, image.v1.tag, pool.start)
    fly = fly_config("it-descriptor", health_url)["services"]["image-descriptor"]
    fly["fly"].update(org=PREVIEW_ORG, vm_size="shared-cpu-1x", memory_mb=256)
    config["services"]["image-descriptor"] = fly
    config.update(
        environment="preview",
        preview={"ports": {"first": pool.start, "last": pool.stop - 1}, "max_previews": 2, "ttl_hours": 72},
    )
    return config


def fly(fly_state: dict[str, Path], token: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The `fly` stand-in, as someone holding TOKEN runs it."""
    env = {**os.environ, "FLY_STANDIN_STATE": str(fly_state["state"]), "FLY_API_TOKEN": token}
    return subprocess.run(
        [str(FLY_STANDIN / "fly"), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def preview(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    done = project.operator_command("preview", *args)
    assert API_KEY not in done.stdout + done.stderr
    return done


def stacks(project: Project) -> list[str]:
    listed = project.operator_command("preview", "list", "--json", passphrase=False)
    assert listed.returncode == 0, listed.stderr
    return [row["stack"] for row in json.loads(listed.stdout)]


def left_on_engine(engine: DockerEngine, stack: str) -> list[str]:
    """Every container, network and volume labelled as STACK's preview."""
    found = []
    for kind in ("ps -a", "network ls", "volume ls"):
        args = [*kind.split(), "--filter", f"label={LABEL_PREVIEW}={stack}", "--format", "{{.Name}}"]
        if kind == "ps -a":
            args[-1] = "{{.Names}}"
        found += [f"{kind.split()[0]} {name}" for name in engine.run(*args).stdout.split()]
    return found


def test_previews_serve_side_by_side_reach_only_their_own_and_leave_nothing_behind(
    project: Project,
    registry: Registry,
    example_image: ExampleImage,
    fly_state: dict[str, Path],
    public_health_url: str,
    tmp_path: Path,
) -> None:
    for user in (PREVIEW_USER, STAGING_USER):
        ensure_login_user(user)  # its group must exist before the engine hands it the socket
    with (
        DockerEngine(use_existing=False, socket_group=PREVIEW_USER, base_dir=tmp_path) as preview_engine,
        SshHost(preview_engine, user=PREVIEW_USER, base_dir=tmp_path) as preview_host,
        DockerEngine(use_existing=False, socket_group=STAGING_USER, base_dir=tmp_path) as staging_engine,
    ):
        # Staging's engine on the same host, with a container of staging's in it.
        staging_engine.run("import", "--change", 'CMD ["/nothing"]', "-", "si-empty", input=EMPTY_TAR)
        staging_engine.run(
            "create", "--name", STAGING_CONTAINER, "--label", "service-infra.environment=staging", "si-empty"
        )
        fly_state["state"].write_text(
            json.dumps(
                {
                    "orgs": {
                        STAGING_ORG: {"name": "Acme", "type": "SHARED", "member": True},
                        PREVIEW_ORG: {"name": "Acme previews", "type": "SHARED", "member": True},
                    },
                    "tokens": {STAGING_TOKEN: [STAGING_ORG], PREVIEW_TOKEN: [PREVIEW_ORG]},
                    "apps": {STAGING_APP: {"org": STAGING_ORG}},
                }
            )
        )
        pool = free_ports(2)
        secrets = {
            **FLY_SECRETS,
            "FLY_API_TOKEN": PREVIEW_TOKEN,
            "GHCR_TOKEN": registry.password,
            "API_KEY": API_KEY,
        }
        template = project.stack(
            "preview", template_config(preview_host, registry, example_image, pool, public_health_url), secrets
        )
        # The template itself is never deployed.
        with pytest.raises(auto.CommandError) as refused_template:
            template.preview()
        assert "the stack preview is the previews' template" in str(refused_template.value)

        opened = {number: preview(project, "open", str(number)) for number in (1, 2)}
        for number, done in opened.items():
            assert done.returncode == 0, done.stdout + done.stderr[-4000:]
            assert done.stdout.startswith(f"<!-- service-infra preview pr-{number} -->\n"), done.stdout
        # Each on its own port of the pool, both serving at once.
        for number, port in ((1, pool.start), (2, pool.start + 1)):
            assert f"| llm-server | http://127.0.0.1:{port} |" in opened[number].stdout, opened[number].stdout
            assert health(port)["version"] == example_image.v1.app_version
        apps = fly(fly_state, PREVIEW_TOKEN, "apps", "list", "--quiet").stdout.split()
        assert apps == ["it-descriptor-pr-1", "it-descriptor-pr-2"], apps

        # A third is refused while two are open, and nothing of it is made.
        third = preview(project, "open", "3")
        assert third.returncode == 1, third.stdout + third.stderr
        assert "service-infra:preview.max_previews" in third.stderr and "pr-1, pr-2" in third.stderr, third.stderr
        assert stacks(project) == ["pr-1", "pr-2"]

        # A push to pull request 1 updates its preview in place: same slot, same comment.
        again = preview(project, "open", "1")
        assert again.returncode == 0 and again.stdout == opened[1].stdout, again.stdout + again.stderr[-4000:]

        # The preview's key: its own engine, only previews in it; staging's engine is not its to open.
        known = preview_host.write_known_hosts(tmp_path / "known_hosts")
        seen = preview_host.docker("ps", "--format", "{{.Names}}", known_hosts_path=known).stdout.split()
        assert seen and all("-pr-" in name for name in seen), seen
        assert STAGING_CONTAINER in staging_engine.run("ps", "-a", "--format", "{{.Names}}").stdout
        done = preview_host.ssh("docker", "-H", staging_engine.host, "ps", "-a", known_hosts_path=known, check=False)
        assert done.returncode != 0 and "permission denied" in done.stderr.lower(), done.stderr
        assert STAGING_CONTAINER not in done.stdout
        # The preview's Fly token: the previews' org only; staging's app is neither listed nor opened.
        assert STAGING_APP not in fly(fly_state, PREVIEW_TOKEN, "apps", "list", "--quiet").stdout
        status = fly(fly_state, PREVIEW_TOKEN, "status", "--app", STAGING_APP)
        # Fly answers an app outside the token's orgs as one that does not exist (the stand-in: session.get_app).
        assert status.returncode != 0 and 'could not find app "it-descriptor-staging"' in status.stderr.lower()

        # Closing pull request 1 takes everything of its preview away; 2 keeps serving.
        closed = preview(project, "close", "1")
        assert closed.returncode == 0 and "pr-1: destroyed and removed" in closed.stdout, closed.stderr[-4000:]
        assert left_on_engine(preview_engine, "pr-1") == []
        assert stacks(project) == ["pr-2"]
        assert not (project.dir / "Pulumi.pr-1.yaml").exists()
        fly_apps = json.loads(fly_state["state"].read_text())["apps"]
        assert "it-descriptor-pr-1" not in fly_apps and "it-descriptor-pr-2" in fly_apps, sorted(fly_apps)
        assert left_on_engine(preview_engine, "pr-2") and health(pool.start + 1)["version"]

        # The daily reaper: an open pull request's fresh preview stays; past its time to live it goes.
        kept = preview(project, "reap", "--open", "2")
        assert kept.returncode == 0 and "reaped 0 preview(s)" in kept.stdout, kept.stdout + kept.stderr[-4000:]
        reaped = preview(project, "reap", "--open", "2", "--ttl-hours", "0.0001")
        assert reaped.returncode == 0, reaped.stdout + reaped.stderr[-4000:]
        assert "pr-2: destroyed and removed: not updated for" in reaped.stdout, reaped.stdout
        assert "reaped 1 preview(s)" in reaped.stdout
        assert stacks(project) == [] and left_on_engine(preview_engine, "pr-2") == []
        assert not {"it-descriptor-pr-1", "it-descriptor-pr-2"} & set(
            json.loads(fly_state["state"].read_text())["apps"]
        )
