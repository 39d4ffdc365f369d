"""service-infra-guards: the rules every stack of service-infra is checked against.

The policies read resource properties as the engine passes them to a policy pack: the Pulumi
wire names (camelCase: ``logOpts``, ``healthcheck.tests``, ``deploymentBranchPolicy``), with
values that are not known yet during a preview left out of the check rather than guessed at
(``values``). Where a stack is prod (named prod by the engine, or configured as prod) or a pull
request's preview (named pr-<n>, or configured as preview) every policy is mandatory, elsewhere
advisory (``target``).

One module per rule family (``images``, ``containers``, ``volumes``, ``github``, ``secrets``, ``fly``,
``isolation``, ``previews``);
``pack`` lists the policies. Names shared with the program come from ``service_infra.contract``.
Tests import this package without running the pack (``policy/__main__.py`` serves it).
"""

from .pack import PACK_NAME, policies
from .target import ENVIRONMENT_KEY, LiveTarget, Target, install_stack_configuration
from .values import install_secret_markers

__all__ = [
    "ENVIRONMENT_KEY",
    "PACK_NAME",
    "LiveTarget",
    "Target",
    "install_secret_markers",
    "install_stack_configuration",
    "policies",
]
