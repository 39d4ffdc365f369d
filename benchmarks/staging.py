"""Benchmark: the committed staging stack as it is (issue 27), each figure next to its floor.

Pulumi.staging.yaml, its host-specific parts aimed at the integration harness: GitHub's
environment through the github provider against the API stand-in, the Fly app through the `fly`
stand-in, llm-server over real SSH on a real dockerd, its images from a real registry. Measured,
in one run, `--rounds` times each:
  1. a no-op `up` (`pulumi up --yes --skip-preview`, what a deploy of an unchanged stack costs),
     with where its time went;
  2. a `preview` (`pulumi preview --diff`, and with `--policy-pack policy`: what every pull
     request waits for);
  3. a tag rollout of llm-server (v1 and v2 in turn) with where its time went, next to the same
     rollout by hand (docker CLI over SSH: pull, run, wait healthy, switch the alias, drain);
and the floors: the same commands on an empty Python program, once on this project's toolchain
(`toolchain: uv`, its pyproject.toml and uv.lock, every pinned package) and once as `pulumi new
python` makes one (a virtualenv holding the `pulumi` pin alone, toolchain pip). The project and
the first floor are checkouts with a .venv of their own, as on a workstation (`as_a_checkout`):
Pulumi syncs it with uv before it runs Python, and that is counted.

Run: .venv/bin/python benchmarks/staging.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.rollout import (  # noqa: E402
    ByHand,
    EmptyProgram,
    TimedUp,
    as_a_checkout,
    proxied_by_hand,
    timed,
    timed_runs,
)
from tests.support.pins import pin as pinned  # noqa: E402
from tests.support.stacks import committed_stack_on_harness, github_stand_in, secret_values  # noqa: E402
from tests.support.world import world  # noqa: E402

PREVIEW = ("preview", "--diff")
POLICY_PACK = str(ROOT / "policy")
UP = ("up", "--yes", "--skip-preview")


def pulumi_new_venv(workdir: Path) -> Path:
    """A virtualenv as `pulumi new python` leaves it: the `pulumi` SDK at the project's pin, alone."""
    pin = f"pulumi=={pinned('pulumi')}"
    venv = workdir / "new-python-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", pin], check=True)
    return venv


# The engine's log, as the CLI writes it with these flags.
ENGINE_LOG = ("-v=9", "--logtostderr")
# What the engine logs at the moments a run's time is split by: (label, pattern, shown). A moment
# is shown at its "first" line (once per value of the pattern's group: each provider), at "each"
# (the language host's launches) or at its "last" (the steps' last Diff and Analyze).
ENGINE_EVENTS = (
    ("the language host is launched", re.compile(r"Launching plugin 'python'"), "each"),
    ("the language host lists the program's packages", re.compile(r"GetRequired\w+\(.*executing"), "first"),
    ("... and answers", re.compile(r"GetRequired\w+\(.*success"), "first"),
    ("the policy pack is launched", re.compile(r"RunPlugin\(.*executing"), "first"),
    ("the policy pack is ready (GetAnalyzerInfo)", re.compile(r"GetAnalyzerInfo\(\) executing"), "first"),
    ("the program starts (Run)", re.compile(r"langhost\[python\]\.Run\(.*executing"), "first"),
    ("the program has its settings; the preflight begins", re.compile(r"Info\(.*preflight: checking"), "first"),
    ("the preflight has passed", re.compile(r"Info\(.*preflight: passed"), "first"),
    ("the program registers its first resource", re.compile(r"RegisterResource received"), "first"),
    ("a provider plugin is launched", re.compile(r"Launching plugin '([\w-]+) \(resource\)'"), "first"),
    ("the last Diff answers", re.compile(r"\]\.Diff\(.*success"), "last"),
    ("the last resource is analyzed", re.compile(r"Analyzer\[.*\]\.Analyze\(.*success"), "last"),
    ("the program has run (Run returns)", re.compile(r"langhost\[python\]\.Run\(.*success"), "first"),
)
# The calls the engine makes one resource at a time, each logged as it starts and as it answers.
CALL = re.compile(
    r"^(?P<who>Provider|Analyzer)\[[^\]]+\]\.(?P<call>Check|Diff|Remediate|Analyze)\((?P<urn>[^,)]*)[^ ]*:? (?P<state>executing|success|failed)"
)
GLOG_LINE = re.compile(r"^[IWE]\d{4} (\d\d):(\d\d):(\d\d\.\d+) +\d+ [^]]*\] (.*)")


def engine_log_lines(stderr: str, started: float) -> list[tuple[float, str]]:
    """(seconds since STARTED, message) of each line of the engine's log: JSON lines (the
    official CLI since v3.2xx) or glog's text (older CLIs, the source-built fallback)."""
    lines = []
    day = datetime.fromtimestamp(started)  # glog writes the local time of day
    for line in stderr.splitlines():
        if line.startswith("{"):
            try:
                entry = json.loads(line)
                at = datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()
            except (ValueError, KeyError):
                continue
            lines.append((at - started, str(entry.get("msg", ""))))
        elif glog := GLOG_LINE.match(line):
            minute = day.replace(hour=int(glog[1]), minute=int(glog[2]), second=0, microsecond=0)
            lines.append((minute.timestamp() + float(glog[3]) - started, glog[4]))
    return lines


def engine_timeline(stderr: str, started: float, seconds: float) -> str:
    """From the engine's log (STDERR of a run started at STARTED that took SECONDS): when each
    ENGINE_EVENTS moment came, with the log line that shows it, and the time spent inside the
    providers' and the policy pack's calls."""
    found: dict[tuple[str, str, int], tuple[float, str]] = {}
    began: dict[tuple[str, str, str], float] = {}
    spent: dict[str, list[float]] = {"Provider": [], "Analyzer": []}
    for n, (at, message) in enumerate(engine_log_lines(stderr, started)):
        if call := CALL.match(message):
            key = (call["who"], call["call"], call["urn"])
            if call["state"] == "executing":
                began[key] = at
            elif key in began:
                spent[call["who"]].append(at - began.pop(key))
        for label, pattern, shown in ENGINE_EVENTS:
            if match := pattern.search(message):
                moment = (label, match.group(1) if pattern.groups else "", n if shown == "each" else 0)
                if moment not in found or shown == "last":
                    found[moment] = (at, message)
    lines = [
        f"  {at:6.2f}s  {label}{': ' + detail if detail else ''}\n           {message[:120]}"
        for at, label, detail, message in sorted((at, *moment[:2], message) for moment, (at, message) in found.items())
    ]
    lines.append(f"  {seconds:6.2f}s  the CLI exits")
    calls = [("the providers' Check and Diff", spent["Provider"])]
    if spent["Analyzer"]:
        calls.append(("the policy pack's Remediate and Analyze", spent["Analyzer"]))
    lines.append("  " + "; ".join(f"inside {who}: {len(times)} calls, {sum(times):.2f}s" for who, times in calls))
    return "\n".join(lines)


def with_engine_log(run: Callable[[], subprocess.CompletedProcess[str]]) -> str:
    """The timeline of one RUN of a command given ENGINE_LOG's flags."""
    started = time.time()
    done = run()
    return engine_timeline(done.stderr, started, time.time() - started)


def median(values: list[float]) -> float:
    return statistics.median(values)


def row(label: str, values: list[float], floors: dict[str, list[float]]) -> str:
    ratios = "; ".join(f"{median(values) / median(f):.2f}x {name} ({median(f):.2f}s)" for name, f in floors.items())
    runs = ", ".join(f"{v:.2f}" for v in values)
    return f"{label:<34} median {median(values):6.2f}s (runs {runs})  {ratios}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rounds = args.rounds
    with (
        world("si-bench-staging-") as w,
        github_stand_in() as api,
    ):
        # The environment as prod's stack makes it; staging's token fills in its secrets and variables.
        api.add_environment(
            "staging",
            prevent_self_review=False,
            can_admins_bypass=False,
            deployment_branch_policy={"protected_branches": False, "custom_branch_policies": True},
        )
        token = api.add_token("staging-bench", {"environments": "write"}, label="staging")
        as_a_checkout(w.project.dir, w.pulumi_engine)
        config = committed_stack_on_harness("staging", api, w.ssh_host, w.registry, w.image, w.health_url)
        stack = w.project.stack("staging", config, {**secret_values("staging", api, w.registry), "GITHUB_TOKEN": token})
        stack.up()

        def cli(*command: str) -> Callable[[], subprocess.CompletedProcess[str]]:
            argv = ["pulumi", *command, "--non-interactive", "--stack", "staging"]
            env = {**os.environ, **w.project.env}  # as Stack.start_up runs the CLI
            return lambda: subprocess.run(argv, cwd=w.project.dir, env=env, check=True, capture_output=True, text=True)

        noops = [TimedUp.run(stack) for _ in range(rounds)]
        previews = [timed(cli(*PREVIEW)) for _ in range(rounds)]
        policy_previews = [timed(cli(*PREVIEW, "--policy-pack", POLICY_PACK)) for _ in range(rounds)]
        timelines = {
            "no-op up": with_engine_log(cli(*UP, *ENGINE_LOG)),
            "preview with the policy pack": with_engine_log(cli(*PREVIEW, "--policy-pack", POLICY_PACK, *ENGINE_LOG)),
        }
        rollouts: list[TimedUp] = []
        for n in range(rounds):
            version = (w.image.v2, w.image.v1)[n % 2]
            stack.set("services.llm-server.tag", version.tag)
            w.engine.run("rmi", version.ref, check=False)  # each rollout pulls, as by hand
            rollouts.append(TimedUp.run(stack))
        w.project.tear_down()

        by_hand = ByHand(w.ssh_host, w.registry, w.workdir)
        versions = [w.image.v1, w.image.v2]
        _, hand = proxied_by_hand(by_hand, w.engine, versions, w.image.proxy_ref, rounds, 0)
        floors = {
            "on the project's toolchain": EmptyProgram(w.pulumi_engine, w.workdir / "empty"),
            "as `pulumi new python` makes it": EmptyProgram(
                w.pulumi_engine, w.workdir / "empty-new", pulumi_new_venv(w.workdir)
            ),
        }
        empty_ups = {name: timed_runs(program, rounds, UP) for name, program in floors.items()}
        empty_previews = {name: timed_runs(program, rounds, PREVIEW) for name, program in floors.items()}
        new_python = floors["as `pulumi new python` makes it"]
        floor_timeline = with_engine_log(lambda: new_python.run(*UP, *ENGINE_LOG))

    print(f"the committed staging stack (GitHub, Fly and Docker over SSH), {rounds} rounds, {time.strftime('%F %T')}")
    for name in floors:
        print(
            f"  floor, empty program {name}: up {median(empty_ups[name]):.2f}s, preview {median(empty_previews[name]):.2f}s"
        )
    print(row("no-op up", [u.seconds for u in noops], {f"empty {n}": v for n, v in empty_ups.items()}))
    print(row("preview --diff", previews, {f"empty {n}": v for n, v in empty_previews.items()}))
    print(row("preview --diff --policy-pack", policy_previews, {f"empty {n}": v for n, v in empty_previews.items()}))
    print(row("tag rollout through pulumi up", [u.seconds for u in rollouts], {"by hand": [s for s, _ in hand]}))
    for what, timeline in timelines.items():
        print(f"one more {what}, with the engine's log (-v=9): when each part began\n{timeline}")
    print(f"the same for the empty program as `pulumi new python` makes it\n{floor_timeline}")
    for label, timed_ups in (("no-op up", noops), ("tag rollout", rollouts)):
        middle = sorted(timed_ups, key=lambda up: up.seconds)[len(timed_ups) // 2]
        print(f"where the median {label} spent its time:\n{middle.report()}")


if __name__ == "__main__":
    main()
