"""service_infra.cli.interrupts: a process started with SIGINT ignored passes the default action on."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

# What the child of a process sees of SIGINT: "ignored" is what makes Pulumi wait 5 s per plugin.
CHILD = "import signal; print('ignored' if signal.getsignal(signal.SIGINT) is signal.SIG_IGN else 'default')"


def started_with_sigint_ignored(code: str) -> list[str]:
    """Run CODE in a Python started as `cmd &` starts it (SIGINT ignored); its printed lines."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    return done.stdout.split()


def test_the_processes_it_starts_afterwards_can_be_interrupted() -> None:
    lines = started_with_sigint_ignored(f"""
        import subprocess, sys
        from service_infra.cli.interrupts import let_pulumi_stop_its_plugins
        child = [sys.executable, "-c", {CHILD!r}]
        print(subprocess.run(child, capture_output=True, text=True).stdout.strip())
        print(let_pulumi_stop_its_plugins())
        print(subprocess.run(child, capture_output=True, text=True).stdout.strip())
        print(let_pulumi_stop_its_plugins())
    """)
    assert lines == ["ignored", "True", "default", "False"]


def test_the_operator_commands_do_it_before_they_run_pulumi() -> None:
    lines = started_with_sigint_ignored("""
        import signal
        from service_infra.cli import main
        try:
            main.main(["config-reference"])
        finally:
            print("ignored" if signal.getsignal(signal.SIGINT) is signal.SIG_IGN else "default")
    """)
    assert lines[-1] == "default"
