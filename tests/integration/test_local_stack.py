"""The `local` stack through the real engine: up, hot reload, destroy."""

from __future__ import annotations

import json

from tests.support.harness import DockerEngine, ExampleImage, free_port, http_get, wait_for, wait_http
from tests.support.harness.load import Load
from tests.support.pulumi_project import Project


def test_local_stack_serves_hot_reloads_and_is_destroyed(
    project: Project, engine: DockerEngine, example_image: ExampleImage
) -> None:
    repository, tag = example_image.v1.local_ref.rsplit(":", 1)
    port = free_port()
    stack = project.stack(
        "local",
        {
            "environment": "local",
            "docker_hosts": {"local": {"url": engine.host}},
            "proxy": example_image.proxy_config(local=True),
            "services": {
                "llm-server": {
                    "image": repository,
                    "tag": tag,
                    "env": {"APP_ENV": "local"},
                    "docker": {
                        "host": "local",
                        "port": port,
                        "bind": "127.0.0.1",
                        "volumes": {"cache": "/data"},
                        "hot_reload": {"source": "examples/service"},
                    },
                }
            },
        },
    )
    run = stack.up()
    assert run.outputs["service_urls"] == {"llm-server": f"http://127.0.0.1:{port}"}
    assert run.outputs["containers"]["llm-server"].startswith(f"llm-server-local-{tag}-")
    _, body = wait_http(f"http://127.0.0.1:{port}/health", timeout=30)
    assert json.loads(body)["env"] == "local"

    # Edit the mounted source: the server reloads it, with no other `up`.
    main = project.dir / "examples" / "service" / "app" / "main.py"
    main.write_text(main.read_text().replace('"status": "ok"', '"status": "ok", "edited": "yes"'))
    wait_for(
        lambda: b'"edited":"yes"' in http_get(f"http://127.0.0.1:{port}/health")[1],
        timeout=30,
        what="the edited source to be served",
    )

    # A new tag on the local engine: the same zero-failure switch as on the Mac Mini.
    v2_repository, v2_tag = example_image.v2.local_ref.rsplit(":", 1)
    assert v2_repository == repository
    stack.set("services.llm-server.tag", v2_tag)
    with Load(f"http://127.0.0.1:{port}/health") as load:
        run = stack.up()
    assert load.result.failed == 0, load.result.summary()
    assert json.loads(http_get(f"http://127.0.0.1:{port}/health")[1])["version"] == example_image.v2.app_version
    assert run.outputs["image_tags"] == {"llm-server": v2_tag}

    stack.destroy()
    assert engine.run("ps", "-a", "-q", "--filter", "label=service-infra.service=llm-server").stdout.strip() == ""
    assert engine.run("volume", "ls", "-q", "--filter", "name=^llm-server-local-cache$").stdout.strip() == ""
    assert engine.run("network", "ls", "-q", "--filter", "name=^llm-server-local$").stdout.strip() == ""
