"""service_infra.ops.rollout against a scripted docker CLI: when a version goes live, and what a failure says."""

from __future__ import annotations

import json
import os
import re
import subprocess
from typing import Any

import pytest

from service_infra import boundary, settings
from service_infra.boundary import Activation
from service_infra.commands import rollout as rollout_commands
from service_infra.commands.docker import docker_cli
from service_infra.ops import rollout
from tests.support.mocks import load_stack_config


def state(
    health: str | None, running: bool = True, log: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any] | None:
    # On the service's network, as the container is made (without the live alias yet).
    document: dict[str, Any] = {
        "State": {"Running": running, "ExitCode": 0},
        "RestartCount": 0,
        "NetworkSettings": {"Networks": {"llm-server-prod": {"Aliases": ["abc123"]}}},
    }
    if health is not None:
        document["State"]["Health"] = {"Status": health, "Log": log or []}
    document.update(extra)
    return document


Probe = tuple[str, str, str]
HEALTHY: Probe = ("", '{"status":"ok"}\n200', "")
REFUSED: Probe = ("", "\n000", "curl: (7) Failed to connect to llm-server-prod-v2 port 8000: Connection refused")


def answer(returncode: int, stdout: str = "", stderr: str = "") -> tuple[int, str, str]:
    return returncode, stdout, stderr


class ScriptedDocker(rollout.Docker):
    """Answers `container inspect` from a list of documents and the proxy's probes from a list of
    (stdout, stderr) pairs (the last of each repeats); records every call."""

    def __init__(
        self,
        inspections: list[dict[str, Any] | None],
        probes: list[tuple[str, str, str]] | None = None,
        logs: tuple[str, str] = ("", ""),
        die_codes: str = "",
    ) -> None:
        super().__init__(["docker", "-H", "unix:///var/run/docker.sock"])
        self.inspections = inspections
        self.probes = probes or [HEALTHY]
        self.logs = logs
        self.die_codes = die_codes
        self.calls: list[tuple[str, ...]] = []

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        if args[:2] == ("container", "inspect"):
            document = self.inspections.pop(0) if len(self.inspections) > 1 else self.inspections[0]
            if document is None:
                return subprocess.CompletedProcess(args, 1, "", "Error: No such container: x")
            return subprocess.CompletedProcess(args, 0, json.dumps([document]), "")
        if args[0] == "exec":
            _, stdout, stderr = self.probes.pop(0) if len(self.probes) > 1 else self.probes[0]
            code = (7 if stderr.startswith("curl:") else 1) if stderr else 0
            return subprocess.CompletedProcess(args, code, stdout, stderr)
        if args[0] == "logs":
            return subprocess.CompletedProcess(args, 0, *self.logs)
        if args[0] == "events":
            return subprocess.CompletedProcess(args, 0, self.die_codes, "")
        return subprocess.CompletedProcess(args, 0, "", "")

    def commands(self) -> list[tuple[str, ...]]:
        return [c for c in self.calls if c[:2] != ("container", "inspect") and c[0] not in {"exec", "logs", "events"}]


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollout.time, "sleep", lambda _s: None)


CHECK = rollout.HealthCheck("llm-server-prod-proxy", 8000, "/health", start_period=0, secret_env=("API_KEY",))


def activate(docker: ScriptedDocker, timeout: float = 60, check: rollout.HealthCheck = CHECK) -> dict[str, object]:
    new = Activation(
        service="llm-server",
        tag="sha-4a0d3b2",
        container="llm-server-prod-v2",
        network="llm-server-prod",
        proxy=check.proxy,
        port=check.port,
        health_path=check.path,
        start_period=int(check.start_period),
        timeout=int(timeout),
        secret_env=check.secret_env,
    )
    return rollout.activate(docker, new)


def test_goes_live_only_once_its_health_url_answers_from_the_proxy() -> None:
    joined: dict[str, Any] = {"NetworkSettings": {"Networks": {"llm-server-prod": {"Aliases": ["abc123"]}}}}
    docker = ScriptedDocker([state(None, **joined)], probes=[REFUSED, HEALTHY])
    result = activate(docker, check=rollout.HealthCheck("llm-server-prod-proxy", 8000, "/health", start_period=60))
    probes = [c for c in docker.calls if c[0] == "exec"]
    assert len(probes) == 2
    assert probes[0][:3] == ("exec", "llm-server-prod-proxy", "curl")
    assert probes[0][-1] == "http://llm-server-prod-v2:8000/health"
    assert docker.commands() == [
        ("network", "disconnect", "llm-server-prod", "llm-server-prod-v2"),
        ("network", "connect", "--alias", "live", "llm-server-prod", "llm-server-prod-v2"),
    ]
    assert result["container"] == "llm-server-prod-v2"


def test_each_phase_of_a_rollout_says_so_on_stderr_with_its_time(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(boundary, "PROGRESS_EVERY_SECONDS", 0)  # every wait says it still waits
    joined: dict[str, Any] = {"NetworkSettings": {"Networks": {"llm-server-prod": {"Aliases": ["abc123"]}}}}
    docker = ScriptedDocker([state(None, **joined)], probes=[REFUSED, HEALTHY])
    activate(docker, check=rollout.HealthCheck("llm-server-prod-proxy", 8000, "/health", start_period=60))
    rollout.retire(ScriptedDocker([state("healthy")]), "llm-server-prod-v1", 30)
    out, err = capsys.readouterr()
    assert out == ""  # stdout carries the operation's result alone
    phases = [re.sub(r" \(\d+s\)$", "", line) for line in err.splitlines()]
    assert phases == [
        "[service-infra] llm-server sha-4a0d3b2: waiting until llm-server-prod-v2 answers /health (up to 60s)",
        phases[1],  # still waiting: the refused probe
        "[service-infra] llm-server sha-4a0d3b2: healthy",
        "[service-infra] llm-server sha-4a0d3b2: live: the proxy sends it requests",
        "[service-infra] llm-server-prod-v1: draining: in-flight requests have up to 30s",
        "[service-infra] llm-server-prod-v1: stopped",
    ], err
    assert phases[1].startswith("[service-infra] llm-server sha-4a0d3b2: not healthy yet: GET http://"), err
    assert all(re.search(r" \(\d+s\)$", line) for line in err.splitlines()), err


def test_already_live_is_left_alone() -> None:
    live = state(None, NetworkSettings={"Networks": {"llm-server-prod": {"Aliases": ["live", "abc"]}}})
    docker = ScriptedDocker([live])
    activate(docker)
    assert docker.commands() == []


def test_a_container_a_killed_activation_left_off_every_network_rejoins_before_it_is_probed() -> None:
    """Killed between `network disconnect` and `network connect`: the next activation puts it back
    on the network (so the proxy resolves its name) and then live, instead of failing it."""
    off = state(None, NetworkSettings={"Networks": {}})
    rejoined = state(None, NetworkSettings={"Networks": {"llm-server-prod": {"Aliases": ["abc123"]}}})
    docker = ScriptedDocker([off, rejoined])
    activate(docker)
    assert docker.commands() == [
        ("network", "connect", "llm-server-prod", "llm-server-prod-v2"),
        ("network", "disconnect", "llm-server-prod", "llm-server-prod-v2"),
        ("network", "connect", "--alias", "live", "llm-server-prod", "llm-server-prod-v2"),
    ]
    first_probe = next(i for i, c in enumerate(docker.calls) if c[0] == "exec")
    assert docker.calls.index(("network", "connect", "llm-server-prod", "llm-server-prod-v2")) < first_probe


def test_failed_checks_after_the_start_period_fail_at_once_with_logs_and_a_probe() -> None:
    secret = "s3cr3t-value-of-the-api-key"
    env: dict[str, Any] = {"Config": {"Env": ["APP_ENV=prod", f"API_KEY={secret}"]}}
    logs = (
        f"2026-12-02T10:00:01.000000000Z starting with key {secret}\n",
        "2026-12-02T10:00:02.000000000Z ERROR model missing\n",
    )
    failing = ("", "model missing\n503", "")
    docker = ScriptedDocker([state(None, **env)], probes=[failing], logs=logs)
    with pytest.raises(rollout.RolloutError) as failed:
        activate(docker)
    message = str(failed.value)
    assert "service llm-server, tag sha-4a0d3b2" in message
    assert (
        "failed 3 times in a row; last: GET http://llm-server-prod-v2:8000/health: HTTP 503: model missing" in message
    )
    assert "The running version keeps serving" in message and "services.llm-server.tag" in message
    # Both streams, in order, the secret masked by name.
    assert message.index("starting with key [secret API_KEY]") < message.index("ERROR model missing")
    assert secret not in message
    assert "one more probe: GET http://llm-server-prod-v2:8000/health: HTTP 503" in message
    assert len([c for c in docker.calls if c[0] == "exec"]) == 4  # three checks, then the one in the error
    assert docker.commands()[-1] == ("container", "kill", "llm-server-prod-v2")


def test_an_app_that_answers_with_its_environment_leaks_no_secret_not_even_across_the_cut() -> None:
    """The probe's body and the image's own check output are cut to a few hundred characters: the
    values are masked before the cut, so a value the cut crosses leaves no prefix behind; a value
    with line breaks is masked before the text is put on one line."""
    key = "sk-live-0123456789abcdef0123456789abcdef"
    pem = "-----BEGIN KEY-----\nMIIEvgIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----"
    env: dict[str, Any] = {"Config": {"Env": [f"API_KEY={key}", f"TLS_KEY={pem}"]}}
    echo = "x" * (200 - 12) + f"API_KEY={key} TLS_KEY={pem}"  # the key's value crosses the 200th character
    its_check = [{"ExitCode": 1, "Output": "y" * 290 + key + "\n" + pem}]
    check = rollout.HealthCheck("llm-server-prod-proxy", 8000, "/health", 0, secret_env=("API_KEY", "TLS_KEY"))
    for document, probes in [
        (state(None, **env), [("", f"{echo}\n503", "")]),  # its health URL echoes its environment
        (state("unhealthy", log=its_check, **env), [HEALTHY]),  # its image's own check does
    ]:
        docker = ScriptedDocker([document], probes=probes, logs=(f"key {key}\n{pem}\n", ""))
        with pytest.raises(rollout.RolloutError) as failed:
            activate(docker, check=check)
        message = str(failed.value)
        assert key[:6] not in message and "MIIEvgIB" not in message, message
        assert "[secret API_KEY]" in message or "[secret TLS_KEY]" in message, message


def test_failures_while_it_starts_do_not_count() -> None:
    docker = ScriptedDocker([state(None)], probes=[REFUSED] * 6 + [HEALTHY])
    activate(docker, check=rollout.HealthCheck("p", 8000, "/health", start_period=3600))
    assert len([c for c in docker.calls if c[0] == "exec"]) == 7


def test_times_out_without_going_live(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter(range(0, 1000, 5))
    monkeypatch.setattr(rollout.time, "monotonic", lambda: float(next(ticks)))
    docker = ScriptedDocker([state(None)], probes=[REFUSED])
    check = rollout.HealthCheck("p", 8000, "/health", start_period=3600)
    with pytest.raises(rollout.RolloutError, match=r"did not become healthy within 30s; last health check: GET"):
        activate(docker, timeout=30, check=check)
    assert ("network", "connect", "--alias", "live", "llm-server-prod", "llm-server-prod-v2") not in docker.calls


def test_a_crash_fails_at_its_first_restart() -> None:
    docker = ScriptedDocker([state(None), state(None, running=False, Restarting=True)], probes=[REFUSED])
    docker.inspections[1]["State"].update(Restarting=True, ExitCode=3)  # type: ignore[index]
    with pytest.raises(rollout.RolloutError, match="exited with code 3 and Docker is restarting it"):
        activate(docker, check=rollout.HealthCheck("p", 8000, "/health", start_period=3600))


def test_a_restart_seen_only_by_its_count_fails_too_with_the_code_of_its_last_exit() -> None:
    # Running again after the restart, its state says exit code 0; the engine's die events say 1.
    created = "2026-12-03T10:13:38.731701774Z"
    inspections = [state(None), state(None, RestartCount=1, Created=created)]
    docker = ScriptedDocker(inspections, probes=[REFUSED], die_codes="1\n1\n")
    with pytest.raises(rollout.RolloutError, match="exited with code 1 and Docker is restarting it"):
        activate(docker, check=rollout.HealthCheck("p", 8000, "/health", start_period=3600))
    (events,) = [c for c in docker.calls if c[0] == "events"]
    assert events[:5] == ("events", "--since", created, "--until", "0s")
    assert "container=llm-server-prod-v2" in events and "event=die" in events


def test_a_restart_whose_exit_the_engine_no_longer_recalls_says_so() -> None:
    docker = ScriptedDocker([state(None), state(None, RestartCount=1)], probes=[REFUSED])
    with pytest.raises(rollout.RolloutError, match="exited with code unknown and Docker is restarting it"):
        activate(docker, check=rollout.HealthCheck("p", 8000, "/health", start_period=3600))


def test_the_images_own_unhealthy_verdict_fails_it() -> None:
    log = [{"ExitCode": 1, "Output": "Traceback ... URLError"}]
    docker = ScriptedDocker([state("unhealthy", log=log)], probes=[REFUSED])
    with pytest.raises(rollout.RolloutError, match=r"own health check reports it unhealthy \(exit 1: Traceback"):
        activate(docker)


def test_a_stopped_container_gets_one_more_start() -> None:
    docker = ScriptedDocker([state(None, running=False), state(None)])
    activate(docker)
    assert docker.commands()[0] == ("container", "start", "llm-server-prod-v2")


def test_a_proxy_that_cannot_probe_is_named() -> None:
    docker = ScriptedDocker([state(None)], probes=[("", "", "Error response from daemon: container p is not running")])
    with pytest.raises(
        rollout.RolloutError, match="could not probe http://llm-server-prod-v2:8000/health from the proxy"
    ):
        activate(docker)


def test_retire_drains_then_stops_and_tolerates_a_missing_container() -> None:
    docker = ScriptedDocker([state("healthy")])
    assert "drained and stopped" in rollout.retire(docker, "llm-server-prod-v1", 30)
    assert docker.commands() == [("container", "stop", "--time", "30", "llm-server-prod-v1")]
    gone = ScriptedDocker([None])
    assert "already gone" in rollout.retire(gone, "llm-server-prod-v1", 30)
    assert gone.commands() == []


def test_docker_over_ssh_quotes_for_the_remote_shell() -> None:
    config = settings.load_settings(load_stack_config("prod"), set())
    cli = rollout.Docker(docker_cli(config.docker_hosts["mac-mini"]))
    argv = cli.argv("container", "inspect", "--format", "{{json .State}}", "name")
    assert argv[-5:] == ["container", "inspect", "--format", "'{{json .State}}'", "name"]
    local = rollout.Docker(["docker", "-H", "unix:///var/run/docker.sock"])
    assert local.argv("--format", "{{json .State}}")[-1] == "{{json .State}}"


def test_the_docker_cli_must_come_as_a_json_list() -> None:
    with pytest.raises(rollout.RolloutError, match="SERVICE_INFRA_DOCKER_CLI must hold"):
        rollout.Docker.from_environ({"SERVICE_INFRA_DOCKER_CLI": "docker -H x"})


NEW = Activation(
    service="llm-server", tag="sha-4a0d3b2", container="llm-server-prod-v2", network="llm-server-prod",
    proxy="llm-server-prod-proxy", port=8000, health_path="/health", start_period=10, timeout=180,
    secret_env=("API_KEY", "DB_PASSWORD"),
)  # fmt: skip
OPERATIONS = {
    "activate": rollout_commands.activate_operation(NEW),
    "retire": rollout_commands.retire_operation("llm-server-prod-v1", 30),
    "configure-proxy": rollout_commands.configure_proxy_operation("llm-server-prod-proxy", "/etc/nginx/nginx.conf"),
}


@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_what_the_program_writes_the_operation_reads_back_whole(op: str) -> None:
    args = rollout.command_line().parse_args(OPERATIONS[op][3:])
    assert args.op == op
    if op == "activate":
        parsed = {name: getattr(args, name) for name in NEW.__dataclass_fields__}
        assert parsed == {**NEW.__dict__, "secret_env": sorted(NEW.secret_env)}


@pytest.mark.parametrize(
    ("op", "flag"),
    [
        (op, arg)
        for op, argv in sorted(OPERATIONS.items())
        for arg in argv[4:]
        if arg.startswith("--") and arg != "--secret-env"
    ],
)
def test_no_argument_of_an_operation_has_a_default_of_its_own(op: str, flag: str) -> None:
    """The program decides every value (its defaults live in service_infra.boundary): an operation
    missing one refuses to run rather than decide it a second time."""
    argv = OPERATIONS[op][3:]
    at = argv.index(flag)
    with pytest.raises(SystemExit) as refused:
        rollout.command_line().parse_args(argv[:at] + argv[at + 2 :])
    assert refused.value.code == 2


def test_main_reports_failure_on_stderr(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SERVICE_INFRA_DOCKER_CLI", "not json")
    assert rollout.main(["retire", "--container", "x", "--drain-seconds", "30"]) == 1
    assert "SERVICE_INFRA_DOCKER_CLI must hold" in capsys.readouterr().err


FAKE_SSH = """#!/bin/sh
# Records its argv; as a master (ControlMaster=yes) it makes its socket and waits to be stopped.
printf '%s\\n' "$*" >> "$SSH_LOG"
case "$*" in
*ControlMaster=yes*)
  [ -n "$MASTER_FAILS" ] && exit 255
  socket=$(printf '%s\\n' "$@" | sed -n 's/^ControlPath=//p')
  : > "$socket"
  trap 'echo stopped >> "$SSH_LOG"; exit 0' TERM
  while :; do sleep 0.05; done ;;
esac
echo '[]'
"""


@pytest.mark.parametrize("master_fails", [False, True], ids=["shared", "master-fails"])
def test_one_ssh_connection_carries_every_command_of_a_run(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, master_fails: bool
) -> None:
    ssh = tmp_path / "ssh"
    ssh.write_text(FAKE_SSH)
    ssh.chmod(0o755)
    log = tmp_path / "ssh.log"
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setenv("SSH_LOG", str(log))
    if master_fails:
        monkeypatch.setenv("MASTER_FAILS", "1")
    config = settings.load_settings(load_stack_config("prod"), set())
    with rollout.Docker(docker_cli(config.docker_hosts["mac-mini"])) as docker:
        docker.run("ps")
        docker.run("ps")
        control_dir = docker._control_dir
    assert control_dir is not None
    lines = log.read_text().splitlines()
    master, clients = lines[0], [line for line in lines if line.endswith(" docker ps")]
    assert "ControlMaster=yes" in master and " -N -- " in master and "docker" not in master.split(" -- ")[1]
    assert "StrictHostKeyChecking=yes" in master  # the master trusts only the pinned key too
    assert len(clients) == 2 and all(
        f"ControlPath={control_dir}/master" in c and "ControlMaster=no" in c for c in clients
    )
    # The master is stopped and its private dir removed when the run ends.
    assert ("stopped" in lines) is not master_fails
    assert not (tmp_path / control_dir).exists()


def test_a_local_engine_needs_no_shared_connection() -> None:
    with rollout.Docker(["docker", "-H", "unix:///var/run/docker.sock"]) as docker:
        assert docker._master is None and docker.prefix[0] == "docker"


def test_the_control_folders_of_killed_runs_are_removed_and_no_live_ones(tmp_path: Any) -> None:
    """A SIGKILLed run leaves its /tmp/si-ssh-<pid>-* folder; the next run removes it, not a
    live run's, nor what is not a control folder."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = tmp_path / f"{rollout.CONTROL_DIR_PREFIX}{dead.pid}-abc123"
    live = tmp_path / f"{rollout.CONTROL_DIR_PREFIX}{os.getpid()}-def456"
    other = tmp_path / "si-ssh-not-a-pid"
    for folder in (left, live, other):
        folder.mkdir()
        (folder / "master").write_text("")
    rollout.remove_dead_control_dirs(str(tmp_path))
    assert not left.exists() and live.exists() and other.exists()


class ProxyDocker(rollout.Docker):
    """A running proxy whose configuration file holds CURRENT, and whose nginx accepts a new one
    when VALID; records every call."""

    def __init__(self, current: str, valid: bool = True) -> None:
        super().__init__(["docker", "-H", "unix:///var/run/docker.sock"])
        self.current, self.valid = current, valid
        self.calls: list[tuple[str, ...]] = []

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        if args[-2:] == ("cat", PROXY_CONF):
            return subprocess.CompletedProcess(args, 0, self.current, "")
        if "-t" in args and not self.valid:
            return subprocess.CompletedProcess(args, 1, "", 'nginx: [emerg] unknown directive "bogus"\n')
        return subprocess.CompletedProcess(args, 0, "", "")


PROXY_CONF = "/etc/nginx/service-infra.conf"


def test_a_current_proxy_configuration_is_left_alone() -> None:
    docker = ProxyDocker("conf v2\n")
    assert "current" in rollout.configure_proxy(docker, "svc-prod-proxy", PROXY_CONF, "conf v2\n")
    assert len(docker.calls) == 1  # only read: no write, no reload


def test_a_changed_proxy_configuration_is_checked_moved_in_and_reloaded_in_the_running_proxy() -> None:
    docker = ProxyDocker("conf v1\n")
    rollout.configure_proxy(docker, "svc-prod-proxy", PROXY_CONF, "conf v2\n")
    write, test, move, reload = docker.calls[1:]
    assert write[:5] == ("container", "exec", "--user", "0", "svc-prod-proxy")
    assert write[-2:] == ("conf v2\n", f"{PROXY_CONF}.new")  # an argument, never a shell word
    assert test[-3:] == ("-t", "-c", f"{PROXY_CONF}.new")
    assert move[-3:] == ("mv", f"{PROXY_CONF}.new", PROXY_CONF)
    assert reload[:3] == ("container", "exec", "svc-prod-proxy") and reload[-2:] == ("-s", "reload")


def test_a_configuration_nginx_refuses_leaves_the_running_one_in_place() -> None:
    docker = ProxyDocker("conf v1\n", valid=False)
    with pytest.raises(rollout.RolloutError, match=r"nginx refused the new configuration.*unknown directive"):
        rollout.configure_proxy(docker, "svc-prod-proxy", PROXY_CONF, "bogus;\n")
    assert docker.calls[-1][-3:] == ("rm", "-f", f"{PROXY_CONF}.new")
    assert not any("reload" in call or "mv" in call for call in docker.calls)
