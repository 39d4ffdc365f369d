"""A Docker host that behaves like a Mac Mini over SSH: the doctor names each trap (with its config
key) before anything is touched, the preflight stops `preview`, and after the runbook's fix a
staging stack deploys there, pulling from the registry with credentials past a locked keychain."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from tests.support import ROOT
from tests.support.harness import DockerEngine, ExampleImage, MacLikeSshHost, Registry, free_port, wait_http
from tests.support.pulumi_project import Project
from tests.support.stacks import API_KEY, app_containers, ssh_stack_config


class Ollama(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/version" else 404)
        self.end_headers()
        self.wfile.write(b'{"version":"0.5.7"}')

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def ollama_port(engine: DockerEngine) -> Iterator[int]:
    """The host's Ollama, where containers reach the host (host-gateway)."""
    server = http.server.ThreadingHTTPServer((engine.gateway_ip, free_port()), Ollama)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()


def doctor(stack_file: Path) -> subprocess.CompletedProcess[str]:
    argv = [str(ROOT / ".venv" / "bin" / "python"), "-m", "service_infra", "doctor", str(stack_file)]
    return subprocess.run(
        [*argv, "--min-free-gib", "1"], cwd=stack_file.parent, capture_output=True, text=True, timeout=300, check=False
    )


def line(report: subprocess.CompletedProcess[str], check: str) -> str:
    (found,) = [x for x in report.stdout.splitlines() if f"  mini  {check}:" in x]
    return found


def test_the_doctor_names_each_mac_trap_and_a_stack_deploys_after_the_fix(
    project: Project, engine: DockerEngine, registry: Registry, example_image: ExampleImage, ollama_port: int
) -> None:
    v1 = example_image.v1
    engine.run("rmi", v1.ref, check=False)  # only the registry has it: the host must pull, with credentials
    with MacLikeSshHost(engine) as mac:
        port = free_port()
        config = ssh_stack_config(mac, registry, example_image, v1.tag, port)
        config["services"]["llm-server"]["env"]["OLLAMA_BASE_URL"] = f"http://host.docker.internal:{ollama_port}"
        stack = project.stack("staging", config, secrets={"GHCR_TOKEN": registry.password, "API_KEY": API_KEY})
        stack_file = project.dir / "Pulumi.staging.yaml"

        report = doctor(stack_file)
        print(report.stdout)
        assert report.returncode == 1, report.stdout + report.stderr
        assert line(report, "ssh").startswith("ok ")
        docker = line(report, "docker")
        assert docker.startswith("fail  mini  docker: service-infra:docker_hosts.mini.url: `docker` is not on the PATH")
        assert "(it is in " in docker and str(mac.docker_dir) in docker  # and where else this machine has one
        assert ":/usr/bin:/bin:/usr/sbin:/sbin' | sudo tee /etc/ssh/sshd_config.d/" in docker
        store = line(report, "credential store")
        assert store.startswith("warn  mini  credential store: credsStore 'lockedkeychain'")
        assert MacLikeSshHost.KEYCHAIN_ERROR in store and "service-infra:registry's credentials" in store

        # The preflight stops the same trap, with the same message, before anything is touched.
        with pytest.raises(auto.CommandError) as failed:
            stack.preview()
        assert docker.split("docker: ", 1)[1] in str(failed.value)
        assert app_containers(engine, all=True) == []

        mac.apply_path_fix()  # the runbook's fix; the locked keychain stays
        report = doctor(stack_file)
        print(report.stdout)
        assert report.returncode == 0, report.stdout + report.stderr
        assert line(report, "docker").startswith("ok ") and line(report, "daemon").startswith("ok ")
        assert line(report, "credential store").startswith("warn ")

        stack.up()
        _, body = wait_http(f"http://127.0.0.1:{port}/health", timeout=60)
        assert json.loads(body)["version"] == v1.app_version
        report = doctor(stack_file)
        print(report.stdout)
        assert line(report, f"ollama :{ollama_port}") == (
            f"ok    mini  ollama :{ollama_port}: host.docker.internal:{ollama_port} answers from a container"
        )
        stack.destroy()
