"""service-infra: load and check the stack's settings, build its environment, export outputs."""

from pathlib import Path

import pulumi

from service_infra import preflight, settings
from service_infra.components.environment import ServiceEnvironment, ServiceEnvironmentArgs

PROJECT_DIR = Path(__file__).parent

config = settings.load_runtime_settings()  # raises, naming every bad key, before any resource
# No published passphrase outside local; SSH hosts answer with their pinned key; else nothing is touched.
preflight.check_before_changes(config, pulumi.get_stack(), PROJECT_DIR)
environment = ServiceEnvironment(
    config.environment.value,
    ServiceEnvironmentArgs(config, settings.read_secrets(set(config.secrets)), project_dir=PROJECT_DIR),
)

pulumi.export("environment", config.environment.value)
pulumi.export("service_urls", environment.service_urls)
pulumi.export("containers", environment.containers)
pulumi.export("fly_hostnames", environment.fly_hostnames)
pulumi.export("github_environments", environment.github_environments)
pulumi.export("image_tags", environment.image_tags)
