"""What tests and benchmarks share, so no test module imports another test module or a conftest.

- ``mocks``: the program under Pulumi mocks (``run_stack``, ``load_stack_config``, ``Recorder``).
- ``pulumi_project``: the program through the real Pulumi engine (Automation API, file backend).
- ``harness``: real local infrastructure: Docker engine, SSH host, registry, example image, load.
- ``stacks``: the stack configs the integration tests and the rollout benchmark deploy.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
