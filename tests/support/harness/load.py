"""Load: clients sending GET requests to a URL without pause, counting what failed.

Used by the rollout tests (a switch must fail no request) and by benchmarks/rollout.py. Each
worker thread sends one request after another on a fresh connection (what a browser or a
health checker does across a deploy); a failure is any connection error, timeout or non-200.

Each client pauses PAUSE seconds after each answer (default 50 ms; the clients drift apart, so
together they ask about every PAUSE / WORKERS): any window in which requests fail that lasts
PAUSE or longer meets every client, and a much shorter one is still met. Without the pause, the
clients, the app, the proxy and Docker's port forwarding kept one of a 2-core machine's cores busy
for the length of each rollout, and the suite's parallel workers waited for it.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    versions: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    # (seconds since start, version) of each version's first and last answer
    first_seen: dict[str, float] = field(default_factory=dict)
    last_seen: dict[str, float] = field(default_factory=dict)
    # the longest time between two successful answers (a naive replace shows its downtime here)
    longest_gap: float = 0.0
    last_ok: float = 0.0

    @property
    def total(self) -> int:
        return self.ok + self.failed

    @property
    def rate(self) -> float:
        return self.total / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        errors = ", ".join(f"{n}x {e}" for e, n in self.errors.most_common(5)) or "none"
        return (
            f"{self.total} requests in {self.seconds:.1f}s ({self.rate:.0f}/s): {self.ok} ok, {self.failed} failed "
            f"(errors: {errors}); versions {dict(self.versions)}; longest gap {self.longest_gap:.2f}s"
        )


class Load:
    """`with Load(url) as load: ...` keeps `workers` clients busy until the block ends."""

    def __init__(self, url: str, workers: int = 4, timeout: float = 30.0, pause: float = 0.05) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self.workers = workers
        self.timeout = timeout
        self.pause = pause
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def __enter__(self) -> Load:
        self._started = time.monotonic()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(self.workers)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        self.result.seconds = time.monotonic() - self._started
        return self.result

    def _work(self) -> None:
        while not self._stop.is_set():
            version, error = self._one()
            now = time.monotonic() - self._started
            with self._lock:
                if error is None:
                    self.result.longest_gap = max(self.result.longest_gap, now - self.result.last_ok)
                    self.result.last_ok = now
                    self.result.ok += 1
                    self.result.versions[version] += 1
                    self.result.first_seen.setdefault(version, now)
                    self.result.last_seen[version] = now
                else:
                    self.result.failed += 1
                    self.result.errors[error] += 1
            self._stop.wait(self.pause)

    def _one(self) -> tuple[str, str | None]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request("GET", self.path)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                return "", f"HTTP {response.status}"
            try:
                version = str(json.loads(body).get("version", ""))
            except ValueError:
                version = ""
            return version, None
        except (OSError, http.client.HTTPException) as error:
            return "", type(error).__name__
        finally:
            connection.close()
