"""`python -m service_infra <command>`: the operator commands (the list: service_infra.cli.main)."""

import sys

from service_infra.cli.main import main

sys.exit(main())
