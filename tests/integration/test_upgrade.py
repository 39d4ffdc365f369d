"""A stack deployed by the program before the move to service_infra/ meets the program after it.

The move kept every component type token and resource name, so nothing is created or deleted.
What a deployed stack sees is where the command resources' operations live: their command lines
name `service_infra.ops.*` instead of `components.*`, an in-place update whose re-run is
idempotent (activation finds the version live, the Fly operations adopt what exists); a health
probe whose trigger holds such a command line is replaced, which only probes again. Pulumi runs a
resource's *stored* delete command, so the old command lines must keep working until that update:
`components/` keeps thin entry points for them. The test deploys the old program for real,
previews the new one against that state (the Fly commands, changed since for other reasons, may
change in place), then rolls out a new tag together with the move under
load (the old version is retired through its old command line), and previews no change at all.

Since releases run by digest and secret values are part of a version (issue 16), the Docker
service's version has a new name on the first `up`: it rolls out once, beside the running
container, like a tag change (its image resource, now named by digest, is replaced; nothing is
pulled again and nothing removed); no container is ever replaced in place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from service_infra.boundary import LIVE_ALIAS
from service_infra.commands import proxy
from service_infra.settings import DockerTarget
from tests.support.harness import DockerEngine, ExampleImage, Registry, SshHost, free_port, wait_http
from tests.support.harness.load import Load
from tests.support.leftovers import RUN_LABEL, THIS_RUN
from tests.support.programs import program_at, use_program
from tests.support.pulumi_project import Project, Stack
from tests.support.stacks import API_KEY, FLY_SECRETS, fly_config, ssh_stack_config

# The Fly service of the stack (fly_config's): its commands changed for reasons beyond the move.
FLY_SERVICE = "image-descriptor"
# The Docker service (ssh_stack_config's): rolled out once to its version by digest.
DOCKER_SERVICE = "llm-server"
CONTAINER = "docker:index/container:Container"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
# Its Fly app: its commands are named after it since (aliases carry the names they had).
FLY_APP = "it-upgrade-app"
# The last commit of the program with its old layout (components/ holding everything).
BEFORE_THE_MOVE = "6511b36"
OLD_TO_NEW = {
    "components.rollout": "service_infra.ops.rollout",
    "components.probe": "service_infra.ops.probe",
    "components.flyctl": "service_infra.ops.fly",
}


def old_program() -> bytes:
    """The program's files at BEFORE_THE_MOVE, as a tar stream from git."""
    return program_at(BEFORE_THE_MOVE, "__main__.py", "components")


# The old program has no `labels` setting, so what it makes would carry no run label and a killed
# run's containers could not be found (tests/support/leftovers.py). These edits give its objects
# the run label as the current program's `labels` setting does: on the network and containers,
# on the volume, and in the version key (the new program's digest takes extra labels in).
RUN_LABELLED = {
    'labels = {"service-infra.environment"': f'labels = {{{RUN_LABEL!r}: {str(THIS_RUN)!r}, "service-infra.environment"',
    'name=f"{base_name}-{volume_name}",': (
        'name=f"{base_name}-{volume_name}", '
        f"labels=[docker.VolumeLabelArgs(label={RUN_LABEL!r}, value={str(THIS_RUN)!r})],"
    ),
    "    digest = hashlib": f"    spec['labels'] = {{{RUN_LABEL!r}: {str(THIS_RUN)!r}}}\n    digest = hashlib",
}


def label_old_program(module: Path) -> None:
    text = module.read_text()
    for before, after in RUN_LABELLED.items():
        assert text.count(before) == 1, f"{module} at {BEFORE_THE_MOVE} has no single {before!r}"
        text = text.replace(before, after)
    module.write_text(text)


def assert_only_moved(urn: str, key: str, old: str, new: str) -> None:
    moved = old
    for before, after in OLD_TO_NEW.items():
        moved = moved.replace(before, after)
    assert moved == new, f"{urn}.{key}: {old!r} -> {new!r} is more than the move"


def preview_steps(stack: Stack) -> list[dict[str, Any]]:
    """`pulumi preview --json` steps that change something."""
    result = stack.project.command.run(
        ["preview", "--json", "--non-interactive", "--diff", "--stack", stack.stack.name],
        cwd=str(stack.project.dir),
        additional_env=stack.project.env,
    )
    steps = json.loads(result.stdout).get("steps") or []
    return [step for step in steps if step.get("op") not in {"same", "read"}]


def test_a_stack_deployed_before_the_move_sees_only_its_operations_move(
    project: Project,
    engine: DockerEngine,
    ssh_host: SshHost,
    registry: Registry,
    example_image: ExampleImage,
    fly_state: dict[str, Path],
    public_health_url: str,
) -> None:
    port = free_port()
    # The old program's health check ran curl inside the app container.
    config = ssh_stack_config(ssh_host, registry, example_image, example_image.with_curl(example_image.v1).tag, port)
    config["services"].update(fly_config(FLY_APP, public_health_url)["services"])
    use_program(project, old_program())
    label_old_program(project.dir / "components" / "docker_service.py")
    # The old program refuses the `labels` key it does not know: its objects are labelled by
    # label_old_program, and the setting comes with the new program.
    stack = project.stack(
        "staging",
        config,
        secrets={"GHCR_TOKEN": registry.password, "API_KEY": API_KEY, **FLY_SECRETS},
        run_label=False,
    )
    stack.up()
    wait_http(f"http://127.0.0.1:{port}/health", timeout=30)
    label = f"label={RUN_LABEL}={THIS_RUN}"
    for kind in ("ps", "network ls", "volume ls"):
        assert engine.run(*kind.split(), "-q", "--filter", label).stdout.split(), f"{kind}: nothing labelled"

    use_program(project, None)
    stack.set(f'labels["{RUN_LABEL}"]', str(THIS_RUN))
    steps = preview_steps(stack)
    assert steps, "the command lines of the operations must move to service_infra.ops"
    rollout: dict[str, set[str]] = {}
    for step in steps:
        urn, op = step["urn"], step["op"]
        name = urn.rsplit("::", 1)[-1]
        if name.startswith(f"{DOCKER_SERVICE}-") and (CONTAINER in urn or name.endswith("-live")):
            rollout.setdefault(op, set()).add(name)  # the version by digest, beside the old one
            continue
        if name == f"{DOCKER_SERVICE}-image":
            assert op in {"replace", "create-replacement", "delete-replaced"}, f"{op} of {urn}"
            assert (
                (step.get("newState") or {})
                .get("inputs", {})
                .get("name", "")
                .startswith(f"{example_image.repository}@sha256:")
            ), f"{urn} is not pulled by digest"
            continue
        if name == f"{DOCKER_SERVICE}-proxy-config":
            # The proxy's configuration has a command resource of its own since (issue 30): it is
            # put in the running proxy, which stays (checked after the rollout below).
            assert op == "create", f"{op} of {urn}"
            continue
        assert "command:local:Command" in urn, f"{op} of {urn}: only command resources may change"
        if name == f"{DOCKER_SERVICE}-health-probe":
            # Triggered by the activation, which is the new version's: it probes again after it.
            assert op in {"replace", "create-replacement", "delete-replaced"}, f"{op} of {urn}"
            continue
        changed = set(step.get("diffReasons") or []) | set(step.get("detailedDiff") or {})
        old, new = (step.get("oldState") or {}).get("inputs", {}), (step.get("newState") or {}).get("inputs", {})
        if name.startswith((FLY_SERVICE, FLY_APP)) and not name.endswith("-probe"):
            # The Fly commands also changed after the move (issue 12: --app and the VM size on
            # volume commands, the access token, deletes of what is already gone, secrets unset
            # when removed, a volume's resize, the fly.toml from a TOML library; named after the
            # app, aliased from their old names): they may change in place, and the staged secrets may be replaced
            # (unset, then imported again; no machine restarts before the release).
            allowed = {"update"} | (
                {"replace", "create-replacement", "delete-replaced"} if name.endswith("-secrets") else set()
            )
            assert op in allowed, f"{op} of {urn}"
            assert "components." not in json.dumps(new), f"{urn} still runs the old layout"
            continue
        if op in {"replace", "create-replacement", "delete-replaced"}:
            # A probe re-runs when a command line it is triggered by moves; it deletes nothing.
            assert name.endswith("-probe"), f"{op} of {urn}: only a health probe may be replaced"
            if op == "replace":
                assert "triggers" in changed <= {"create", "triggers"}, f"{urn} replaced for {sorted(changed)}"
                if name.startswith(FLY_SERVICE):
                    # Its triggers hold the Fly release's fly.toml, written by a TOML library since
                    # (issue 12), and its release's id: the same id, kept through the alias.
                    assert new["triggers"][0] == old["triggers"][0], f"{urn}: another release"
                    continue
                for key in changed:
                    assert_only_moved(urn, key, json.dumps(old[key]), json.dumps(new[key]))
            continue
        assert op == "update", f"{op} of {urn}: the move must not create or delete anything"
        assert changed <= {"create", "delete"}, f"{urn}: {sorted(changed)} changed"
        for key in changed:
            assert_only_moved(urn, key, old[key], new[key])
    # One new version (container and activation) created, the running one deleted after it.
    assert set(rollout) == {"create", "delete"}, rollout
    assert all(len(names) == 2 for names in rollout.values()), rollout
    assert rollout["create"].isdisjoint(rollout["delete"]), rollout

    # The move and a new tag in one update: the old version is retired by its stored command line.
    proxy_name = f"{DOCKER_SERVICE}-staging-proxy"
    old_proxy = engine.run("container", "inspect", "-f", "{{.Id}}", proxy_name).stdout
    stack.set("services.llm-server.tag", example_image.v2.tag)
    with Load(f"http://127.0.0.1:{port}/health") as load:
        stack.up()
    assert load.result.failed == 0, load.result.summary()
    # The proxy the old program made serves on, now from the program's configuration.
    assert engine.run("container", "inspect", "-f", "{{.Id}}", proxy_name).stdout == old_proxy
    running_conf = engine.run("container", "exec", proxy_name, "cat", proxy.CONFIG_PATH).stdout
    assert running_conf == proxy.nginx_conf(
        DOCKER_SERVICE, LIVE_ALIAS, DockerTarget.model_fields["container_port"].default
    ), running_conf
    assert set(load.result.versions) >= {example_image.v2.app_version}, load.result.summary()
    stack.preview(expect_no_changes=True)
    stack.preview(refresh=True, expect_no_changes=True)
    stack.destroy()
