"""An update killed by the tests ends whole: its plugins' process groups go with its own."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.support.pulumi_project import kill_update

# Like the CLI: a child in a process group of its own (as plugins are), its pid printed.
PARENT = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], process_group=0)
print(child.pid, flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    """Running, not gone and not a zombie waiting for init to reap it."""
    done = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True, check=False)
    return done.returncode == 0 and not done.stdout.strip().startswith("Z")


def test_the_plugins_in_groups_of_their_own_die_with_the_cli() -> None:
    update = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert update.stdout is not None
    plugin = int(update.stdout.readline())
    assert alive(plugin)
    kill_update(update)
    update.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while alive(plugin) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(plugin)
