"""The health gate's command line: probe a service's health URL with backoff."""

from __future__ import annotations

from service_infra.ops.probe import BASE_DELAY_SECONDS, TRIES


def probe_command(service: str, url: str, tries: int = TRIES, base_delay: float = BASE_DELAY_SECONDS) -> list[str]:
    return [
        "python3", "-m", "service_infra.ops.probe",
        "--service", service, "--url", url, "--tries", str(tries), "--base-delay", str(base_delay),
    ]  # fmt: skip
