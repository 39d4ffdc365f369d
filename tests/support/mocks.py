"""The program and its components run against Pulumi mocks (unit tests, policy tests, benchmarks).

`run_stack` loads a stack file (or a config dict), hands its config to the mocked engine with
every secure value replaced by a known test value, runs `__main__.py`, and returns what was
registered.
"""

from __future__ import annotations

import copy
import hashlib
import json
import runpy
import shlex
import subprocess
import zlib
from dataclasses import dataclass, field
from typing import Any

import pulumi
import yaml

from service_infra import preflight, releases
from service_infra.boundary import LIVE_ALIAS
from service_infra.contract import PROJECT, SECRET_SIGNATURE, SECRET_SIGNATURE_KEY
from tests.support import ROOT


def secret_value_for(name: str) -> str:
    return f"test-secret-value-of-{name}"


def image_digest_for(ref: str) -> str:
    """The digest the mocked registry reports for `ref`."""
    return "sha256:" + hashlib.sha256(ref.encode()).hexdigest()


def numeric_id(name: str) -> int:
    return 1000 + zlib.crc32(name.encode()) % 100000


# The repository the committed stack files deploy to.
COMMITTED_REPOSITORY = "local-llm-server"


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool


def activation_report(create: str) -> str:
    """What `python3 -m service_infra.ops.rollout activate ...` prints when the version went live."""
    argv = shlex.split(create) if isinstance(create, str) else []
    if argv[3:4] != ["activate"]:
        return ""
    flags = dict(zip(argv[4::2], argv[5::2], strict=False))
    report = {k: flags[f"--{k}"] for k in ("service", "tag", "container", "network")}
    report["alias"] = LIVE_ALIAS
    return json.dumps(report, sort_keys=True)


@dataclass
class Recorder(pulumi.runtime.Mocks):
    resources: list[Registered] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    host_checks: list[list[str]] = field(default_factory=list)
    # Each team's role on the repository of the committed stacks (absent: write; None: no access).
    team_roles: dict[str, str | None] = field(default_factory=dict)
    # What the stack's previous update exported (the StackReference to itself reads it).
    previous_outputs: dict[str, Any] = field(default_factory=dict)
    registry_lookups: list[tuple[str, str, str]] = field(default_factory=list)

    def resolve_digest(self, server: str, repository: str, tag: str, username: str, password: str) -> str:
        """Stands in for the registry lookup at `up`: a digest that follows the reference."""
        self.registry_lookups.append((server, repository, tag))
        return image_digest_for(f"{server}/{repository}:{tag}")

    def check_host(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        """Stands in for ssh to the Docker hosts, which unit tests do not reach."""
        self.host_checks.append(argv)
        return subprocess.CompletedProcess(argv, 0, "27.3.1\n", "")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(Registered(args.typ, args.name, args.inputs, bool(args.custom)))
        outputs = dict(args.inputs)
        if args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = f"sha256:{numeric_id(args.name):064x}"
        if args.typ == "command:local:Command":
            outputs["stdout"] = activation_report(args.inputs.get("create", ""))
        if args.typ == "pulumi:pulumi:StackReference":
            outputs["outputs"] = self.previous_outputs  # the stack's last update's outputs
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        # A bare dict: this SDK's mock monitor cannot take a (result, None) pair.
        self.calls.append((args.token, dict(args.args)))
        if args.token == "github:index/getUser:getUser":
            login = args.args["username"]
            if login.startswith("nobody"):  # as the provider reports a 404
                return {}, [("username", f"GET /users/{login}: 404 Not Found")]  # type: ignore[return-value]
            return {"id": str(numeric_id(login)), "login": login}
        if args.token == "github:index/getTeam:getTeam":
            slug = args.args["slug"]
            role = self.team_roles.get(slug, "write")
            repos = [] if role is None else [{"repoId": 1, "repoName": COMMITTED_REPOSITORY, "roleName": role}]
            return {"id": str(numeric_id(slug)), "slug": slug, "repositoriesDetaileds": repos}
        raise AssertionError(f"unexpected invoke {args.token}")

    def of_type(self, type_token: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_token]

    def named(self, name: str) -> Registered:
        matches = [r for r in self.resources if r.name == name]
        assert len(matches) == 1, f"{name}: {len(matches)} resources registered with that name"
        return matches[0]


def load_stack_config(stack: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]


def settings_problems(config: dict[str, Any], stack: str | None) -> list[str]:
    """What the settings rules say of CONFIG (a stack file's `config`) for STACK: [] when it passes."""
    from service_infra.settings import SettingsError, load_settings

    try:
        load_settings(config, secret_keys=set(), stack=stack)
    except SettingsError as error:
        return error.problems
    return []


def engine_config(config: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """What the engine hands a program: decrypted values (JSON text for objects) and the secret keys."""
    values: dict[str, str] = {}
    secret_keys = []
    for key, value in config.items():
        value = copy.deepcopy(value)
        if key == f"{PROJECT}:secrets" and isinstance(value, dict):
            value = {
                name: secret_value_for(name) if isinstance(v, dict) and "secure" in v else v
                for name, v in value.items()
            }
            secret_keys.append(key)
        values[key] = value if isinstance(value, str) else json.dumps(value)
    return values, secret_keys


def run_stack(config: dict[str, Any], stack: str = "test", recorder: Recorder | None = None) -> Recorder:
    recorder = recorder or Recorder()
    pulumi.runtime.set_mocks(recorder, project=PROJECT, stack=stack, preview=False)
    values, secret_keys = engine_config(config)
    pulumi.runtime.set_all_config(values, secret_keys)

    @pulumi.runtime.test
    def program() -> None:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    real_check, real_refusal = preflight.check_docker_hosts, preflight.refuse_example_passphrase
    real_resolve = releases.resolve_digest
    preflight.check_docker_hosts = lambda config: real_check(config, run=recorder.check_host)
    releases.resolve_digest = recorder.resolve_digest
    # The committed stack files are encrypted with the published example passphrase, which the
    # program rightly refuses outside local; tests/unit/test_stack_secrets.py covers the refusal.
    preflight.refuse_example_passphrase = lambda stack, project_dir, remember=True: None
    try:
        program()
    finally:
        preflight.check_docker_hosts, preflight.refuse_example_passphrase = real_check, real_refusal
        releases.resolve_digest = real_resolve
    return recorder


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIGNATURE_KEY) == SECRET_SIGNATURE


def reveal(value: Any) -> Any:
    return value["value"] if is_secret(value) else value
