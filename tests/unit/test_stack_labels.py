"""A stack's own labels: on every container, network and volume it makes; never the program's keys."""

from __future__ import annotations

import pytest

from service_infra.settings import SettingsError, load_settings
from tests.support.mocks import Recorder, load_stack_config, run_stack

LABELS = {"acme.owner": "platform", "service-infra.test-run": "ci-42"}
KINDS = ("container", "network", "volume")


def labels_by_kind(recorder: Recorder) -> dict[str, list[dict[str, str]]]:
    found: dict[str, list[dict[str, str]]] = {kind: [] for kind in KINDS}
    for kind in KINDS:
        for resource in recorder.of_type(f"docker:index/{kind}:{kind.capitalize()}"):
            found[kind].append({entry["label"]: entry["value"] for entry in resource.inputs.get("labels") or []})
    return found


def test_stack_labels_reach_every_container_network_and_volume() -> None:
    config = load_stack_config("prod")
    config["service-infra:labels"] = LABELS
    found = labels_by_kind(run_stack(config, "prod", Recorder()))
    assert all(found[kind] for kind in KINDS), found
    for kind in KINDS:
        for labels in found[kind]:
            assert LABELS.items() <= labels.items(), (kind, labels)
    # The program's own labels stay beside them.
    assert all(labels["service-infra.environment"] == "prod" for labels in found["container"] + found["network"])


def test_without_stack_labels_nothing_changes(stacks: dict[str, Recorder]) -> None:
    """Stacks deployed before `labels` keep their volumes (unlabelled) and their container names."""
    found = labels_by_kind(stacks["prod"])
    assert found["volume"] and all(labels == {} for labels in found["volume"])
    assert all("acme.owner" not in labels for labels in found["container"])


def test_stack_labels_make_a_new_version_beside_the_old(stacks: dict[str, Recorder]) -> None:
    config = load_stack_config("prod")
    config["service-infra:labels"] = LABELS
    labelled = run_stack(config, "prod", Recorder())
    names = {r.inputs["name"] for r in labelled.of_type("docker:index/container:Container")}
    before = {r.inputs["name"] for r in stacks["prod"].of_type("docker:index/container:Container")}
    assert "llm-server-prod-proxy" in names & before
    assert len(names - before) == 1  # only the app container is a new version


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("service-infra.environment", "service-infra.environment is the program's own label; pick another key"),
        ("bad key!", "label key 'bad key!' may hold letters, digits, '.', '-', '_' and '/' only"),
    ],
)
def test_program_label_keys_and_bad_keys_are_refused(key: str, problem: str) -> None:
    config = load_stack_config("prod")
    config["service-infra:labels"] = {key: "x"}
    with pytest.raises(SettingsError) as raised:
        load_settings(config, secret_keys=set())
    assert raised.value.problems == [f"service-infra:labels: {problem}"]
