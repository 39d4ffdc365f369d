"""`python3 -m components.probe` of state written before the move: service_infra.ops.probe."""

import sys

from service_infra.ops.probe import main

sys.exit(main())
