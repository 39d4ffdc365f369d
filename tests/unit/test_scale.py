"""benchmarks/scale.py: its arguments, the stacks it generates, and what it counts under mocks
(no timings are checked: figures go to benchmarks/)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from types import ModuleType

import pytest

from service_infra.settings import SettingsError, load_settings
from tests.support import ROOT
from tests.support.mocks import run_stack


def load_scale() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmark_scale", ROOT / "benchmarks" / "scale.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


scale = load_scale()


def test_arguments_default_to_the_issue_sizes() -> None:
    args = scale.parse_args([])
    assert (args.docker, args.fly, args.repeat, args.mocks_only) == ([1, 10, 30], [1, 5], 3, False)
    args = scale.parse_args(["--docker", "1,2", "--fly", "3", "--repeat", "1", "--mocks-only"])
    assert (args.docker, args.fly, args.repeat, args.mocks_only) == ([1, 2], [3], 1, True)


@pytest.mark.parametrize("text", ["", "0,10", "10,1", "1,1", "one"])
def test_sizes_must_be_ascending_counts(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="such as 1,10,30"):
        scale.sizes(text)


def test_a_repeat_under_one_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        scale.parse_args(["--repeat", "0"])
    assert "--repeat must be at least 1" in capsys.readouterr().err


def prefixed(config: dict) -> dict:
    return {f"service-infra:{key}": value for key, value in config.items()}


def test_copies_are_valid_stacks_with_a_port_or_app_each() -> None:
    base = scale.committed_staging()
    docker = scale.with_copies(base, scale.DOCKER_TEMPLATE, 3)
    assert list(docker["services"]) == ["llm-server-1", "llm-server-2", "llm-server-3"]
    assert [s["docker"]["port"] for s in docker["services"].values()] == [8002, 8003, 8004]
    fly = scale.with_copies(base, scale.FLY_TEMPLATE, 2)
    assert [s["fly"]["app"] for s in fly["services"].values()] == [
        "acme-image-descriptor-staging-1",
        "acme-image-descriptor-staging-2",
    ]
    for config in (docker, fly):
        load_settings(prefixed(config), secret_keys={"service-infra:secrets"}, stack="staging")
    ported = scale.with_copies(base, scale.DOCKER_TEMPLATE, 2, ports=[9100, 9200])
    assert [s["docker"]["port"] for s in ported["services"].values()] == [9100, 9200]
    assert base["services"]["llm-server"]["docker"]["port"] == 8001  # the base is left alone


def test_copies_on_one_port_would_be_refused() -> None:
    """The generated stacks pass the settings only because each copy has its own port."""
    base = scale.committed_staging()
    clashing = scale.with_copies(base, scale.DOCKER_TEMPLATE, 2, ports=[9100, 9100])
    with pytest.raises(SettingsError, match="port"):
        load_settings(prefixed(clashing), secret_keys={"service-infra:secrets"}, stack="staging")


def test_preflight_and_providers_grow_with_hosts_not_services() -> None:
    """One ssh round trip and one Docker provider per host, whatever the number of services."""
    base = scale.committed_staging()
    for count in (1, 4):
        recorder = run_stack(prefixed(scale.with_copies(base, scale.DOCKER_TEMPLATE, count)), "staging")
        assert len(recorder.host_checks) == 1
        assert len(recorder.of_type(scale.DOCKER_PROVIDER)) == 1
    two_hosts = scale.with_copies(base, scale.DOCKER_TEMPLATE, 4)
    two_hosts["docker_hosts"]["mac-mini-2"] = {**base["docker_hosts"]["mac-mini"], "url": "ssh://deploy@192.0.2.2:22"}
    two_hosts["services"]["llm-server-4"]["docker"]["host"] = "mac-mini-2"
    recorder = run_stack(prefixed(two_hosts), "staging")
    checked = sorted(argv[argv.index("--") + 1] for argv in recorder.host_checks)
    assert checked == ["192.0.2.2", "mac-mini.tailnet.example"]
    assert len(recorder.of_type(scale.DOCKER_PROVIDER)) == 2


def test_a_dry_run_under_mocks_reports_each_size_and_the_curve(capsys: pytest.CaptureFixture[str]) -> None:
    scale.main(["--mocks-only", "--docker", "1,2", "--fly", "1", "--repeat", "1"])
    out = capsys.readouterr().out
    assert "evaluation under mocks, docker                   1:" in out, out
    assert "evaluation under mocks, docker                   2:" in out, out
    assert "evaluation under mocks, fly                      1:" in out, out
    assert "1 preflight ssh round trips, 1 docker providers, " in out, out
    assert "1->2:" in out and "ms cpu per service" in out, out
