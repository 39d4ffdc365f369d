"""service-infra: load and check the stack's settings, build its environment, export outputs."""

import gc
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pulumi

from service_infra import preflight, releases, settings
from service_infra.contract import RELEASES_OUTPUT

PROJECT_DIR = Path(__file__).parent
# The program makes many small objects that live for the whole run (Outputs, futures); with the
# default thresholds, cyclic garbage collection takes a large share of its evaluation, more with
# every service (benchmarks/scale.py measures it). Collect rarely, and never scan what imports made.
gc.freeze()
gc.set_threshold(100_000, 50, 1000)

config = settings.load_runtime_settings()  # raises, naming every bad key, before any resource
plain_secrets = settings.read_plain_secrets(set(config.secrets))
settings.check_secret_values(config, plain_secrets)  # e.g. a NUL no container's environment can hold
# The hosts' check over SSH and the registry's digests are waits on the network: they run while
# the components (and their providers' SDKs) are imported, and both end before any resource.
preflight_started = time.monotonic()
pulumi.log.info("preflight: checking the Docker hosts and asking the registry for image digests")
with ThreadPoolExecutor(max_workers=2) as network:
    # No published passphrase outside local; SSH hosts answer with their pinned key; else nothing is touched.
    hosts_checked = network.submit(preflight.check_before_changes, config, pulumi.get_stack(), PROJECT_DIR)
    # Each release's image digest, from the registry.
    digests_found = network.submit(releases.image_digests, config, plain_secrets)
    from service_infra.components.environment import ServiceEnvironment, ServiceEnvironmentArgs
hosts_checked.result()
image_digests = digests_found.result()
pulumi.log.info(f"preflight: passed ({time.monotonic() - preflight_started:.1f}s)")

# What the stack's last update recorded of its releases, carried into this one's outputs.
own_stack = pulumi.StackReference(
    f"{pulumi.get_organization() or 'organization'}/{pulumi.get_project()}/{pulumi.get_stack()}"
)
environment = ServiceEnvironment(
    config.environment.value,
    ServiceEnvironmentArgs(
        config,
        settings.read_secrets(set(config.secrets)),
        project_dir=PROJECT_DIR,
        image_digests=image_digests,
        secret_versions=releases.secret_versions(config, plain_secrets),
        previous_releases=own_stack.get_output(RELEASES_OUTPUT),
    ),
)

pulumi.export("environment", config.environment.value)
pulumi.export("service_urls", environment.service_urls)
pulumi.export("containers", environment.containers)
pulumi.export("fly_hostnames", environment.fly_hostnames)
pulumi.export("github_environments", environment.github_environments)
pulumi.export("image_tags", environment.image_tags)
pulumi.export("image_digests", environment.image_digests)
pulumi.export(RELEASES_OUTPUT, environment.releases)
