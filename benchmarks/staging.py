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
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
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

        def cli(*command: str) -> Callable[[], object]:
            argv = ["pulumi", *command, "--non-interactive", "--stack", "staging"]
            env = {**os.environ, **w.project.env}  # as Stack.start_up runs the CLI
            return lambda: subprocess.run(argv, cwd=w.project.dir, env=env, check=True, capture_output=True)

        noops = [TimedUp.run(stack) for _ in range(rounds)]
        previews = [timed(cli(*PREVIEW)) for _ in range(rounds)]
        policy_previews = [timed(cli(*PREVIEW, "--policy-pack", POLICY_PACK)) for _ in range(rounds)]
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

    print(f"the committed staging stack (GitHub, Fly and Docker over SSH), {rounds} rounds, {time.strftime('%F %T')}")
    for name in floors:
        print(
            f"  floor, empty program {name}: up {median(empty_ups[name]):.2f}s, preview {median(empty_previews[name]):.2f}s"
        )
    print(row("no-op up", [u.seconds for u in noops], {f"empty {n}": v for n, v in empty_ups.items()}))
    print(row("preview --diff", previews, {f"empty {n}": v for n, v in empty_previews.items()}))
    print(row("preview --diff --policy-pack", policy_previews, {f"empty {n}": v for n, v in empty_previews.items()}))
    print(row("tag rollout through pulumi up", [u.seconds for u in rollouts], {"by hand": [s for s, _ in hand]}))
    for label, timed_ups in (("no-op up", noops), ("tag rollout", rollouts)):
        middle = sorted(timed_ups, key=lambda up: up.seconds)[len(timed_ups) // 2]
        print(f"where the median {label} spent its time:\n{middle.report()}")


if __name__ == "__main__":
    main()
