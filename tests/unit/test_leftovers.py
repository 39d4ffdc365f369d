"""Which leftovers a test run removes: only what runs of the suite that are over made."""

from __future__ import annotations

from tests.support.leftovers import OTHER_HOST_GRACE_SECONDS, Labelled, SuiteRun, leftovers, run_is_over

ME = SuiteRun("ci-7", 4242, 1_700_000_000)
NOW = ME.started + 600


def over(run: SuiteRun) -> bool:
    return run_is_over(run, this_run=ME, alive=lambda pid: pid in {ME.pid, 5000}, now=NOW)


def test_a_run_id_survives_its_label_and_host_names_with_colons() -> None:
    run = SuiteRun("host:with:colons", 17, 1_700_000_123)
    assert SuiteRun.parse(str(run)) == run
    for bad in ("", "ci-7", "ci-7:x:1", "ci-7:1:", ":1:2", "ci-7:1:2a"):
        assert SuiteRun.parse(bad) is None, bad


def test_on_this_host_a_run_is_over_when_its_process_is_gone() -> None:
    assert over(SuiteRun(ME.host, 4100, ME.started - 60))
    assert not over(SuiteRun(ME.host, 5000, ME.started - 60))  # still running
    assert not over(ME)


def test_a_run_on_another_host_is_over_only_after_the_grace_period() -> None:
    assert not over(SuiteRun("laptop", 4100, NOW - OTHER_HOST_GRACE_SECONDS + 60))
    assert over(SuiteRun("laptop", 4100, NOW - OTHER_HOST_GRACE_SECONDS - 60))


def test_only_objects_of_runs_that_are_over_are_removed_containers_first() -> None:
    dead = str(SuiteRun(ME.host, 4100, ME.started - 60))
    objects = [
        Labelled("volume", "llm-server-prod-cache", dead),
        Labelled("network", "llm-server-prod", dead),
        Labelled("container", "llm-server-prod-proxy", dead),
        Labelled("container", "llm-server-prod-sha-1", str(ME)),  # this run's
        Labelled("container", "llm-server-staging-proxy", str(SuiteRun(ME.host, 5000, 1))),  # a live run's
        Labelled("container", "llm-server-local-proxy", "not a run id"),  # someone else's label value
    ]
    assert [(o.kind, o.name) for o in leftovers(objects, over)] == [
        ("container", "llm-server-prod-proxy"),
        ("network", "llm-server-prod"),
        ("volume", "llm-server-prod-cache"),
    ]
