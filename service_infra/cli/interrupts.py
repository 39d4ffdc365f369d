"""Let the Pulumi CLIs this process starts stop their plugins at once.

Pulumi stops each plugin it is done with by sending SIGINT to the plugin's process group and
waiting up to 5 s for it to exit, before it kills it (`sdk/go/common/resource/plugin/plugin.go`,
v3.259). A process started with SIGINT ignored (anything a non-interactive shell starts with
`&`, or a runner starts in the background) hands that to every CLI and plugin below it, and
each `pulumi up` or `preview` then waits those 5 s for its language host, on top of its own
work.
"""

from __future__ import annotations

import signal


def let_pulumi_stop_its_plugins() -> bool:
    """Undo an inherited "ignore SIGINT" for the processes this one starts (they get the default
    action); Ctrl-C then interrupts this process as usual. True if it was ignored."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        return False
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return True
