"""The host doctor and the preflight: one set of checks, run against a scripted host (nothing is
reached), and the remote scripts run for real by a local /bin/sh with a fake home."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from service_infra import host_checks, preflight
from service_infra.cli import doctor as doctor_cli
from service_infra.cli.doctor import doctor
from service_infra.commands import host_checks as host_commands
from service_infra.commands.docker import ssh_options
from service_infra.host_checks import Status
from service_infra.settings import DockerHostSettings, Settings, load_stack_file
from tests.support import ROOT

STAGING = ROOT / "Pulumi.staging.yaml"
KEYCHAIN_LOCKED = "User interaction is not allowed."
PATH_FIX = (
    "echo 'SetEnv PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' "
    "| sudo tee /etc/ssh/sshd_config.d/100-service-infra-path.conf"
)

Answer = tuple[int, str, str]
ENGINE_ID = "7f3c2a9e-51b0-4d8e-9a61-0c5e2b7d4f18"
ENGINE_HINT = (
    f"ok    mac-mini  engine: ID {ENGINE_ID}; pin it so no other engine is taken for this one: "
    f"pulumi config set --path 'docker_hosts.mac-mini.engine_id' {ENGINE_ID}"
)


def done(argv: list[str], answer: Answer) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(argv, answer[0], answer[1], answer[2])


class Host:
    """A scripted Mac: each check's answer by what it runs; every command is kept."""

    def __init__(self, **answers: Answer) -> None:
        self.answers: dict[str, Answer] = {
            "version": (0, "27.3.1\n", ""),
            "engine": (0, f"{ENGINE_ID}\n", ""),
            "locate": (0, "", ""),
            "credentials": (0, "none\n", ""),
            "disk": (0, "/dev/disk3s5 488245288 200000000 52428800 80% /System/Volumes/Data\n", ""),
            "ollama": (0, "200", ""),
            **answers,
        }
        self.commands: list[list[str]] = []

    def __call__(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        self.commands.append(argv)
        remote = remote_command(argv)
        if remote == "docker version --format '{{.Server.Version}}'":
            return done(argv, self.answers["version"])
        if remote == "docker info --format '{{.ID}}'":
            return done(argv, self.answers["engine"])
        if "docker-credential-" in remote:
            return done(argv, self.answers["credentials"])
        if "df -Pk" in remote:
            return done(argv, self.answers["disk"])
        if '"$d/docker"' in remote:
            return done(argv, self.answers["locate"])
        if "host.docker.internal" in remote:
            return done(argv, self.answers["ollama"])
        raise AssertionError(f"the doctor ran something unexpected: {argv}")


def staging() -> Settings:
    return load_stack_file(STAGING)


def lines(host: Host, config: Settings | None = None) -> list[str]:
    return [f.line() for f in doctor_cli.doctor_findings(config or staging(), host)]


def test_a_healthy_mac_is_ok_on_every_line() -> None:
    host = Host()
    assert lines(host) == [
        "ok    mac-mini  ssh: mac-mini.tailnet.example:22 answers with the pinned host key",
        "ok    mac-mini  docker: on the PATH of a non-interactive SSH session",
        "ok    mac-mini  daemon: Docker 27.3.1 answers",
        ENGINE_HINT,
        "ok    mac-mini  credential store: no credsStore: logins live in config.json",
        "ok    mac-mini  disk: 50.0 GiB free (at least 10)",
        "ok    mac-mini  ollama :11434: host.docker.internal:11434 answers from a container",
    ]
    # Every command goes over ssh with the pinned key only, and changes nothing on the host.
    config = staging()
    pinned = ssh_options(config.docker_hosts["mac-mini"])
    for argv in host.commands:
        assert argv[0] == "ssh" and argv[1 : 1 + len(pinned)] == pinned
    last = host.commands[-1]
    ollama = shlex.split(" ".join(last[last.index("--") + 2 :]))  # as the remote shell splits it
    assert ollama[:6] == ["docker", "run", "--rm", "--pull", "never", "--add-host"]
    assert config.proxy is not None and config.proxy.image_ref in ollama


def test_docker_off_the_ssh_path_fails_with_the_sshd_fix_and_stops_the_preflight() -> None:
    host = Host(version=(127, "", "zsh:1: command not found: docker\n"), locate=(0, "/usr/local/bin\n", ""))
    expected = (
        "service-infra:docker_hosts.mac-mini.url: `docker` is not on the PATH of a non-interactive SSH session "
        "on mac-mini.tailnet.example:22 (it is in /usr/local/bin), so the Docker provider's "
        f"`docker system dial-stdio` fails; fix on the Mac: {PATH_FIX}"
    )
    assert lines(host) == [
        "ok    mac-mini  ssh: mac-mini.tailnet.example:22 answers with the pinned host key",
        f"fail  mac-mini  docker: {expected}",
        # What else can be seen without docker is still reported, before anything is touched.
        "ok    mac-mini  credential store: no credsStore: logins live in config.json",
        "ok    mac-mini  disk: 50.0 GiB free (at least 10)",
    ]
    with pytest.raises(preflight.HostCheckError) as raised:
        preflight.check_docker_hosts(staging(), Host(**host.answers))
    assert raised.value.problems == [expected]


def test_docker_nowhere_known_names_the_places_looked() -> None:
    host = Host(version=(127, "", "sh: docker: command not found\n"))
    (_, docker, *_) = doctor_cli.doctor_findings(staging(), host)
    assert "nor in /usr/local/bin, /opt/homebrew/bin, $HOME/.docker/bin" in docker.message
    assert "SetEnv PATH=<the folder holding docker" in docker.message


def test_a_stopped_daemon_fails_with_how_to_start_it() -> None:
    stderr = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"
    (daemon,) = [f for f in doctor_cli.doctor_findings(staging(), Host(version=(1, "", stderr))) if f.check == "daemon"]
    assert daemon.status is Status.FAIL and daemon.check == "daemon"
    assert daemon.message.startswith("service-infra:docker_hosts.mac-mini.url: the Docker daemon on ")
    assert "`open -a Docker`, `colima start` or `orb start`" in daemon.message


def test_a_wrong_host_key_is_one_failure_with_the_preflights_message() -> None:
    stderr = "@@@@\nHost key verification failed.\n"
    host = Host(version=(255, "", stderr))
    (finding,) = doctor_cli.doctor_findings(staging(), host)
    assert finding.status is Status.FAIL
    assert finding.message == host_checks.explain("mac-mini", staging().docker_hosts["mac-mini"], 255, stderr)
    assert len(host.commands) == 1  # nothing else is tried on a host that is not the pinned one


def test_a_locked_keychain_warns_and_says_the_program_is_unaffected() -> None:
    host = Host(credentials=(1, f"osxkeychain\n{KEYCHAIN_LOCKED}\n", ""))
    (store,) = [f for f in doctor_cli.doctor_findings(staging(), host) if f.check == "credential store"]
    assert store.status is Status.WARN
    assert KEYCHAIN_LOCKED in store.message
    assert "it pulls with service-infra:registry's credentials" in store.message
    assert store.message.endswith("fix on the Mac: plutil -remove credsStore ~/.docker/config.json")
    preflight.check_docker_hosts(staging(), host)  # a warning does not stop a deploy


def test_a_keychain_without_an_entry_is_fine() -> None:
    host = Host(credentials=(1, "desktop\ncredentials not found in native keychain\n", ""))
    (store,) = [f for f in doctor_cli.doctor_findings(staging(), host) if f.check == "credential store"]
    assert store.status is Status.OK


def test_low_disk_and_an_unreachable_ollama() -> None:
    host = Host(
        disk=(0, "/dev/disk3s5 488245288 480000000 4194304 99% /System/Volumes/Data\n", ""),
        ollama=(7, "000", "curl: (7) Failed to connect to host.docker.internal port 11434\n"),
    )
    by_check = {f.check: f for f in doctor_cli.doctor_findings(staging(), host)}
    assert by_check["disk"].status is Status.WARN and "4.0 GiB free, under 10 GiB" in by_check["disk"].message
    assert by_check["ollama :11434"].status is Status.FAIL
    assert "brew services start ollama" in by_check["ollama :11434"].message


def test_ollama_is_not_checked_from_a_container_before_the_proxy_image_is_there() -> None:
    host = Host(ollama=(125, "", "Error response from daemon: No such image: ghcr.io/acme/proxy:1\n"))
    (ollama,) = [f for f in doctor_cli.doctor_findings(staging(), host) if f.check.startswith("ollama")]
    assert ollama.status is Status.WARN and "not checked from a container" in ollama.message


def test_the_doctor_prints_one_line_per_check_and_exits_1_on_a_failure(capsys: pytest.CaptureFixture[str]) -> None:
    assert doctor(STAGING, run=Host()) == 0
    assert len(capsys.readouterr().out.splitlines()) == 7
    assert doctor(STAGING, run=Host(version=(127, "", "command not found"))) == 1
    assert doctor(STAGING, run=Host(disk=(0, "d 1 1 1024 99% /\n", ""))) == 0  # warnings only


def remote_command(argv: list[str]) -> str:
    """What ssh sends as the remote command: the arguments after the destination, joined by spaces."""
    return " ".join(argv[argv.index("--") + 2 :])


def sh(script_argv: list[str], home: Path, path: str) -> subprocess.CompletedProcess[str]:
    """Run a remote command as sshd would, but here: the string ssh sends, through a local shell."""
    env = {"HOME": str(home), "PATH": path}
    return subprocess.run(
        ["/bin/sh", "-c", remote_command(script_argv)], capture_output=True, text=True, env=env, check=False
    )


def helper(directory: Path, name: str, body: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(f"#!/bin/sh\n{body}\n")
    (directory / name).chmod(0o755)


@pytest.fixture
def mac_host() -> DockerHostSettings:
    return staging().docker_hosts["mac-mini"]


@pytest.mark.parametrize(
    ("helper_body", "expected"),
    [
        (f"echo '{KEYCHAIN_LOCKED}'; exit 1", Status.WARN),
        ("echo 'credentials not found in native keychain'; exit 1", Status.OK),
        ('read s; echo "{\\"Username\\":\\"u\\",\\"Secret\\":\\"s3cr3t-$s\\"}"', Status.OK),
    ],
)
def test_the_credential_script_asks_the_helper_and_never_prints_the_secret(
    tmp_path: Path, mac_host: DockerHostSettings, helper_body: str, expected: Status
) -> None:
    bin_dir = tmp_path / "bin"
    helper(bin_dir, "docker-credential-osxkeychain", helper_body)
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text('{\n  "auths": {},\n  "credsStore": "osxkeychain"\n}\n')
    ran = sh(host_commands.credential_store_command(mac_host, "ghcr.io"), tmp_path, f"{bin_dir}:{os.defpath}")
    assert "s3cr3t" not in ran.stdout + ran.stderr
    assert ran.stdout.splitlines()[0] == "osxkeychain"
    finding = doctor_cli.credential_store_finding("mac-mini", staging(), ran)
    assert finding.status is expected, finding.line()


def test_the_credential_script_finds_a_helper_next_to_docker_off_the_path(
    tmp_path: Path, mac_host: DockerHostSettings
) -> None:
    helper(tmp_path / ".docker" / "bin", "docker-credential-desktop", f"echo '{KEYCHAIN_LOCKED}'; exit 1")
    (tmp_path / ".docker" / "config.json").write_text('{"credsStore":"desktop","currentContext":"desktop-linux"}')
    ran = sh(host_commands.credential_store_command(mac_host, "ghcr.io"), tmp_path, "/usr/bin:/bin")
    assert ran.stdout.splitlines() == ["desktop", KEYCHAIN_LOCKED]


def test_the_credential_script_without_a_store(tmp_path: Path, mac_host: DockerHostSettings) -> None:
    ran = sh(host_commands.credential_store_command(mac_host, "ghcr.io"), tmp_path, os.defpath)
    assert (ran.returncode, ran.stdout) == (0, "none\n")


def test_the_locate_script_finds_a_per_user_docker(tmp_path: Path, mac_host: DockerHostSettings) -> None:
    helper(tmp_path / ".docker" / "bin", "docker", "exit 0")
    ran = sh(host_commands.locate_docker_command(mac_host), tmp_path, os.defpath)
    assert str(tmp_path / ".docker" / "bin") in ran.stdout.split()


def test_the_disk_script_reads_the_home_volume(tmp_path: Path, mac_host: DockerHostSettings) -> None:
    ran = sh(host_commands.free_disk_command(mac_host), tmp_path, os.defpath)
    finding = doctor_cli.free_disk_finding("mac-mini", ran, 0)
    assert finding.status is Status.OK, finding.line()


def test_only_env_values_naming_the_host_gateway_are_checked() -> None:
    config = staging()
    assert doctor_cli.ollama_ports(config, "mac-mini") == [11434]
    assert doctor_cli.ollama_ports(config, "elsewhere") == []


def pinned(engine_id: str = ENGINE_ID) -> Settings:
    config = staging()
    host = config.docker_hosts["mac-mini"].model_copy(update={"engine_id": engine_id})
    return config.model_copy(update={"docker_hosts": {"mac-mini": host}})


def test_the_pinned_engine_is_confirmed() -> None:
    host = Host()
    assert f"ok    mac-mini  engine: ID {ENGINE_ID}, as pinned" in lines(host, pinned())
    preflight.check_docker_hosts(pinned(), host)


def test_another_engine_than_the_pinned_one_stops_the_preflight_naming_the_key() -> None:
    """The SSH user's Docker context reaching prod's engine (or any other) is refused before any
    resource is touched; without a pin the preflight does not ask (one round trip less)."""
    other = Host(engine=(0, "0b9e4c1d-2f6a-4e7b-8c3d-5a1f9e2b6c70\n", ""))
    with pytest.raises(preflight.HostCheckError) as raised:
        preflight.check_docker_hosts(pinned(), other)
    (problem,) = raised.value.problems
    assert problem.startswith("service-infra:docker_hosts.mac-mini.engine_id: deploy-staging@mac-mini.tailnet.example")
    assert f"not the pinned {ENGINE_ID}" in problem and "nothing was changed" in problem
    unpinned = Host()
    preflight.check_docker_hosts(staging(), unpinned)
    assert not any("info" in argv for argv in unpinned.commands)


def test_a_pinned_engine_id_must_look_like_one() -> None:
    with pytest.raises(ValueError, match="engine's ID as `python -m service_infra doctor` prints it"):
        DockerHostSettings(url="ssh://deploy@mini:22", host_key="ssh-ed25519 AAAAC3Nza", engine_id="x; rm -rf /")
