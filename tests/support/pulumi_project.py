"""The program run through the real Pulumi engine (Automation API, passphrase secrets; a file
backend unless a test gives another, e.g. the harness's object store).

Each `Project` is a copy of the program in a temp dir, so tests never touch the repo's stack
files or state; its stacks are written from config dicts, their secrets set with
`pulumi config set --secret --path`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from service_infra.cli.interrupts import let_pulumi_stop_its_plugins
from service_infra.contract import PROJECT, VERSION_KEY_SECRET
from tests.support import ROOT
from tests.support.leftovers import RUN_LABEL, THIS_RUN

PASSPHRASE = "integration-test-passphrase"
# The key of the hash of secret values in version names, on every test stack.
VERSION_KEY = "it-version-key-0c9e5a7d41"
ENSURE_PULUMI = ROOT / "scripts" / "ensure-pulumi.sh"


@dataclass(frozen=True)
class Engine:
    """The Pulumi engine `scripts/ensure-pulumi.sh` found or made: the folder of the `pulumi` to
    run, the folder of the uv its language host runs the program with (`toolchain: uv`) and, when
    a part is source-built, the private Pulumi home that holds its plugins."""

    bin_dir: str
    uv_dir: str
    home: str | None = None

    @classmethod
    def parse(cls, stdout: str) -> Engine:
        pairs = dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)
        return cls(bin_dir=pairs["PULUMI_BIN"], uv_dir=pairs["UV_BIN"], home=pairs.get("PULUMI_HOME"))

    def env(self, *extra_path: str) -> dict[str, str]:
        """PATH (the engine and uv first, then EXTRA_PATH) and the Pulumi home for this project's runs."""
        env = {"PATH": os.pathsep.join([self.bin_dir, self.uv_dir, *extra_path, os.environ["PATH"]])}
        if self.home:
            env["PULUMI_HOME"] = self.home
        return env


def ensure_pulumi() -> Engine:
    """Runs `scripts/ensure-pulumi.sh` (official CLI and plugins first; source builds cached)."""
    # A suite or benchmark started in the background would otherwise add 5 s to every `up`.
    let_pulumi_stop_its_plugins()
    # This machine's environment sets PYTHONDONTWRITEBYTECODE; a workstation's or a runner's does
    # not. With it, every `up` recompiled the program's own modules (a no-op: 4.64 s, not 4.29 s).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run([str(ENSURE_PULUMI)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the Pulumi engine is not available:\n{done.stderr[-4000:]}")
    return Engine.parse(done.stdout)


@dataclass
class Run:
    """What one engine operation printed and returned."""

    output: str
    summary: Any = None
    outputs: dict[str, Any] = field(default_factory=dict)


def file_backend(state_dir: Path, sidecars: bool = False) -> str:
    """A file:// backend in STATE_DIR, without metadata sidecars (`.attrs`) unless SIDECARS, as
    scripts/deploy-local.sh makes it: gocloud's fileblob writes a sidecar in place, and the
    program's read of its own stack (a StackReference) during an update met one half-written,
    `failed to load checkpoint: EOF` (once in ~50 updates under the suite's parallel load)."""
    return f"file://{state_dir}" if sidecars else f"file://{state_dir}?metadata=skip"


class Project:
    def __init__(self, directory: Path, env: dict[str, str], engine: Engine, backend_url: str | None = None) -> None:
        """ENV holds the engine's own (Engine.env) and what the test adds; the state goes to
        BACKEND_URL (its credentials in ENV), by default a folder next to DIRECTORY."""
        self.dir = directory
        self.command = auto.PulumiCommand(root=str(Path(engine.bin_dir).parent))
        self.state_dir = directory.parent / f"{directory.name}-state"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **env,
            "PULUMI_BACKEND_URL": backend_url or file_backend(self.state_dir),
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        }
        directory.mkdir(parents=True, exist_ok=True)
        # uv.lock, for the language host's list of the program's packages; no pyproject.toml, so
        # that no `uv sync` there makes the shared .venv's editable service-infra point at the copy.
        for name in ("Pulumi.yaml", "__main__.py", "uv.lock"):
            shutil.copy(ROOT / name, directory / name)
        # The program, and the legacy entry points state from before the move still runs.
        for package in ("service_infra", "components"):
            shutil.copytree(ROOT / package, directory / package, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(ROOT / "examples", directory / "examples", ignore=shutil.ignore_patterns("__pycache__"))
        # The policy pack, next to the program as in the repository (rollback runs up with it).
        shutil.copytree(ROOT / "policy", directory / "policy", ignore=shutil.ignore_patterns("__pycache__"))
        (directory / ".venv").symlink_to(ROOT / ".venv")
        self.stacks: list[Stack] = []

    def stack(
        self, name: str, config: dict[str, Any], secrets: dict[str, str] | None = None, *, run_label: bool = True
    ) -> Stack:
        """RUN_LABEL goes on what the stack makes, so a later run can remove what a killed one left
        (tests/support/leftovers.py); `run_label=False` for programs from before the `labels` key."""
        if run_label:
            config = {**config, "labels": {**config.get("labels", {}), RUN_LABEL: str(THIS_RUN)}}
        document = {"config": {f"{PROJECT}:{key}": value for key, value in config.items()}}
        (self.dir / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
        stack = auto.create_or_select_stack(
            stack_name=name,
            work_dir=str(self.dir),
            opts=auto.LocalWorkspaceOptions(
                env_vars=self.env, secrets_provider="passphrase", pulumi_command=self.command
            ),
        )
        # Every stack has its VERSION_KEY, as the setup of a real one gives it (docs/operations.md).
        for secret_name, value in {VERSION_KEY_SECRET: VERSION_KEY, **(secrets or {})}.items():
            stack.set_config(f"{PROJECT}:secrets.{secret_name}", auto.ConfigValue(value, secret=True), path=True)
        self.stacks.append(Stack(stack, self))
        return self.stacks[-1]

    def rollback(self, stack: str, service: str) -> subprocess.CompletedProcess[str]:
        """`scripts/rollback.sh STACK SERVICE`, minus its installs: the module it runs, here."""
        return self.operator_command("rollback", "--stack", stack, "--service", service)

    def recover(self, stack: str, *args: str) -> subprocess.CompletedProcess[str]:
        """`scripts/recover.sh STACK ...`, minus its installs."""
        return self.operator_command("recover", "--stack", stack, *args)

    def status(self, stack: str) -> subprocess.CompletedProcess[str]:
        """`scripts/status.sh STACK --json`, minus its installs, and without the passphrase."""
        return self.operator_command("status", "--stack", stack, "--json", passphrase=False)

    def history(self, stack: str) -> subprocess.CompletedProcess[str]:
        """`scripts/history.sh STACK --json`, minus its installs, and without the passphrase."""
        return self.operator_command("history", "--stack", stack, "--json", passphrase=False)

    def operator_command(self, *args: str, passphrase: bool = True) -> subprocess.CompletedProcess[str]:
        """`python -m service_infra ARGS` in the project folder, with its backend and passphrase."""
        env = {**os.environ, **self.env}
        if not passphrase:
            env.pop("PULUMI_CONFIG_PASSPHRASE", None)
            env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
        return subprocess.run(
            [str(ROOT / ".venv" / "bin" / "python"), "-m", "service_infra", *args],
            cwd=self.dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    def tear_down(self) -> bool:
        """Destroy what a test left up (a failed test must not leave containers behind), prod's
        protected resources included. False when a destroy failed."""
        destroyed = True
        for stack in reversed(self.stacks):
            # A test that killed an update left its lock; nobody else uses this project's stacks.
            with contextlib.suppress(auto.CommandError):
                self.command.run(
                    ["cancel", "--yes", "--non-interactive", "--stack", stack.stack.name],
                    cwd=str(self.dir),
                    additional_env=self.env,
                )
            try:
                stack.unprotect_all()
                stack.stack.destroy(color="never")
            except auto.CommandError as error:
                print(f"tear-down of {stack.stack.name} failed: {error}")
                destroyed = False
        self.stacks.clear()
        return destroyed

    def state_text(self) -> str:
        """Every file of the backend, as text: what must never hold a plaintext secret."""
        return "\n".join(p.read_text(errors="replace") for p in self.state_dir.rglob("*") if p.is_file())


@dataclass(frozen=True)
class Step:
    """One step of an update, from the engine's event log: its operation and resource."""

    op: str
    urn: str

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


class EventLog:
    """What `pulumi up --event-log PATH` has written so far (one JSON event a line): the steps the
    engine began, and those it finished."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _events(self, kind: str) -> list[Step]:
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return []
        steps = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:  # the line being written
                continue
            metadata = (event.get(kind) or {}).get("metadata")
            if metadata:
                steps.append(Step(str(metadata.get("op", "")), str(metadata.get("urn", ""))))
        return steps

    def began(self) -> list[Step]:
        return self._events("resourcePreEvent")

    def finished(self) -> list[Step]:
        return self._events("resOutputsEvent")


def engine_complaints(output: str, limit: int = 4000) -> str:
    """The parts of a failed engine run's output that say why: its Diagnostics and Policy
    Violations sections and every line naming an error (a long --diff hides them otherwise)."""
    picked: list[str] = []
    section = False
    for line in output.splitlines():
        if line.strip() in ("Diagnostics:", "Policy Violations:"):
            section = True
        elif section and line and not line.startswith(" "):
            section = False
        if section or "error" in line.lower() or "[mandatory]" in line:
            picked.append(line)
    return "\n".join(picked)[-limit:]


@contextlib.contextmanager
def complaints_noted() -> Iterator[None]:
    """Adds engine_complaints to a failing run's CommandError, where pytest prints it last."""
    try:
        yield
    except auto.CommandError as error:
        error.add_note("Why, from the engine's output:\n" + engine_complaints(str(error)))
        raise


def kill_update(update: subprocess.Popen[str]) -> set[int]:
    """SIGKILL an update begun by Stack.start_up and every process of its session, as a runner that
    times out ends a job: the CLI starts its language host and providers in process groups of their
    own, which a kill of its group alone leaves running (each holding a Python program). Returns
    the pids it killed."""
    killed = set()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(update.pid, signal.SIGKILL)  # first the CLI, so it starts nothing more
        killed.add(update.pid)
    listed = subprocess.run(["ps", "-A", "-o", "pid="], capture_output=True, text=True, check=True).stdout
    for pid in (int(word) for word in listed.split()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getsid(pid) == update.pid:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
    return killed


class Stack:
    def __init__(self, stack: auto.Stack, project: Project) -> None:
        self.stack = stack
        self.project = project

    def set(self, key: str, value: str | int) -> None:
        """`pulumi config set --path KEY VALUE`, as ops edit a stack."""
        self.stack.set_config(f"{PROJECT}:{key}", auto.ConfigValue(str(value)), path=True)

    def up(self, **kwargs: Any) -> Run:
        lines: list[str] = []
        with complaints_noted():
            result = self.stack.up(on_output=lines.append, show_secrets=False, color="never", **kwargs)
        return Run("\n".join(lines), result.summary, {k: v.value for k, v in result.outputs.items()})

    def start_up(self, event_log: Path | None = None) -> subprocess.Popen[str]:
        """`pulumi up` as a process of its own session (a test may SIGKILL its process group, as a
        CI runner that times out does), its output in a pipe; the engine's events to EVENT_LOG."""
        events = ["--event-log", str(event_log)] if event_log else []
        # The CLI offers --event-log only with its debug commands on (as the Automation API has them).
        debug = {"PULUMI_DEBUG_COMMANDS": "true"} if event_log else {}
        return subprocess.Popen(
            ["pulumi", "up", "--yes", "--non-interactive", "--skip-preview", "--stack", self.stack.name, *events],
            cwd=self.project.dir,
            env={**os.environ, **self.project.env, **debug},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def preview(self, **kwargs: Any) -> Run:
        lines: list[str] = []
        with complaints_noted():
            result = self.stack.preview(on_output=lines.append, color="never", **kwargs)
        return Run("\n".join(lines), result.change_summary)

    def destroy(self) -> Run:
        lines: list[str] = []
        with complaints_noted():
            self.stack.destroy(on_output=lines.append, color="never")
        return Run("\n".join(lines))

    def unprotect_all(self) -> None:
        """`pulumi state unprotect --all`, as ops do on purpose before destroying prod."""
        self.project.command.run(
            ["state", "unprotect", "--all", "--yes", "--non-interactive", "--stack", self.stack.name],
            cwd=str(self.project.dir),
            additional_env=self.project.env,
        )

    def protected(self) -> set[str]:
        """The names of the resources Pulumi refuses to delete, from the stack's state."""
        resources = (self.stack.export_stack().deployment or {}).get("resources") or []
        return {str(r["urn"]).rsplit("::", 1)[-1] for r in resources if r.get("protect")}

    def outputs(self) -> dict[str, Any]:
        return {k: v.value for k, v in self.stack.outputs().items()}
