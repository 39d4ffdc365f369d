"""`python -m service_infra check|rollback ...`: see service_infra.cli.main."""

import sys

from service_infra.cli.main import main

sys.exit(main())
