"""Commands are data: flyctl, the health probe and ssh options, checked without running anything."""

from __future__ import annotations

import json
import tomllib

import pytest

from service_infra import host_checks
from service_infra.commands import fly as fly_commands
from service_infra.commands import host_checks as host_commands
from service_infra.commands.docker import known_hosts_line, ssh_options
from service_infra.commands.probe import probe_command
from service_infra.ops import fly as flyctl
from service_infra.ops import probe
from service_infra.settings import DockerHostSettings


def test_flyctl_commands() -> None:
    assert flyctl.apps_list() == ["fly", "apps", "list", "--json"]
    assert flyctl.apps_create("web", "acme") == ["fly", "apps", "create", "web", "--org", "acme", "--json"]
    assert flyctl.apps_destroy("web") == ["fly", "apps", "destroy", "web", "--yes"]
    assert flyctl.volumes_create("web", "cache_data", "iad", 1, "shared-cpu-2x", 1024) == [
        "fly", "volumes", "create", "cache_data", "--app", "web", "--region", "iad", "--size", "1",
        "--vm-size", "shared-cpu-2x", "--vm-memory", "1024", "--yes", "--json",
    ]  # fmt: skip
    assert flyctl.volumes_destroy("web", "vol_123") == ["fly", "volumes", "destroy", "vol_123", "--app", "web", "--yes"]
    assert flyctl.volumes_show("web", "vol_123") == ["fly", "volumes", "show", "vol_123", "--app", "web", "--json"]
    assert flyctl.secrets_import("web") == ["fly", "secrets", "import", "--app", "web", "--stage"]
    assert flyctl.deploy("web", "/tmp/fly.toml", "ghcr.io/a/b:sha-1234567") == [
        "fly", "deploy", "--app", "web", "--config", "/tmp/fly.toml", "--image", "ghcr.io/a/b:sha-1234567",
        "--strategy", "rolling", "--wait-timeout", "5m", "--yes",
    ]  # fmt: skip


def test_secret_values_travel_as_quoted_stdin_lines() -> None:
    stdin = fly_commands.secrets_stdin({"B": "x=y#z", "A": "line1\nline2", "C": 'say "hi"'})
    assert stdin == 'A="""line1\nline2"""\nB="x=y#z"\nC=say "hi"\n'


def test_a_value_flyctl_would_corrupt_is_refused() -> None:
    with pytest.raises(ValueError, match=r"secrets\.D: has CRLF line ends"):
        fly_commands.secrets_stdin({"D": 'a"#b\r\nc'})


def test_fly_toml_is_valid_toml_with_mounts_and_check() -> None:
    text = fly_commands.fly_toml(
        app="web", region="iad", vm_size="shared-cpu-1x", memory_mb=512, internal_port=8080,
        health_path="/api/health", env={"CORS_ORIGINS": 'https://a.example,"quoted"'},
        mount=fly_commands.FlyMount("cache_data", "/data"),
    )  # fmt: skip
    parsed = tomllib.loads(text)
    assert parsed["primary_region"] == "iad"
    assert parsed["env"] == {"CORS_ORIGINS": 'https://a.example,"quoted"'}
    assert parsed["mounts"] == [{"source": "cache_data", "destination": "/data"}]
    assert parsed["http_service"]["internal_port"] == 8080
    assert parsed["http_service"]["checks"][0]["path"] == "/api/health"
    assert parsed["vm"] == [{"size": "shared-cpu-1x", "memory": "512mb"}]


ODD_VALUES = [
    "🦆 outside the BMP", 'say "hi"', "it's", "C:\\path\\to\\file", "\\u0041 stays six characters",
    "line one\nline two\r\n", "\ttab", '"""', "'''", "#not a comment", "[deploy]", "a = b", "",
    "\x7f and \x1f controls", "ü é 中文", " leading and trailing ", "\\", '"',
]  # fmt: skip


def toml_with_env(env: dict[str, str]) -> str:
    return fly_commands.fly_toml(
        app="web", region="iad", vm_size="shared-cpu-1x", memory_mb=512, internal_port=8080,
        health_path="/api/health", env=env, mount=None,
    )  # fmt: skip


@pytest.mark.parametrize("value", ODD_VALUES)
def test_any_env_value_round_trips_through_fly_toml(value: str) -> None:
    env = {"VALUE": value, "OTHER": value[::-1]}
    assert tomllib.loads(toml_with_env(env))["env"] == env


@pytest.mark.parametrize(
    "name",
    ["a.b", 'X = "1"\n[deploy]\nrelease_command = "sh"\n#', "[deploy]", 'A"]\n[deploy', "x y", "ALLOWED_ORIGINS"],
)
def test_an_env_name_cannot_open_a_table_in_fly_toml(name: str) -> None:
    """The settings refuse such names; fly.toml would hold each as one flat key even if they did not."""
    parsed = tomllib.loads(toml_with_env({name: "https://a.example"}))
    assert parsed["env"] == {name: "https://a.example"}
    assert set(parsed) == {"app", "primary_region", "env", "http_service", "vm"}


def test_a_private_image_is_pulled_here_and_deployed_local_only() -> None:
    assert fly_commands.release_operation("web", "ghcr.io/acme/x:sha-1234567", ("ghcr.io", "bot")) == [
        "python3", "-m", "service_infra.ops.fly", "release", "--app", "web", "--image", "ghcr.io/acme/x:sha-1234567",
        "--pull-from", "ghcr.io", "--pull-user", "bot",
    ]  # fmt: skip
    assert flyctl.deploy("web", "/t/fly.toml", "127.0.0.1:5000/acme/x:sha-1234567", local_image=True) == [
        "fly", "deploy", "--app", "web", "--config", "/t/fly.toml", "--image", "127.0.0.1:5000/acme/x:sha-1234567",
        "--local-only", "--image-label", "sha-1234567", "--strategy", "rolling", "--wait-timeout", "5m", "--yes",
    ]  # fmt: skip
    assert flyctl.docker_login("/t/docker", "ghcr.io", "bot") == [
        "docker", "--config", "/t/docker", "login", "ghcr.io", "--username", "bot", "--password-stdin",
    ]  # fmt: skip


class FakeFly:
    """Answers flyctl argv lists from canned JSON, recording each call."""

    def __init__(self, apps: list[dict], volumes: list[dict] | None = None, create_error: str = "") -> None:
        self.apps, self.volumes, self.create_error = apps, volumes or [], create_error
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str], stdin: str | None = None) -> str:
        self.calls.append(argv)
        if argv[1:3] == ["apps", "list"]:
            return json.dumps(self.apps)
        if argv[1:3] == ["apps", "create"]:
            if self.create_error:
                raise flyctl.FlyError("`fly apps create web` failed", self.create_error)
            return json.dumps({"name": argv[3]})
        if argv[1:3] == ["volumes", "list"]:
            return json.dumps(self.volumes)
        if argv[1:3] == ["volumes", "create"]:
            return json.dumps({"id": "vol_new", "name": argv[3]})
        raise AssertionError(argv)


def test_an_app_that_is_ours_is_adopted(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeFly(apps=[{"Name": "web", "Organization": {"Slug": "acme"}}])
    monkeypatch.setattr(flyctl, "_run", fake)
    assert flyctl.ensure_app("web", "acme") == {"app": "web", "hostname": "web.fly.dev", "adopted": True}
    assert [c[1:3] for c in fake.calls] == [["apps", "list"]]


def test_a_new_app_is_created(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeFly(apps=[])
    monkeypatch.setattr(flyctl, "_run", fake)
    assert flyctl.ensure_app("web", "acme")["adopted"] is False
    assert fake.calls[-1] == flyctl.apps_create("web", "acme")


TAKEN_WITH_CODE = (  # flaps 422 {"status": "name_taken"}, as flyctl v0.4.87 prints it
    "Error: Validation failed: Name has already been taken (Request ID: 01JABCDEFGHJKMNPQRSTVWXYZ01-iad)\n"
    f"{flyctl.NAME_TAKEN_SUGGESTION}\n\n"
)


@pytest.mark.parametrize(
    "stderr",
    [
        TAKEN_WITH_CODE,
        # no status code (an API from before it): fly-go falls back on the message itself
        "Error: Validation failed: Name has already been taken\n",
        "Error: Validation failed: Name has already been taken (Request ID: 01J-iad) (Trace ID: 4bf92f35)\n",
        # the code says name_taken, whatever the message
        f"Error: uniqueness constraint violated (Request ID: 01J-iad)\n{flyctl.NAME_TAKEN_SUGGESTION}\n\n",
    ],
)
def test_an_app_name_taken_by_someone_else_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, stderr: str) -> None:
    monkeypatch.setattr(flyctl, "_run", FakeFly(apps=[], create_error=stderr))
    with pytest.raises(flyctl.FlyError, match=r"Fly app name web belongs to someone else .*choose another `fly\.app`"):
        flyctl.ensure_app("web", "acme")


@pytest.mark.parametrize(
    "stderr",
    [
        # fly-go's own counter-examples (flaps_error_test.go): a message that only quotes it, another validation
        "Error: retry gave up after: Validation failed: Name has already been taken (Request ID: 01J-iad)\n"
        "Try choosing a different region for machine creation\n\n",
        "Error: uniqueness constraint violated\n",
        "Error: Validation failed: Name under 63 chars using numbers, lowercase letters and dashes\n",
        "Error: the app name is taken care of\n",  # the word alone means nothing
    ],
)
def test_other_create_failures_are_not_read_as_name_taken(monkeypatch: pytest.MonkeyPatch, stderr: str) -> None:
    monkeypatch.setattr(flyctl, "_run", FakeFly(apps=[], create_error=stderr))
    with pytest.raises(flyctl.FlyError) as raised:
        flyctl.ensure_app("web", "acme")
    assert "belongs to someone else" not in str(raised.value)


def test_an_existing_volume_is_adopted_never_duplicated(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeFly(apps=[], volumes=[{"id": "vol_old", "name": "cache_data", "region": "iad", "state": "created"}])
    monkeypatch.setattr(flyctl, "_run", fake)
    assert flyctl.ensure_volume("web", "cache_data", "iad", 1, "shared-cpu-1x", 512) == {
        "id": "vol_old",
        "name": "cache_data",
        "adopted": True,
    }
    assert flyctl.ensure_volume("web", "other", "iad", 1, "shared-cpu-1x", 512)["id"] == "vol_new"


def test_probe_command_and_backoff() -> None:
    assert probe_command("api", "http://h:8000/health") == [
        "python3", "-m", "service_infra.ops.probe", "--service", "api", "--url", "http://h:8000/health",
        "--tries", "5", "--base-delay", "1.0",
    ]  # fmt: skip
    assert probe.backoff_delays(5, 1.0) == [1.0, 2.0, 4.0, 8.0]


def test_probe_fails_naming_service_url_and_last_error() -> None:
    slept: list[float] = []
    failure = probe.wait_healthy("api", "http://h/health", 5, 0.5, get=lambda url: "HTTP 503", sleep=slept.append)
    assert (
        failure
        == "health gate failed: service api did not answer 200 at http://h/health after 5 tries; last error: HTTP 503"
    )
    assert slept == [0.5, 1.0, 2.0, 4.0]


def test_probe_passes_once_the_service_answers() -> None:
    answers = iter(["ConnectionRefusedError: refused", None])
    assert (
        probe.wait_healthy("api", "http://h/health", 5, 0, get=lambda url: next(answers), sleep=lambda s: None) is None
    )


def test_ssh_options_pin_the_host_key() -> None:
    host = DockerHostSettings(url="ssh://deploy@mini:2222", host_key="ssh-ed25519 AAAAC3Nza", identity_file="/k")
    assert known_hosts_line(host) == "[mini]:2222 ssh-ed25519 AAAAC3Nza"
    options = ssh_options(host)
    assert options[options.index("-i") + 1] == "/k"
    assert "StrictHostKeyChecking=yes" in options
    assert "KnownHostsCommand=/bin/echo [mini]:2222 ssh-ed25519 AAAAC3Nza" in options


def test_host_check_runs_what_the_provider_runs_over_ssh() -> None:
    host = DockerHostSettings(url="ssh://deploy@mini:2222", host_key="ssh-ed25519 AAAAC3Nza")
    argv = host_commands.ssh_check_command(host)
    assert argv[0] == "ssh"
    assert argv[1 : 1 + len(ssh_options(host))] == ssh_options(host)
    assert argv[-11:] == [
        "-p", "2222", "-l", "deploy", "-T", "--", "mini", "docker", "version", "--format", "'{{.Server.Version}}'",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ("@@@@\nHost key verification failed.\n",
         "service-infra:docker_hosts.mini.host_key: mini:2222 presented a host key other than the pinned one; "
         "if the host was reinstalled, pin its new key from `ssh-keyscan -t ed25519 -p 2222 mini`"),
        ("ssh: connect to host mini port 2222: Connection refused\n",
         "service-infra:docker_hosts.mini.url: cannot reach mini:2222 over SSH "
         "(ssh: connect to host mini port 2222: Connection refused); check the host is up and the url is right"),
        ("deploy@mini: Permission denied (publickey).\n",
         "service-infra:docker_hosts.mini.identity_file: mini:2222 refused the SSH key "
         "(deploy@mini: Permission denied (publickey).); load the deploy key into ssh-agent or set identity_file"),
        ("bash: docker: command not found\n",
         "service-infra:docker_hosts.mini.url: the Docker engine on mini:2222 did not answer over SSH: "
         "bash: docker: command not found"),
    ],
)  # fmt: skip
def test_host_check_failures_name_the_key_to_change(stderr: str, expected: str) -> None:
    host = DockerHostSettings(url="ssh://deploy@mini:2222", host_key="ssh-ed25519 AAAAC3Nza")
    assert host_checks.explain("mini", host, 255, stderr) == expected
    assert host_checks.explain("mini", host, 0, "") is None
