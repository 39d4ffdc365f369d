"""The health probe a rollout ends with: ``python3 -m service_infra.ops.probe --service S --url U``.

Standard library only, and nothing from the rest of service_infra, so any ``python3`` can run
it; ``service_infra.commands.probe`` builds its command line.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence

TRIES = 5
BASE_DELAY_SECONDS = 1.0
REQUEST_TIMEOUT_SECONDS = 5.0


def backoff_delays(tries: int, base_delay: float) -> list[float]:
    """Waits between tries: base, 2*base, 4*base, ... (one fewer than the tries)."""
    return [base_delay * 2**attempt for attempt in range(tries - 1)]


def get_once(url: str) -> str | None:
    """None when the URL answered 200; else what went wrong."""
    try:
        with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            return None if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return f"{type(reason).__name__}: {reason}"


def wait_healthy(
    service: str,
    url: str,
    tries: int,
    base_delay: float,
    get: Callable[[str], str | None] = get_once,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """None when healthy; else the failure message naming the service, URL and last error."""
    delays = backoff_delays(tries, base_delay)
    last_error = "no attempt made"
    for attempt in range(tries):
        last_error = get(url) or ""
        if not last_error:
            return None
        if attempt < len(delays):
            sleep(delays[attempt])
    return (
        f"health gate failed: service {service} did not answer 200 at {url} "
        f"after {tries} tries; last error: {last_error}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m service_infra.ops.probe")
    parser.add_argument("--service", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--tries", type=int, default=TRIES)
    parser.add_argument("--base-delay", type=float, default=BASE_DELAY_SECONDS)
    args = parser.parse_args(argv)
    failure = wait_healthy(args.service, args.url, args.tries, args.base_delay)
    if failure:
        print(failure, file=sys.stderr)
        return 1
    print(f"{args.service} healthy at {args.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
