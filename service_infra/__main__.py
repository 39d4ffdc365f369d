"""`python -m service_infra check|rollback|config-reference ...`: see service_infra.cli.main."""

import sys

from service_infra.cli.main import main

sys.exit(main())
