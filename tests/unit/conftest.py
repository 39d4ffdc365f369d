"""Unit-test fixtures. The mock harness they use is tests.support.mocks, shared with the policy tests and
the benchmarks."""

from __future__ import annotations

import pytest

from tests.support.mocks import Recorder, load_stack_config, run_stack


@pytest.fixture(scope="module")
def stacks() -> dict[str, Recorder]:
    return {stack: run_stack(load_stack_config(stack), stack) for stack in ("local", "staging", "prod")}
