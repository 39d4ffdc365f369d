"""benchmarks/staging.py's reading of the engine's log (-v=9): the moments a run is split by and
the time spent inside the providers' and the policy pack's calls, from either log format the
CLIs write (no timings of this machine are checked: figures go to docs/testing.md)."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from types import ModuleType

import pytest

from tests.support import ROOT


def load_staging() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmark_staging", ROOT / "benchmarks" / "staging.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


staging = load_staging()
STARTED = datetime(2026, 12, 7, 11, 0, 0, tzinfo=UTC).timestamp()
URN = "urn:pulumi:staging::service-infra::docker:index/network:Network::net"
# (seconds after the CLI started, what the engine logged), in the order it logs them.
EVENTS = [
    (0.01, "newPlugin(): Launching plugin 'python' from '/bin/pulumi-language-python' with args: 127.0.0.1:1"),
    (0.20, "newPlugin(): Launching plugin 'python' from '/bin/pulumi-language-python' with args: 127.0.0.1:2"),
    (0.22, "langhost[python].GetRequiredPackages(root=/p, program=/p, entryPoint=.) executing"),
    (0.40, "langhost[python].GetRequiredPackages(root=/p, program=/p, entryPoint=.) success: #versions=3"),
    (0.41, "langhost[python].Run(pwd=/p,root=/p, program=/p, entryPoint=.,#args=0) executing"),
    (0.75, "eventSink::Info(<{%reset%}>preflight: checking the Docker hosts<{%reset%}>)"),
    (0.99, "eventSink::Info(<{%reset%}>preflight: passed (0.2s)<{%reset%}>)"),
    (1.09, "ResourceMonitor.RegisterResource received: t=pulumi:pulumi:Stack, name=s, custom=false"),
    (1.13, "newPlugin(): Launching plugin 'docker (resource)' from '/plugins/pulumi-resource-docker' with args: x"),
    (1.20, f"Provider[0x1].Check({URN}) executing (#olds=4,#news=2)"),
    (1.23, f"Provider[0x1].Check({URN}) success: inputs=#4 failures=#0"),
    (1.24, f"Provider[0x1].Diff({URN},net-id): executing (#oldInputs=4#oldOutputs=15,#newInputs=4)"),
    (1.30, f"Provider[0x1].Diff({URN},net-id): success: changes=1 #replaces=[] delbefrepl=false"),
    (1.31, "ResourceMonitor.RegisterResource received: t=docker:index/volume:Volume, name=v, custom=true"),
    (1.32, "newPlugin(): Launching plugin 'docker (resource)' from '/plugins/pulumi-resource-docker' with args: y"),
    (1.40, f"Provider[0x1].Diff({URN}2,v-id): executing (#oldInputs=3)"),
    (1.50, f"Provider[0x1].Diff({URN}2,v-id): success: changes=1"),
    (1.60, "Analyzer[/p/policy].Analyze(docker:index/volume:Volume) executing (#props=2)"),
    (1.65, "Analyzer[/p/policy].Analyze(docker:index/volume:Volume) success: failures=#0"),
    (1.72, "langhost[python].Run(pwd=/p,root=/p, program=/p, entryPoint=.,...,dryrun=false) success: progerr="),
]


def as_json(at: float, message: str) -> str:
    moment = datetime.fromtimestamp(STARTED + at, UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"time": moment, "level": "INFO", "msg": message, "v": 7})


def as_glog(at: float, message: str) -> str:
    moment = datetime.fromtimestamp(STARTED + at)  # glog writes the local time of day
    return f"I{moment:%m%d %H:%M:%S.%f} 4242 plugin.go:191] {message}"


def timeline_of(log: str) -> str:
    return staging.engine_timeline(log, STARTED, 1.97)


@pytest.mark.parametrize("write", [as_json, as_glog], ids=["json (official CLI)", "glog (older CLIs)"])
def test_the_timeline_marks_each_moment_once_and_sums_the_calls(write: Callable[[float, str], str]) -> None:
    log = "\n".join(["warning: not a log line", *(write(at, message) for at, message in EVENTS)])
    moments = [line.strip() for line in timeline_of(log).splitlines() if line.startswith("  ") and "s  " in line[:12]]
    assert moments == [
        "0.01s  the language host is launched",
        "0.20s  the language host is launched",
        "0.22s  the language host lists the program's packages",
        "0.40s  ... and answers",
        "0.41s  the program starts (Run)",
        "0.75s  the program has its settings; the preflight begins",
        "0.99s  the preflight has passed",
        "1.09s  the program registers its first resource",
        "1.13s  a provider plugin is launched: docker",
        "1.50s  the last Diff answers",
        "1.65s  the last resource is analyzed",
        "1.72s  the program has run (Run returns)",
        "1.97s  the CLI exits",
    ]
    sums = timeline_of(log).splitlines()[-1]
    assert sums == (
        "  inside the providers' Check and Diff: 3 calls, 0.19s; "
        "inside the policy pack's Remediate and Analyze: 1 calls, 0.05s"
    )
