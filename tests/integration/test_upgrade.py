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
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT
from tests.support.harness import DockerEngine, ExampleImage, Registry, SshHost, free_port, wait_http
from tests.support.harness.load import Load
from tests.support.leftovers import RUN_LABEL, THIS_RUN
from tests.support.pulumi_project import Project, Stack
from tests.support.stacks import API_KEY, FLY_SECRETS, fly_config, ssh_stack_config

# The Fly service of the stack (fly_config's): its commands changed for reasons beyond the move.
FLY_SERVICE = "image-descriptor"
# The last commit of the program with its old layout (components/ holding everything).
BEFORE_THE_MOVE = "6511b36"
OLD_TO_NEW = {
    "components.rollout": "service_infra.ops.rollout",
    "components.probe": "service_infra.ops.probe",
    "components.flyctl": "service_infra.ops.fly",
}


def old_program() -> bytes:
    """The program's files at BEFORE_THE_MOVE, as a tar stream from git."""
    done = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", BEFORE_THE_MOVE, "__main__.py", "components"],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"this test deploys the program as of {BEFORE_THE_MOVE} from git history, which this clone lacks "
            f"({done.stderr.decode().strip()}); fetch the full history (git fetch --unshallow)"
        )
    return done.stdout


def use_program(project: Project, old: bytes | None) -> None:
    """Put the old program (from git) or the current one in the project folder."""
    for name in ("components", "service_infra"):
        shutil.rmtree(project.dir / name, ignore_errors=True)
    if old is None:
        shutil.copy(ROOT / "__main__.py", project.dir / "__main__.py")
        for package in ("service_infra", "components"):  # components/: entry points of the old command lines
            shutil.copytree(ROOT / package, project.dir / package, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        with tarfile.open(fileobj=io.BytesIO(old)) as archive:
            archive.extractall(project.dir, filter="data")
        label_old_program(project.dir / "components" / "docker_service.py")


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


# Added to the activation's command line after the move: the version is probed from the proxy.
PROBE_ARGUMENTS = re.compile(r" --proxy \S+ --port \d+ --health-path \S+ --start-period \d+( --secret-env \S+)*$")


def without_probe_arguments(urn: str, create: str) -> str:
    """An activation's command line without what the proxy probe added (it must have them)."""
    if not urn.endswith("-live"):
        return create
    stripped = PROBE_ARGUMENTS.sub("", create)
    assert stripped != create, f"{urn}: the activation does not probe from the proxy: {create}"
    return stripped


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
    config["services"].update(fly_config("it-upgrade-app", public_health_url)["services"])
    use_program(project, old_program())
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
    for step in steps:
        urn, op = step["urn"], step["op"]
        name = urn.rsplit("::", 1)[-1]
        assert "command:local:Command" in urn, f"{op} of {urn}: only command resources may change"
        changed = set(step.get("diffReasons") or []) | set(step.get("detailedDiff") or {})
        old, new = (step.get("oldState") or {}).get("inputs", {}), (step.get("newState") or {}).get("inputs", {})
        if name.startswith(FLY_SERVICE) and not name.endswith("-probe"):
            # The Fly commands also changed after the move (issue 12: --app and the VM size on
            # volume commands, the access token, deletes of what is already gone, secrets unset
            # when removed): they may change in place, and the staged secrets may be replaced
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
                for key in changed:
                    assert_only_moved(urn, key, json.dumps(old[key]), json.dumps(new[key]))
            continue
        assert op == "update", f"{op} of {urn}: the move must not create or delete anything"
        assert changed <= {"create", "delete"}, f"{urn}: {sorted(changed)} changed"
        for key in changed:
            after = without_probe_arguments(urn, new[key]) if key == "create" else new[key]
            assert_only_moved(urn, key, old[key], after)

    # The move and a new tag in one update: the old version is retired by its stored command line.
    stack.set("services.llm-server.tag", example_image.v2.tag)
    with Load(f"http://127.0.0.1:{port}/health") as load:
        stack.up()
    assert load.result.failed == 0, load.result.summary()
    assert set(load.result.versions) >= {example_image.v2.app_version}, load.result.summary()
    stack.preview(expect_no_changes=True)
    stack.preview(refresh=True, expect_no_changes=True)
    stack.destroy()
